"""Command-line keys and errors, shared by the Hydra apps and the study commands.

The apps (``runners.run``, ``runners.shard``, ``data.sweep``, ``surrogates.fit``;
``runners.study`` and ``runners.bench`` parse their own ``key=value``) each have
a schema: a structured-config dataclass. Hydra refuses a misspelt key given as
``key=value`` with a message that suggests ``+key=value``, and adds a
``+key`` or ``++key`` to a struct config without any check. So every key of the
command line is checked against the schema before Hydra composes anything
(:func:`check_override_keys`), and a composed config again
(:func:`check_config_keys`): a key the schema does not know is an error naming
the key, the nearest allowed one (difflib) and every allowed one. A field typed
``Any`` or ``dict`` (an optimizer's hyperparameters, a model's parameters) is
open: its keys belong to what it configures, which checks them itself (the
``open_key`` callback).

:func:`cli_errors` prints such an error, and any other error of the project's
own (:class:`~benchmarks.protocol.CurveBenchError`), as one line
``error: <message>`` on stderr and exits 2, without a traceback;
``HYDRA_FULL_ERROR=1`` (Hydra's own switch) or ``CURVEBENCH_TRACEBACK=1`` keeps it.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from .protocol import CurveBenchError

#: environment switches that keep the traceback of a command-line error
TRACEBACK_SWITCHES = ("HYDRA_FULL_ERROR", "CURVEBENCH_TRACEBACK")
#: exit status of a command line the program refuses (a bad key or value)
EXIT_USAGE = 2
#: a schema field whose keys the schema does not list (typed Any or dict)
OPEN = "open"


class UnknownKeyError(CurveBenchError, ValueError):
    """A key that the app's schema does not know (the message names it and the allowed keys)."""


# ---------------------------------------------------------------- messages
def nearest(key: str, allowed: Sequence[str]) -> str | None:
    """The allowed key nearest to ``key`` (difflib), if one is near enough."""
    close = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1)
    return close[0] if close else None


def hint(key: str, allowed: Sequence[str]) -> str:
    """`` Did you mean 'x'?`` for the nearest allowed key, or nothing."""
    close = nearest(key, allowed)
    return f" Did you mean {close!r}?" if close else ""


def unknown_key_message(key: str, allowed: Sequence[str], what: str, source: str = "") -> str:
    """``<source>: unknown key 'k' in <what>. Did you mean 'x'? Allowed: a, b, c`` (one line)."""
    where = f"{source}: " if source else ""
    return (
        f"{where}unknown key {str(key)!r} in {what}.{hint(str(key), allowed)} "
        f"Allowed: {', '.join(map(str, allowed)) or '(none)'}"
    )


# ---------------------------------------------------------------- schemas
def schema_fields(schema: type) -> dict[str, Any]:
    """The fields of a dataclass schema, each with its type (string annotations resolved)."""
    try:
        hints = typing.get_type_hints(schema)
    except Exception:  # noqa: BLE001 - an annotation that cannot be resolved: treat the field as a value
        hints = {}
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(schema)}


def field_schema(tp: Any) -> Any:
    """What a field holds: a dataclass (its keys are checked), :data:`OPEN` (a mapping of any keys) or None (a value)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # X | None
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            tp, origin = args[0], typing.get_origin(args[0])
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return tp
    if tp is Any or tp is dict or origin is dict or origin is Mapping or tp is Mapping:
        return OPEN
    return None


def check_key(
    key: str, schema: type, *, what: str, source: str = "", error: type[Exception] = UnknownKeyError
) -> tuple[list[str], list[str]]:
    """Walk the dotted ``key`` through ``schema``: every part must be a field of its level.

    Returns ``(path, rest)``: ``rest`` is empty when the whole key is in the
    schema; otherwise ``path`` ends at an open field (typed Any or dict) and
    ``rest`` is the part below it, for its owner to check. Raises ``error``
    naming the unknown part, where it is, and the allowed keys there.
    """
    parts = str(key).split(".")
    node: Any = schema
    for i, part in enumerate(parts):
        fields = schema_fields(node)
        at = what if i == 0 else ".".join(parts[:i])
        if part not in fields:
            raise error(unknown_key_message(part, list(fields), at, source))
        if i == len(parts) - 1:
            return parts, []
        sub = field_schema(fields[part])
        if sub == OPEN:
            return parts[: i + 1], parts[i + 1 :]
        if sub is None:
            where = f"{source}: " if source else ""
            raise error(
                f"{where}{'.'.join(parts[: i + 1])} is a value, not a mapping: it has no key "
                f"{'.'.join(parts[i + 1 :])!r} ({key!r} does not exist)"
            )
        node = sub
    return parts, []


def check_config_keys(
    node: Mapping[str, Any],
    schema: type,
    *,
    what: str,
    source: str = "",
    error: type[Exception] = UnknownKeyError,
    skip: Sequence[str] = ("hydra",),
    open_key: Callable[[list[str], Mapping[str, Any]], None] | None = None,
    _path: tuple[str, ...] = (),
) -> None:
    """Every key of a composed config (a mapping, DictConfig too) in ``schema``, at every depth.

    Keys in ``skip`` (at the top) are not the schema's (``hydra``). ``open_key(path, mapping)`` is called for
    the mapping under each open field, whose keys the schema does not list.
    """
    if not _path and type(node).__name__ == "DictConfig":
        from omegaconf import OmegaConf

        node = OmegaConf.to_container(node, resolve=False)  # a missing value (???) stays a string here
    fields = schema_fields(schema)
    for k in node:
        if not _path and k in skip:
            continue
        if k not in fields:
            raise error(unknown_key_message(str(k), list(fields), ".".join(_path) or what, source))
        sub, value = field_schema(fields[k]), node[k]
        if isinstance(value, Mapping):
            if sub == OPEN:
                if open_key is not None:
                    open_key([*_path, str(k)], value)
            elif sub is not None:
                check_config_keys(
                    value,
                    sub,
                    what=what,
                    source=source,
                    error=error,
                    skip=(),
                    open_key=open_key,
                    _path=(*_path, str(k)),
                )


# ---------------------------------------------------------------- Hydra command lines
def hydra_overrides(argv: Sequence[str] | None = None) -> list[str]:
    """The ``key=value`` overrides of a Hydra app's command line (``sys.argv[1:]`` by default), flags left out."""
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(list(sys.argv[1:] if argv is None else argv))
    return [str(o) for o in (args.overrides or [])]


def parse_override(text: str, source: str = "command line", error: type[Exception] = UnknownKeyError) -> Any:
    """One Hydra override parsed (``key=value``, ``+key=value``, ``++key=value``, ``~key``), or ``error``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_override(text)
    except Exception as e:  # noqa: BLE001 - Hydra raises several types for a malformed override
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise error(f"{source}: {text!r} is not a valid Hydra override ({msg})") from None


def check_override_keys(
    overrides: Sequence[str],
    schema: type,
    *,
    what: str,
    source: str = "command line",
    error: type[Exception] = UnknownKeyError,
    groups: Sequence[str] = (),
    open_key: Callable[[list[str], list[str], str], None] | None = None,
) -> None:
    """Check the key of every Hydra override against ``schema``, whether set, added (``+``/``++``) or deleted (``~``).

    Overrides of Hydra's own config (``hydra.*``, ``hydra/launcher=...``), of
    a config group of the app (``groups``: ``optimizer=hyperband``) and with a
    package (``@``) are left to Hydra and to the check of the composed config.
    A key reaching into an open field calls ``open_key(path, rest, text)``; a
    mapping value (``budget={kind: time}``) has its keys checked too.
    """
    for text in overrides:
        ov = parse_override(text, source, error)
        key = str(ov.key_or_group)
        where = f"{source}, override {text!r}"
        if key.split("/")[0].split(".")[0] == "hydra" or "/" in key or ov.package is not None:
            continue
        if key in groups:
            continue  # a group choice: Hydra names the choices if there is no such config
        path, rest = check_key(key, schema, what=what, source=where, error=error)
        if rest:
            if open_key is not None:
                open_key(path, rest, text)
            continue
        if ov.is_delete() or ov.is_sweep_override() or ov.value_type is None:
            continue
        value = ov.value()
        node: Any = schema
        for p in path:
            node = field_schema(schema_fields(node)[p])
        if isinstance(value, dict):
            if node == OPEN:
                if open_key is not None:
                    for k in value:
                        open_key(path, [str(k)], text)
            elif node is not None:
                check_config_keys(value, node, what=".".join(path), source=where, error=error, skip=())


# ---------------------------------------------------------------- errors
def traceback_wanted() -> bool:
    """Whether ``HYDRA_FULL_ERROR=1`` or ``CURVEBENCH_TRACEBACK=1`` asks for the traceback."""
    return any(os.environ.get(v) == "1" for v in TRACEBACK_SWITCHES)


def print_error(e: BaseException | str) -> None:
    """``error: <message>`` on stderr."""
    print(f"error: {e}", file=sys.stderr, flush=True)


@contextmanager
def cli_errors(*errors: type[BaseException]) -> Iterator[None]:
    """Turn ``errors`` (default: the project's own, CurveBenchError) into ``error: <message>`` and exit 2.

    With ``HYDRA_FULL_ERROR=1`` or ``CURVEBENCH_TRACEBACK=1`` the error propagates, traceback and all.
    """
    caught = tuple(errors) or (CurveBenchError,)
    try:
        yield
    except caught as e:
        if traceback_wanted():
            raise
        print_error(e)
        sys.exit(EXIT_USAGE)


@contextmanager
def hydra_job_errors(*errors: type[BaseException]) -> Iterator[None]:
    """:func:`cli_errors` inside a Hydra job: one run from the command line prints the message alone; in a
    multirun the error propagates, so the launcher reports each job's error itself."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.get().mode != RunMode.RUN:
        yield
        return
    with cli_errors(*errors):
        yield
