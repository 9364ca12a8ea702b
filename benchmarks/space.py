"""Search spaces: ConfigSpace spaces to and from a manifest, vectorized checks, numeric encoding."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import ConfigSpace as CS
import numpy as np
import pandas as pd

from .protocol import ConfigError


def _r(value: Any) -> str:
    """repr of a value with numpy scalars shown as plain Python values."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def space_to_dict(space: CS.ConfigurationSpace) -> dict[str, Any]:
    return space.to_serialized_dict()


def space_from_dict(d: Mapping[str, Any]) -> CS.ConfigurationSpace:
    """The space a manifest describes; ``d`` is left as it is (ConfigSpace pops keys from what it is given)."""
    return CS.ConfigurationSpace.from_serialized_dict(copy.deepcopy(dict(d)))


def hp_names(space: CS.ConfigurationSpace) -> tuple[str, ...]:
    return tuple(space.keys())


def choices(hp: Any) -> tuple | None:
    """The values a categorical, ordinal or constant hyperparameter takes, in order; None for a range."""
    if isinstance(hp, CS.CategoricalHyperparameter):
        return tuple(hp.choices)
    if isinstance(hp, CS.OrdinalHyperparameter):
        return tuple(hp.sequence)
    if isinstance(hp, CS.Constant):
        return (hp.value,)
    return None


def column_dtype(hp: Any) -> str:
    """The pandas dtype a hyperparameter's column has in ``configs.parquet``."""
    held = choices(hp)
    if held is not None:
        if all(isinstance(c, (bool, np.bool_)) for c in held):
            return "bool"
        if all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in held):
            return "int64"
        if all(isinstance(c, (int, float, np.integer, np.floating)) for c in held):
            return "float64"
        return "string"
    if isinstance(
        hp, (CS.UniformIntegerHyperparameter, CS.NormalIntegerHyperparameter, CS.BetaIntegerHyperparameter)
    ):
        return "int64"
    return "float64"


def describe_hp(hp: Any) -> str:
    held = choices(hp)
    if held is not None:
        kind = "ordinal" if isinstance(hp, CS.OrdinalHyperparameter) else "categorical"
        return f"{kind} {{{', '.join(map(str, held))}}}"
    log = ", log" if getattr(hp, "log", False) else ""
    kind = "integer" if column_dtype(hp) == "int64" else "float"
    return f"{kind} [{hp.lower:g}, {hp.upper:g}{log}]"


def allowed_values(hp: Any) -> str:
    held = choices(hp)
    if held is not None:
        return "one of " + ", ".join(_r(c) for c in held)
    return f"{'an integer' if column_dtype(hp) == 'int64' else 'a number'} in [{hp.lower:g}, {hp.upper:g}]"


def check_value(space: CS.ConfigurationSpace, name: str, value: Any) -> None:
    """Raise ConfigError unless ``value`` is a legal value of hyperparameter ``name``."""
    if name not in space:
        raise ConfigError(f"unknown hyperparameter {name!r}; allowed: {', '.join(space.keys())}")
    hp = space[name]
    held = choices(hp)
    if held is not None:
        if value not in held:
            raise ConfigError(f"{name}={_r(value)} is outside the space; allowed: {allowed_values(hp)}")
        return
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name}={_r(value)} is not a number; allowed: {allowed_values(hp)}")
    if not math.isfinite(value):
        raise ConfigError(f"{name}={_r(value)} is not a finite number; allowed: {allowed_values(hp)}")
    if column_dtype(hp) == "int64" and float(value) != int(value):
        raise ConfigError(f"{name}={_r(value)} is not an integer; allowed: {allowed_values(hp)}")
    if not (hp.lower <= value <= hp.upper) or value != value:
        raise ConfigError(f"{name}={_r(value)} is outside the space; allowed: {allowed_values(hp)}")


def check_config(space: CS.ConfigurationSpace, config: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the first unknown, missing or out-of-space hyperparameter."""
    names = hp_names(space)
    unknown = [k for k in config if k not in space]
    if unknown:
        raise ConfigError(f"unknown hyperparameter {unknown[0]!r}; allowed: {', '.join(names)}")
    active = (
        space.get_active_hyperparameters(_fill_for_activity(space, config))
        if space.conditions
        else set(names)
    )
    for name in names:
        if name in config and config[name] is not None:
            check_value(space, name, config[name])
        elif name in active:
            raise ConfigError(f"missing hyperparameter {name!r}; allowed: {allowed_values(space[name])}")


def _fill_for_activity(space: CS.ConfigurationSpace, config: Mapping[str, Any]) -> CS.Configuration:
    return CS.Configuration(space, values={k: v for k, v in config.items() if v is not None})


def check_frame(space: CS.ConfigurationSpace, frame: pd.DataFrame) -> None:
    """Vectorized check that every row of ``frame`` lies in ``space`` (used by the table writer)."""
    names = hp_names(space)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ConfigError(f"configs lack hyperparameter column(s) {missing}; the space has {list(names)}")
    for name in names:
        hp = space[name]
        col = frame[name]
        present = col.notna()
        held = choices(hp)
        if held is not None:
            bad = present & ~col.isin(list(held))
        else:
            # as check_value: numbers only (no bools, no strings a coercion would read), integers for an integer
            # hyperparameter; a numeric column needs no look at each value
            if pd.api.types.is_bool_dtype(col):
                not_number = present
            elif not pd.api.types.is_numeric_dtype(col):  # object or string columns: each value looked at
                not_number = present & col.map(
                    lambda v: (
                        isinstance(v, (bool, np.bool_))
                        or not isinstance(v, (int, float, np.integer, np.floating))
                    )
                ).astype(bool)
            else:  # a numeric column: numbers by its dtype
                not_number = pd.Series(False, index=col.index)
            if not_number.any():
                i = int(np.flatnonzero(not_number.to_numpy())[0])
                raise ConfigError(
                    f"config row {i}: {name}={_r(col.iloc[i])} is not a number; allowed: {allowed_values(hp)}"
                )
            vals = pd.to_numeric(col, errors="coerce")
            bad = present & ~((vals >= hp.lower) & (vals <= hp.upper))
            if column_dtype(hp) == "int64":
                bad |= present & (vals != np.floor(vals))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            what = (
                "is not an integer"
                if held is None and vals.iloc[i] == vals.iloc[i] and (hp.lower <= vals.iloc[i] <= hp.upper)
                else "is outside the space"
            )
            raise ConfigError(
                f"config row {i}: {name}={_r(col.iloc[i])} {what}; allowed: {allowed_values(hp)}"
            )
        if not space.conditions and not present.all():
            i = int(np.flatnonzero(~present.to_numpy())[0])
            raise ConfigError(f"config row {i}: hyperparameter {name!r} is missing")


def is_finite_grid(space: CS.ConfigurationSpace) -> bool:
    return all(choices(hp) is not None for hp in space.values())


def grid_size(space: CS.ConfigurationSpace) -> int | None:
    if not is_finite_grid(space):
        return None
    n = 1
    for hp in space.values():
        n *= len(choices(hp))
    return n


def encode_frame(space: CS.ConfigurationSpace, frame: pd.DataFrame) -> np.ndarray:
    """Encode configurations as floats in [0, 1] per hyperparameter (log scales respected).

    Categoricals become their choice index scaled to [0, 1]; ordinals their
    rank. Used for nearest-neighbour projection and as a generic model input.
    """
    out = np.empty((len(frame), len(space)), dtype=np.float64)
    for j, (name, hp) in enumerate(space.items()):
        col = frame[name]
        held = choices(hp)
        if held is not None:
            idx = pd.Categorical(col, categories=list(held)).codes.astype(np.float64)
            out[:, j] = idx / max(len(held) - 1, 1)
        else:
            v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
            lo, hi = float(hp.lower), float(hp.upper)
            if getattr(hp, "log", False):
                v, lo, hi = np.log(v), np.log(lo), np.log(hi)
            out[:, j] = (v - lo) / (hi - lo) if hi > lo else 0.0
    return out
