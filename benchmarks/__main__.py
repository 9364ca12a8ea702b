"""Command line: ``python -m benchmarks list | show name=NAME | priors name=NAME | verify target=NAME-OR-PATH
[expect=SHA256] | import``.

The one command-line style (:func:`benchmarks.cli.parse_command`): the action first, then ``key=value``;
``python -m benchmarks --help`` lists the actions and their keys.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from . import catalog
from .cli import key_field, parse_command, usage_status
from .importers.published import convert_all
from .priors import priors
from .protocol import CurveBenchError, UnknownBenchmarkError
from .space import describe_hp

#: the actions and what each does
ACTIONS = {
    "list": "every benchmark with its fidelity range, configurations, seeds and metrics",
    "show": "one benchmark's space, metrics, provenance and optimum",
    "priors": "one benchmark's priors (good, medium, bad, misleading): mode, spread and measured quality",
    "verify": "validate a catalog benchmark or a table/surrogate folder and print its checksum",
    "import": "convert every published table into the cache now (otherwise done on first use)",
}


@dataclass
class ListArgs:
    """``python -m benchmarks list``."""

    kind: str | None = key_field(None, "only the benchmarks of this kind", choices=catalog.KINDS)
    json: bool = key_field(False, "print JSON")


@dataclass
class ShowArgs:
    """``python -m benchmarks show``."""

    name: str = key_field(help="a catalog name (python -m benchmarks list)", positional=True)
    json: bool = key_field(False, "print JSON")


@dataclass
class PriorsArgs:
    """``python -m benchmarks priors``."""

    name: str = key_field(help="a catalog name (python -m benchmarks list)")
    json: bool = key_field(False, "print JSON")


@dataclass
class VerifyArgs:
    """``python -m benchmarks verify``."""

    target: str = key_field(help="a catalog name or the path of a table or surrogate folder", positional=True)
    expect: str | None = key_field(
        None, "the checksum it must have (e.g. published beside a download); exit 1 if not"
    )


@dataclass
class ImportArgs:
    """``python -m benchmarks import`` (no keys)."""


#: each action's keys
SCHEMAS = {
    "list": ListArgs,
    "show": ShowArgs,
    "priors": PriorsArgs,
    "verify": VerifyArgs,
    "import": ImportArgs,
}


def _list(kind: str | None, as_json: bool) -> int:
    from tqdm.auto import tqdm

    rows = []
    for name in tqdm(
        catalog.names(kind), desc="loading catalog", leave=False, disable=as_json or not sys.stderr.isatty()
    ):
        e = catalog.entry(name)
        ok, why = catalog.is_available(name)
        row = {"name": name, "kind": e.kind}
        if ok:
            try:
                b = catalog.load(name)
                n = b.n_configurations()
                row.update(
                    fidelity=b.fidelity.describe(),
                    configs=n if n is not None else "any",
                    seeds=",".join(map(str, b.seeds)) if b.seeds is not None else "any",
                    metrics=",".join(b.metrics),
                )
            except CurveBenchError as ex:
                row["status"] = f"error: {ex}"
        else:
            row["status"] = why
        rows.append(row)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = ["name", "kind", "fidelity", "configs", "seeds", "metrics"]
    width = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols[:-1]}
    print("  ".join(c.ljust(width.get(c, 0)) for c in cols))
    for r in rows:
        if "status" in r:
            print(
                "  ".join(
                    [r["name"].ljust(width["name"]), r["kind"].ljust(width["kind"]), f"({r['status']})"]
                )
            )
        else:
            print("  ".join(str(r.get(c, "")).ljust(width.get(c, 0)) for c in cols))
    return 0


def _show(name: str, as_json: bool) -> int:
    b = catalog.load(name)
    d = b.describe()
    d["optimum"] = {m: b.optimum(m) for m in b.metrics}
    d["space"] = {n: describe_hp(hp) for n, hp in b.space.items()}
    d["provenance"] = dict(b.provenance)
    if as_json:
        print(json.dumps(d, indent=2, default=str))
        return 0
    print(f"{b.name}  ({d['type']})")
    if d.get("description"):
        print(f"  {d['description']}")
    print(f"\nfidelity   {d['fidelity']}")
    print(
        f"configs    {d['n_configs'] if d['n_configs'] is not None else 'any in the space'}"
        + (" (every configuration of the space)" if d.get("exhaustive") else "")
    )
    print(f"seeds      {d['seeds']}  (seed=None means {b.default_seed})")
    print(f"objective  {b.objective} ({b.objective_metric.direction}); test: {b.test_objective}")
    print("\nsearch space")
    for n, s in d["space"].items():
        print(f"  {n:<22} {s}")
    print("\nmetrics")
    for m in b.metrics.values():
        print(
            f"  {m.name:<26} {m.direction:<9} [{m.lower:g}, {m.upper:g}] {m.unit:<3} "
            f"optimum {d['optimum'][m.name]:.6g}  {m.description}"
        )
    print("\nprovenance")
    for k, v in d["provenance"].items():
        print(f"  {k:<16} {v}")
    return 0


def _priors(name: str, as_json: bool) -> int:
    b = catalog.load(name)
    ps = priors(b)
    if as_json:
        print(json.dumps({k: p.describe() for k, p in ps.items()}, indent=2, default=str))
        return 0
    print(f"{b.name}: priors over {b.objective} ({b.objective_metric.direction}) at the maximum fidelity")
    print(f"  {'strength':<11} {'percentile':>10} {'regret':>8} {'spread':>6}  mode")
    for p in ps.values():
        mode = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.mode.items())
        print(f"  {p.strength:<11} {p.percentile:>10.3f} {p.regret:>8.3g} {p.spread:>6.2f}  {mode}")
    return 0


def _verify(target: str, expect: str | None) -> int:
    """Load a catalog benchmark or a table/surrogate folder with every check, print its checksum."""
    from pathlib import Path

    if (
        not Path(target).is_dir()
        and target not in catalog.names()
        and ("/" in target or target.startswith("."))
    ):
        raise UnknownBenchmarkError(f"target={target}: no such folder (nor a catalog benchmark's name)")
    b = catalog.load_folder(target) if Path(target).is_dir() else catalog.load(target, cache=False)
    b.validate()
    print(f"{b.name}: {type(b).__name__}, every file checksummed and every rule of its writer holds")
    print(f"checksum  {b.checksum}")
    if expect is not None:
        if expect.strip().lower() != b.checksum:
            print(f"MISMATCH: expected {expect.strip().lower()}", file=sys.stderr)
            return 1
        print("matches the expected checksum")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks ACTION [key=value ...]``: a bad action, key or value (or a benchmark that fails its
    checks) prints ``error: <message>`` and returns 2."""
    try:
        action, args = parse_command(
            argv,
            SCHEMAS,
            module="benchmarks",
            description="The CurveBench benchmark catalog.",
            actions=ACTIONS,
        )
        if action == "list":
            return _list(args.kind, args.json)
        if action == "show":
            return _show(args.name, args.json)
        if action == "priors":
            return _priors(args.name, args.json)
        if action == "verify":
            return _verify(args.target, args.expect)

        for path in convert_all():
            print(path.name)
        return 0
    except CurveBenchError as e:
        return usage_status(e)


if __name__ == "__main__":
    sys.exit(main())
