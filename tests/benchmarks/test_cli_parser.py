"""The one command-line style (benchmarks.cli.parse_command): ``[ACTION] key=value ...`` in Hydra's override
grammar, checked against a schema dataclass; old-style ``--flags`` and bare arguments refused with their new form."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from benchmarks.cli import (
    REQUIRED,
    UnknownKeyError,
    UsageError,
    command_help,
    key_field,
    parse_command,
    read_command,
    render_value,
    usage_status,
)
from benchmarks.protocol import CurveBenchError


@dataclass
class Show:
    name: str = key_field(help="the catalog name", positional=True)
    json: bool = key_field(False, "print JSON")
    expect: str | None = key_field(None, "the checksum it must have")


@dataclass
class Fit:
    tables: list[str] = key_field([], "tables to fit", positional=True)
    model: str | None = key_field(None, "the model", choices=("xgboost", "rf"))
    seeds: int = key_field(10, "run seeds")
    budget: float = key_field(20.0, "evaluations per run")
    force: bool = key_field(False, "refit even when up to date")
    progress: bool = key_field(True, "show progress bars")


@dataclass
class One:
    a: int = key_field(0, "a number")


@dataclass
class Cuts:
    cuts: list[float] = key_field([0.1, 0.2], "fractions")


SCHEMAS = {"show": Show, "fit": Fit}
ACTIONS = {"show": "one benchmark", "fit": "fit the surrogates"}


def parse(*argv: str, default: str | None = None):
    return parse_command(list(argv), SCHEMAS, module="tool", actions=ACTIONS, default_action=default)


# ---------------------------------------------------------------- values, as in the Hydra apps
def test_types_follow_the_schema():
    assert parse("show", "name=fcnet-naval", "json=true") == ("show", Show("fcnet-naval", True, None))
    _, fit = parse("fit", "seeds=3", "budget=5", "force=false", "model=null")
    assert (fit.seeds, fit.budget, fit.force, fit.model) == (3, 5.0, False, None)
    assert isinstance(fit.budget, float)
    _, fit = parse("fit", "+seeds=4", "++budget=2.5")  # Hydra's add / force-add set a key like key=value
    assert (fit.seeds, fit.budget) == (4, 2.5)


def test_a_string_key_takes_the_text_as_written():
    """Hydra would read 1234 or 1e5 as numbers; a string key keeps the digits (a checksum, a name)."""
    assert parse("show", "name=1234")[1].name == "1234"
    assert parse("show", "name=x", "expect=1e5")[1].expect == "1e5"
    assert parse("show", "name=x", "expect=" + "0" * 64)[1].expect == "0" * 64


def test_a_list_of_numbers_takes_one_value_too():
    """As a list of strings does: one value is a list of one; a value of the wrong kind is named."""
    schemas = {"run": Cuts}
    assert parse_command(["cuts=0.5"], schemas, module="tool", actions={"run": "r"}, default_action="run")[
        1
    ].cuts == [0.5]
    with pytest.raises(
        UsageError, match=r"cuts='x' must be a list of numbers \(\[a,b,\.\.\.\]\) or a number"
    ):
        parse_command(["cuts=x"], schemas, module="tool", actions={"run": "r"}, default_action="run")


def test_lists_one_value_and_sweeps():
    assert parse("fit", "tables=[a,b]")[1].tables == ["a", "b"]
    assert parse("fit", "tables=a")[1].tables == ["a"]
    assert parse("fit", "tables=a,b")[1].tables == ["a", "b"]
    assert parse("fit", "tables=range(3)")[1].tables == ["0", "1", "2"]
    assert parse("fit", "tables=[]")[1].tables == []
    with pytest.raises(UsageError, match=r"'tables=range\(1000000000\)' gives more than 100,000 values"):
        parse("fit", "tables=range(1000000000)")  # never expanded in full
    with pytest.raises(UsageError, match=r"'seeds=1,2' is a sweep of several values .* takes one value"):
        parse("fit", "seeds=1,2")


def test_quoting():
    assert parse("show", "name='a b'")[1].name == "a b"
    assert parse("show", 'name="x=y"')[1].name == "x=y"
    assert parse("fit", "tables=['a b',c]")[1].tables == ["a b", "c"]
    with pytest.raises(UsageError, match=r"quote a value that holds '=' or spaces"):
        parse("show", "name=x=y")


def test_a_bad_value_names_it():
    with pytest.raises(UsageError, match=r"'seeds=abc': seeds='abc' must be an integer"):
        parse("fit", "seeds=abc")
    with pytest.raises(
        UsageError, match=r"model=xgbost is not allowed. Did you mean 'xgboost'\? Allowed: xgboost, rf"
    ):
        parse("fit", "model=xgbost")
    with pytest.raises(UsageError, match=r"python -m tool show needs name=\.\.\. \(the catalog name\)"):
        parse("show", "json=true")


# ---------------------------------------------------------------- keys and actions
def test_an_unknown_key_names_the_nearest():
    with pytest.raises(UnknownKeyError) as e:
        parse("show", "name=x", "jsn=true")
    assert str(e.value) == (
        "command line, override 'jsn=true': unknown key 'jsn' in tool show's settings. Did you mean 'json'? "
        "Allowed: name, json, expect"
    )
    with pytest.raises(UnknownKeyError, match=r"unknown key 'seeds' in tool show's settings"):
        parse("show", "name=x", "seeds=3")  # a key of another action
    with pytest.raises(UnknownKeyError, match="unknown key 'hydra'"):
        parse("fit", "hydra.run.dir=x")
    with pytest.raises(UsageError, match=r"~KEY deletes a key .* leave seeds out for its default"):
        parse("fit", "~seeds")


def test_actions():
    with pytest.raises(UsageError, match=r"an action comes first: python -m tool \{show,fit\}"):
        parse()
    with pytest.raises(UsageError, match=r"unknown action 'shwo'. Did you mean 'show'\? Allowed: show, fit"):
        parse("shwo", "name=x")
    assert parse(default="fit") == ("fit", Fit())
    with pytest.raises(UsageError, match=r"unknown action 'fti'. Did you mean 'fit'"):
        parse("fti", default="fit")  # a misspelt action, not an old-style argument
    with pytest.raises(
        UsageError, match=r"'show' is an action: it comes first \(python -m tool show key=value"
    ):
        parse("fit", "show")
    assert parse_command(["a=1"], One, module="one") == (None, One(a=1))  # a command without actions


# ---------------------------------------------------------------- old-style arguments
@pytest.mark.parametrize(
    "argv, message",
    [
        (["show", "--json", "name=x"], "--json is not key=value; use json=true"),
        (["show", "fcnet-naval"], "'fcnet-naval' is not key=value; use name=fcnet-naval"),
        (["fit", "a", "b"], "'a b' is not key=value; use tables=[a,b]"),
        (["fit", "--model", "rf"], "--model is not key=value; use model=rf"),
        (["fit", "--seeds=3"], "--seeds=3 is not key=value; use seeds=3"),
        (["fit", "--no-progress"], "--no-progress is not key=value; use progress=false"),
        (["fit", "--show"], "--show is not key=value; show is an action, written first: python -m tool show"),
        (["fit", "--forse"], "--forse is not key=value, and 'forse' is not a key. Did you mean 'force'?"),
        (["show", "name=x", "--expect", "abc"], "--expect is not key=value; use expect=abc"),
    ],
)
def test_an_old_style_argument_shows_the_new_form(argv, message):
    with pytest.raises(UsageError) as e:
        parse(*argv)
    assert str(e.value).startswith(message), str(e.value)


def test_a_bare_argument_without_a_positional_key_lists_the_keys():
    with pytest.raises(UsageError, match=r"'x' is not key=value. Allowed: a"):
        parse_command(["x"], One, module="one")


# ---------------------------------------------------------------- --help
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_the_actions_and_keys_with_defaults(flag, capsys):
    with pytest.raises(SystemExit) as e:
        parse("fit", flag, "seeds=abc")  # --help wins over anything else on the line
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m tool ACTION [key=value ...]")
    for left, right in (
        ("show", "one benchmark"),
        ("fit", "fit the surrogates"),
        ("name=(required)", "the catalog name"),
        ("json=false", "print JSON"),
        ("expect=null", "the checksum it must have"),
        ("tables=[]", "tables to fit"),
        ("model=null", "the model (one of: xgboost, rf)"),
        ("seeds=10", "run seeds"),
        ("budget=20.0", "evaluations per run"),
        ("progress=true", "show progress bars"),
    ):
        assert re.search(rf"^  {re.escape(left)} +{re.escape(right)}$", out, re.M), (left, out)
    assert out.index("keys of show:") < out.index("name=(required)") < out.index("keys of fit:")


def test_help_of_a_command_without_actions_and_a_default_action():
    text = command_help("one", One, description="Does one thing.")
    assert text.splitlines()[:5] == [
        "usage: python -m one [key=value ...]",
        "",
        "Does one thing.",
        "",
        "keys:",
    ]
    assert "  a=0  a number" in text.splitlines()
    text = command_help("tool", SCHEMAS, actions=ACTIONS, default_action="fit")
    assert text.startswith("usage: python -m tool [ACTION] [key=value ...]")
    assert "  fit   fit the surrogates (the default)" in text.splitlines()


def test_read_command_returns_hydras_overrides_and_takes_another_error_type():
    class MyError(CurveBenchError):
        pass

    action, ovs = read_command(["fit", "seeds=3", "tables=[a]"], SCHEMAS, module="tool", actions=ACTIONS)
    assert action == "fit" and [o.input_line for o in ovs] == ["seeds=3", "tables=[a]"]
    assert [o.value() for o in ovs] == [3, ["a"]]
    with pytest.raises(MyError, match="unknown key 'sedes'"):
        read_command(["fit", "sedes=3"], SCHEMAS, module="tool", actions=ACTIONS, error=MyError)


def test_render_value_writes_the_command_line_form():
    assert [render_value(v) for v in (None, True, 3, 2.5, ["a", "b"], "a b", "x/y-z.1", "")] == [
        "null",
        "true",
        "3",
        "2.5",
        "[a,b]",
        "'a b'",
        "x/y-z.1",
        "''",
    ]
    assert REQUIRED == "???"


def test_usage_status_prints_the_message_or_keeps_the_traceback(capsys, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.delenv("CURVEBENCH_TRACEBACK", raising=False)
    assert usage_status(UsageError("bad x=1")) == 2
    assert capsys.readouterr().err == "error: bad x=1\n"
    monkeypatch.setenv("CURVEBENCH_TRACEBACK", "1")
    with pytest.raises(UsageError, match="bad x=1"):
        usage_status(UsageError("bad x=1"))
