"""Command-line keys and errors: one style for every command a user runs.

Every command line is ``[ACTION] key=value ...`` in Hydra's override grammar.
The Hydra apps (``runners.run``, ``runners.shard``, ``data.sweep``,
``surrogates.fit``) parse it with Hydra; every other command (``benchmarks``,
``data.datasets``, ``data.build``, ``data.verify``, ``data.merge``,
``data.faithfulness``, ``surrogates.build``, ``runners.card_study``,
``runners.study``, ``runners.bench``, ``runners.report``) with :func:`parse_command` (or :func:`read_command`): an
optional action word first, then ``key=value`` overrides parsed by Hydra's own
override parser, checked against the command's schema dataclass and typed by
OmegaConf as in the Hydra apps; ``--help`` lists the actions and the keys with
their defaults and help (:func:`key_field` metadata), and an old-style
``--flag`` or bare argument is refused with its ``key=value`` form.

Each command has a schema: a structured-config dataclass. Hydra refuses a
misspelt key given as ``key=value`` with a message that suggests
``+key=value``, and adds a ``+key`` or ``++key`` to a struct config without
any check. So every key of the command line is checked against the schema before Hydra composes anything
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
import enum
import itertools
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


class UsageError(CurveBenchError, ValueError):
    """A command line the program refuses: an old-style argument, an unknown action, a bad or missing value."""


class UnknownKeyError(UsageError):
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
    """What a field holds: a dataclass (its keys are checked), :data:`OPEN` (a mapping of any keys) or None
    (a value)."""
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
        if "=" in text.split("=", 1)[-1]:
            msg = f"quote a value that holds '=' or spaces: key='...'; {msg}"
        raise error(f"{source}: {text!r} is not a valid Hydra override ({msg})") from None


def _converts(make: Callable[[Any], Any]) -> Callable[[Any], bool]:
    """Whether OmegaConf's node ``make(value)`` takes a value (``'3'`` for an integer, ``yes`` for a bool):
    the check refuses only what the composed config would refuse too. An interpolation is left to it."""

    from omegaconf.errors import ValidationError  # imported when a command line is checked

    def ok(v: Any) -> bool:
        if isinstance(v, str) and "${" in v:
            return True
        try:
            make(v)
        except ValidationError:
            return False
        return True

    return ok


def _plain_kind(tp: Any) -> tuple[str, Callable[[Any], bool]] | None:
    """What a field of one plain value (int, float, bool or an Enum, optionally ``| None``) or of a list of
    numbers accepts, as OmegaConf converts them: its words for the error and the test of a parsed value; None
    for any other field. A list field takes one value too (the key=value commands make it a list of one)."""
    from omegaconf import BooleanNode, EnumNode, FloatNode, IntegerNode  # as OmegaConf converts, when checked

    optional = typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)
    tp = _value_type(tp)

    def kind(what: str, ok: Callable[[Any], bool]) -> tuple[str, Callable[[Any], bool]]:
        return (what + (" or null" if optional else ""), lambda v: (optional and v is None) or ok(v))

    if tp is bool:
        return kind("true or false", _converts(BooleanNode))
    if tp is int:
        return kind("an integer", _converts(IntegerNode))
    if tp is float:
        return kind("a number", _converts(FloatNode))
    if _is_list(tp):
        args = typing.get_args(tp)
        item = _plain_kind(args[0]) if len(args) == 1 and args[0] in (int, float, bool) else None
        if item is None:
            return None
        what, ok = item
        plural = {"an integer": "integers", "a number": "numbers", "true or false": "true or false values"}[
            what
        ]
        return kind(
            f"a list of {plural} ([a,b,...]) or {what}",
            lambda v: all(ok(x) for x in v) if isinstance(v, list) else ok(v),
        )
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        names = [m.name for m in tp]
        return kind("one of " + ", ".join(names), _converts(lambda v: EnumNode(tp, v)))
    return None


def _check_plain_value(tp: Any, value: Any, key: str, where: str, error: type[Exception]) -> None:
    """A plain value of the wrong kind (``n_configs=abc``): ``error`` naming the key, the value and what it must
    be, before Hydra answers with a page. Interpolations (``${...}``) are left to the composed config."""
    kind = _plain_kind(tp)
    if kind is None:
        return
    what, ok = kind
    if not ok(value):
        raise error(f"{where}: {key}={value!r} must be {what}")


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
        for p in path[:-1]:
            node = field_schema(schema_fields(node)[p])
        _check_plain_value(schema_fields(node)[path[-1]], value, key, where, error)
        node = field_schema(schema_fields(node)[path[-1]])
        if isinstance(value, dict):
            if node == OPEN:
                if open_key is not None:
                    for k in value:
                        open_key(path, [str(k)], text)
            elif node is not None:
                check_config_keys(value, node, what=".".join(path), source=where, error=error, skip=())


# ---------------------------------------------------------------- one command-line style
#: the default of a key the command line must give (OmegaConf's MISSING)
REQUIRED = "???"
#: the arguments that print a command's help
HELP_FLAGS = ("-h", "--help")
#: the last line of every command's help
SYNTAX_NOTE = (
    "Values in Hydra's override grammar: lists [a,b], quotes 'a b' (a value holding = or spaces), null, true."
)
#: the most values a sweep given for a list key may expand to
MAX_SWEEP_VALUES = 100_000


def key_field(
    default: Any = REQUIRED,
    help: str = "",
    *,
    choices: Sequence[Any] | None = None,
    positional: bool = False,
) -> Any:
    """A field of a command's schema: its default (:data:`REQUIRED`: none), the help text ``--help`` prints,
    the values allowed (``choices``) and whether the command once took it as a bare argument (``positional``:
    an old-style bare argument is then answered with this key's ``key=value`` form). A list default is
    copied for every instance."""
    meta = {"help": help, "choices": None if choices is None else tuple(choices), "positional": positional}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _value_type(tp: Any) -> Any:
    """``X`` of ``X | None``; any other type unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_list(tp: Any) -> bool:
    """Whether a field typed ``tp`` holds a list (``list[str]``, ``list[int] | None``)."""
    tp = _value_type(tp)
    return tp is list or typing.get_origin(tp) in (list, Sequence)


def render_value(value: Any) -> str:
    """A value as it is written on the command line: ``null``, ``true``, ``[a,b]``, ``'a b'`` when quotes are needed."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(render_value(v) for v in value) + "]"
    text = str(value)
    if text and all(c.isalnum() or c in "-_./:+@" for c in text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _default(f: dataclasses.Field) -> Any:
    """A dataclass field's default (a fresh one from its factory), or :data:`REQUIRED` when it has none."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return REQUIRED


def schema_keys(schema: type, prefix: str = "") -> list[tuple[str, Any, Mapping[str, Any]]]:
    """Every key of ``schema`` as ``(dotted key, default, field metadata)``, nested dataclasses' keys spelt out."""
    hints = schema_fields(schema)
    out = []
    for f in dataclasses.fields(schema):
        sub = field_schema(hints[f.name])
        if isinstance(sub, type):
            out += schema_keys(sub, f"{prefix}{f.name}.")
        else:
            out.append((f"{prefix}{f.name}", _default(f), f.metadata))
    return out


def _default_text(default: Any, meta: Mapping[str, Any]) -> str:
    """A default as ``--help`` shows it: ``(required)`` for a :func:`key_field` without one, ``???`` (OmegaConf's
    "set elsewhere") for another field without one."""
    if default == REQUIRED:
        return "(required)" if "help" in meta else REQUIRED
    return render_value(default)


def _schema_of(schema: type | Mapping[str, type], action: str | None) -> type:
    """The schema of ``action``: the one schema, or the action's in a mapping action -> schema."""
    return schema[action] if isinstance(schema, Mapping) else schema


def command_help(
    module: str,
    schema: type | Mapping[str, type],
    *,
    description: str = "",
    actions: Mapping[str, str] | None = None,
    default_action: str | None = None,
) -> str:
    """What ``python -m MODULE --help`` prints: the usage, the actions, and every key with its default and help."""
    word = "" if not actions else "ACTION " if default_action is None else "[ACTION] "
    lines = [f"usage: python -m {module} {word}[key=value ...]"]
    if description:
        lines += ["", description.strip()]
    if actions:
        lines += ["", "actions:"]
        width = max(map(len, actions))
        for name, text in actions.items():
            lines.append(f"  {name:<{width}}  {text}" + (" (the default)" if name == default_action else ""))
    groups: dict[type, list[str]] = {}
    for name in actions or [None]:
        groups.setdefault(_schema_of(schema, name), []).append(name)
    for sch, names in groups.items():
        shared = len(groups) == 1
        keys = schema_keys(sch)
        head = "keys" if shared else f"keys of {', '.join(names)}"
        lines += ["", f"{head}:" if keys else f"{head}: none"]
        rows = [(f"{k}={_default_text(d, m)}", m.get("help", ""), m.get("choices")) for k, d, m in keys]
        width = max((len(r[0]) for r in rows), default=0)
        for left, text, choices in rows:
            allowed = f" (one of: {', '.join(map(render_value, choices))})" if choices else ""
            lines.append(f"  {left:<{width}}  {text}{allowed}".rstrip())
    lines += ["", SYNTAX_NOTE]
    return "\n".join(lines)


def _is_flag(arg: str) -> bool:
    """An old-style ``--flag`` or ``-f``."""
    return arg.startswith("-") and len(arg) > 1


def _is_word(arg: str) -> bool:
    """A bare argument: neither ``key=value``, ``~key`` nor a ``--flag``."""
    return not _is_flag(arg) and "=" not in arg and not arg.startswith("~")


def _positional(schema: type) -> str | None:
    """The key that an old-style bare argument of ``schema``'s command stood for (``positional`` metadata)."""
    return next((f.name for f in dataclasses.fields(schema) if f.metadata.get("positional")), None)


def old_style_message(
    args: Sequence[str], i: int, schema: type, module: str, actions: Sequence[str] = ()
) -> str:
    """Why ``args[i]`` (a ``--flag`` or a bare word) is refused, with its ``key=value`` form when there is one."""
    arg, fields = args[i], schema_fields(schema)
    allowed = f"Allowed: {', '.join(fields) or '(none)'}"
    if _is_flag(arg):
        name, eq, value = arg.lstrip("-").partition("=")
        key = name.replace("-", "_")
        if name in actions or key in actions:
            action = name if name in actions else key
            return (
                f"{arg} is not key=value; {action} is an action, written first: python -m {module} {action}"
            )
        if key.startswith("no_") and key[3:] in fields and _value_type(fields[key[3:]]) is bool:
            return f"{arg} is not key=value; use {key[3:]}=false"
        if key not in fields:
            return f"{arg} is not key=value, and {key!r} is not a key.{hint(key, list(fields))} {allowed}"
        if _value_type(fields[key]) is bool and not eq:
            return f"{arg} is not key=value; use {key}=true"
        if not eq:
            nxt = args[i + 1] if i + 1 < len(args) and _is_word(args[i + 1]) else None
            value = "VALUE" if nxt is None else render_value([nxt] if _is_list(fields[key]) else nxt)
        return f"{arg} is not key=value; use {key}={value}"
    if arg in actions:
        return f"{arg!r} is an action: it comes first (python -m {module} {arg} key=value ...)"
    words = []
    for a in args[i:]:
        if not _is_word(a):
            break
        words.append(a)
    key = _positional(schema)
    if key is None:
        return f"{arg!r} is not key=value. {allowed}"
    new = render_value(words) if _is_list(fields[key]) else render_value(words[0])
    said = " ".join(words) if _is_list(fields[key]) else arg
    return f"{said!r} is not key=value; use {key}={new}"


def read_command(
    argv: Sequence[str] | None,
    schema: type | Mapping[str, type],
    *,
    module: str,
    description: str = "",
    actions: Mapping[str, str] | None = None,
    default_action: str | None = None,
    what: str | None = None,
    error: type[Exception] | None = None,
) -> tuple[str | None, list[Any]]:
    """A command line in the one style: ``[ACTION] key=value ...`` -> (action, Hydra's parsed overrides).

    ``-h``/``--help`` prints :func:`command_help` and exits 0. The action is the first word when it is one
    of ``actions`` (otherwise ``default_action``; with none, an action is required). Every other argument
    is a ``key=value`` (``+key=value`` and ``++key=value`` alike) in Hydra's override grammar, parsed by
    Hydra's own parser, whose key must be one of the action's ``schema`` (a dataclass, or a mapping
    action -> dataclass). A ``--flag``, a bare word, ``~key``, a config group or package is an ``error``
    (default :class:`UsageError`; :class:`UnknownKeyError` for a key) that shows the ``key=value`` form.
    """
    args = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    if any(a in HELP_FLAGS for a in args):
        text = command_help(
            module, schema, description=description, actions=actions, default_action=default_action
        )
        try:
            print(text, flush=True)
        except BrokenPipeError:  # e.g. `--help | head`: the reader left; end quietly, as a Unix tool does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        raise SystemExit(0)
    usage, key_error = error or UsageError, error or UnknownKeyError
    action = None
    if actions:
        first = args[0] if args and _is_word(args[0]) else None
        if first in actions:
            action = args.pop(0)
        elif first is not None and (default_action is None or nearest(first, list(actions))):
            # a misspelt action (a bare word far from every action is an old-style argument of the default)
            raise usage(
                f"unknown action {first!r}.{hint(first, list(actions))} Allowed: {', '.join(actions)}"
            )
        elif default_action is None:
            raise usage(f"an action comes first: python -m {module} {{{','.join(actions)}}} [key=value ...]")
        else:
            action = default_action
    sch = _schema_of(schema, action)
    what = what or f"{module}{' ' + action if action else ''}'s settings"
    allowed = list(schema_fields(sch))
    texts, parsed = [], []
    for i, arg in enumerate(args):
        if _is_flag(arg) or _is_word(arg):
            raise usage(old_style_message(args, i, sch, module, list(actions or ())))
        ov = parse_override(arg, "command line", usage)
        key = str(ov.key_or_group)
        if ov.is_delete():
            raise usage(
                f"{arg!r}: ~KEY deletes a key of a Hydra config; here leave {key} out for its default"
            )
        if ov.package is not None or "/" in key or key.split(".")[0] == "hydra":
            top = key.split(".")[0].split("/")[0]
            raise key_error(unknown_key_message(top, allowed, what, f"command line, override {arg!r}"))
        texts.append(arg)
        parsed.append(ov)
    check_override_keys(texts, sch, what=what, error=key_error)
    return action, parsed


def _leaf_type(schema: type, key: str) -> Any:
    """The type of the field a dotted ``key`` (already checked) names in ``schema``."""
    node: Any = schema
    tp: Any = Any
    for part in key.split("."):
        tp = schema_fields(node)[part]
        node = field_schema(tp)
    return tp


def override_value(ov: Any, tp: Any, error: type[Exception] = UsageError) -> Any:
    """The value of a parsed override for a field typed ``tp``.

    A list field takes a list, one value (a list of it) or a ``a,b`` / ``range(...)`` sweep (its values);
    any other field refuses a sweep. A string field takes the text as written (``expect=1234``, not 1234).
    """
    text = str(ov.input_line)
    if ov.is_sweep_override():
        if not _is_list(tp) or not (ov.is_choice_sweep() or ov.is_range_sweep()) or ov.is_interval_sweep():
            raise error(
                f"{text!r} is a sweep of several values (Hydra's --multirun); this key takes one value"
            )
        values = list(itertools.islice(ov.sweep_iterator(), MAX_SWEEP_VALUES + 1))
        if len(values) > MAX_SWEEP_VALUES:
            raise error(f"{text!r} gives more than {MAX_SWEEP_VALUES:,} values")
        return values
    value = ov.value()
    if _is_list(tp) and not isinstance(value, list):
        return [value]
    if _value_type(tp) is str and isinstance(value, bool | int | float):
        return text.split("=", 1)[1].strip()
    return value


def parse_command(
    argv: Sequence[str] | None, schema: type | Mapping[str, type], **options: Any
) -> tuple[str | None, Any]:
    """A command line in the one style -> ``(action, an instance of the action's schema)``.

    :func:`read_command` (``options``: its keywords, ``module`` required), then every value typed by
    OmegaConf against the schema (as in the Hydra apps: ``json=true``, ``configs=3``, ``names=[a,b]``),
    every key without a default given, and every value of a field with ``choices`` one of them;
    otherwise ``error`` (default :class:`UsageError`) naming the value and what is allowed.
    """
    from omegaconf import OmegaConf

    action, overrides = read_command(argv, schema, **options)
    error, module = options.get("error"), options["module"]
    usage, sch = error or UsageError, _schema_of(schema, action)
    cfg = OmegaConf.structured(sch)
    for ov in overrides:
        key = str(ov.key_or_group)
        value = override_value(ov, _leaf_type(sch, key), usage)
        try:
            OmegaConf.update(cfg, key, value, merge=False)
        except Exception as e:  # noqa: BLE001 - OmegaConf's validation errors: keep the first line
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise usage(f"{ov.input_line!r}: {msg}") from None
    meta = {k: m for k, _, m in schema_keys(sch)}
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        said = "; ".join(f"{k}=... ({meta[k].get('help') or 'no default'})" for k in missing)
        where = f"python -m {module}{' ' + action if action else ''}"
        raise usage(f"{where} needs {said}")
    obj = OmegaConf.to_object(cfg)
    for key, m in meta.items():
        if not m.get("choices"):
            continue
        value: Any = obj
        for part in key.split("."):
            value = getattr(value, part)
        for v in value if isinstance(value, list) else [value]:
            if v is not None and v not in m["choices"]:
                allowed = [str(c) for c in m["choices"]]
                raise usage(
                    f"{key}={render_value(v)} is not allowed.{hint(str(v), allowed)} Allowed: {', '.join(allowed)}"
                )
    return action, obj


def usage_status(e: BaseException) -> int:
    """For a ``main`` that returns its exit status: ``error: <message>`` on stderr and 2, or ``e`` raised again
    when ``HYDRA_FULL_ERROR=1`` or ``CURVEBENCH_TRACEBACK=1`` asks for the traceback."""
    if traceback_wanted():
        raise e
    print_error(e)
    return EXIT_USAGE


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
