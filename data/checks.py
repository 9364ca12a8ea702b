"""Checks of untrusted settings and names, and the documented upper limits of a sweep.

Every value a user or a shared file hands the data pipeline (a sweep's
key=value settings, a CLI flag, a table's recorded sweep settings) is checked
here before it is used; a bad one raises :class:`SettingsError` naming the
setting, the value and what is allowed. The limits are documented in
``docs/data.md`` ("Untrusted inputs").
"""

from __future__ import annotations

import math
import re
from typing import Any

from benchmarks.protocol import CurveBenchError


class SettingsError(CurveBenchError, ValueError):
    """A setting or argument outside what is allowed; the message names the value and the allowed range."""


#: inclusive (low, high) of each integer setting of a sweep (None means the setting may be null)
INT_LIMITS: dict[str, tuple[int, int]] = {
    "n_configs": (1, 100_000),
    "epochs": (1, 10_000),
    "sample_seed": (0, 2**32 - 1),
    "split_seed": (0, 2**32 - 2),  # the split also uses split_seed + 1 (scikit-learn takes < 2**32)
    "max_train_rows": (2, 100_000_000),
    "max_group": (1, 4_096),
    "shard_runs": (1, 100_000),
    "worker": (0, 9_999),
    "n_workers": (1, 10_000),
    "threads": (1, 1_024),
    "calib_configs": (2, 1_000),
    "calib_epochs": (1, 1_000),
    "max_shards": (0, 1_000_000_000),
}
#: seeds of the runs: how many, and their range (shards store them as int32; a table allows 0..2**31-1)
MAX_SEEDS = 1_000
SEED_RANGE = (0, 2**31 - 1)
#: configurations x seeds of one sweep
MAX_RUNS = 1_000_000
#: seconds one shard may take (the plan's packing target): more than 0, at most a week
MAX_SHARD_SECONDS = 7 * 24 * 3600.0
#: a sweep or table name: a letter or digit, then letters, digits, '.', '_', '-'; no '..'
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
NAME_RULE = (
    "1-128 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit, without '..' "
    "(no path separators, no absolute paths)"
)


def is_int(value: Any) -> bool:
    """A Python or NumPy integer, not a bool."""
    import numpy as np

    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(
    key: str,
    value: Any,
    low: int,
    high: int,
    *,
    nullable: bool = False,
    error: type[Exception] = SettingsError,
) -> int | None:
    """``value`` as an int in [low, high] (or None when ``nullable``), else ``error`` naming it and the range."""
    if value is None and nullable:
        return None
    if not is_int(value) or not low <= int(value) <= high:
        null = " (or null)" if nullable else ""
        raise error(f"{key}={value!r} must be an integer in {low}..{high}{null}")
    return int(value)


def check_limit(
    key: str, value: Any, *, nullable: bool = False, error: type[Exception] = SettingsError
) -> int | None:
    low, high = INT_LIMITS[key]
    return check_int(key, value, low, high, nullable=nullable, error=error)


def check_name(key: str, value: Any, *, error: type[Exception] = SettingsError) -> str:
    """A name used as a folder name: refuses path separators, '..', absolute paths and odd characters."""
    if not isinstance(value, str) or not NAME_RE.fullmatch(value) or ".." in value:
        raise error(f"{key}={value!r} must be a safe folder name: {NAME_RULE}")
    return value


def check_float(
    key: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    error: type[Exception] = SettingsError,
) -> float:
    """A finite number in [low, high] ((low, high] when ``low_open``)."""
    ok = (is_int(value) or isinstance(value, float)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > low if low_open else v >= low) and v <= high
    if not ok:
        lo = "(" if low_open else "["
        raise error(f"{key}={value!r} must be a finite number in {lo}{low:g}, {high:g}]")
    return float(value)


def check_str(
    key: str, value: Any, *, nullable: bool = False, error: type[Exception] = SettingsError
) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value or "\x00" in value:
        raise error(f"{key}={value!r} must be a non-empty string" + (" (or null)" if nullable else ""))
    return value
