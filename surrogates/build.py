"""``make surrogates``: fit the shipped surrogates and regenerate their quality cards.

    python -m surrogates.build                      every shipped table that exists here
    python -m surrogates.build tables=[fcnet-naval,pub-fcnet-naval] model=xgboost force=true
    python -m surrogates.build beyond-range         only add the cards' "beyond the table's range" section
    python -m surrogates.build optima               store the estimated optima where a manifest lacks them

Each table's surrogate uses the model its catalog entry names (``NAME-surrogate``):
the ensemble for the generated tables, xgboost for the published FCNet tables;
``model=...`` fits another one instead (into its own folder, not the catalog's).

A surrogate whose folder already records the current table checksum, model
and code version is skipped unless ``force=true``; every other one is refitted
and its folder replaced (that replacement is what this command is for). Tables
not generated yet are reported and skipped. The optimizer-ranking part of the
cards is a runner study: ``python -m runners.card_study`` (see there).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from benchmarks.catalog import entry, is_available, load, names
from benchmarks.cli import hint, key_field, parse_command, usage_status
from benchmarks.io import code_version
from benchmarks.protocol import CurveBenchError
from benchmarks.table import table_checksum

from .benchmark import SurrogateBenchmark, optima_method, shipped_path
from .fit import fit_benchmark
from .models import MODELS
from .quality import add_beyond_range
from .store import read_surrogate_manifest, store_optima

#: fit settings of the shipped surrogates, per model (anything else: the model's defaults)
SHIPPED_SETTINGS: dict[str, dict] = {"ensemble": {"distill": 50_000}}


def default_tables() -> list[str]:
    """The tables whose surrogates the catalog lists (entries NAME-surrogate)."""
    return [entry(n).kwargs["table"] for n in names(kind="surrogate")]


def catalog_model(table: str) -> str:
    """The model of the catalog's surrogate of ``table`` (xgboost when the catalog lists none)."""
    name = f"{table}-surrogate"
    return entry(name).kwargs.get("model", "xgboost") if name in names(kind="surrogate") else "xgboost"


def up_to_date(table: str, model: str) -> bool:
    """True when the saved surrogate was fitted on the current table by the current code."""
    path = shipped_path(table, model)
    if not (path / "manifest.json").is_file() or not (path / "card.json").is_file():
        return False
    try:
        m = read_surrogate_manifest(path)
    except ValueError:
        return False
    checksum = table_checksum(load(table).table.manifest)
    code = code_version()
    return (
        m["table"].get("checksum") == checksum
        and m["provenance"].get("code_version") == code
        and "+dirty" not in code
    )


#: the actions of ``python -m surrogates.build``
ACTIONS = {
    "fit": "fit every surrogate that is not up to date and write its quality card",
    "beyond-range": "only add the 'beyond the table's range' section to the shipped cards (no refit of the "
    "shipped surrogates; one extra fit each for the top hold-out check)",
    "optima": "store every metric's estimated optimum in the manifests of shipped surrogates saved without them "
    "(surrogates.fit stores them when it fits; the fitted files are untouched)",
}


@dataclass
class FitArgs:
    """``python -m surrogates.build [fit]``."""

    tables: list[str] = key_field(
        [], "table benchmarks (default: every table the catalog has a surrogate entry for)", positional=True
    )
    model: str | None = key_field(None, "default: the model the catalog names for each table", choices=MODELS)
    force: bool = key_field(False, "refit even when up to date")


@dataclass
class BeyondRangeArgs:
    """``python -m surrogates.build beyond-range``."""

    tables: list[str] = key_field(
        [], "table benchmarks (default: every table the catalog has a surrogate entry for)", positional=True
    )
    model: str | None = key_field(None, "default: the model the catalog names for each table", choices=MODELS)


@dataclass
class OptimaArgs:
    """``python -m surrogates.build optima``."""

    tables: list[str] = key_field(
        [], "table benchmarks (default: every table the catalog has a surrogate entry for)", positional=True
    )
    model: str | None = key_field(None, "default: the model the catalog names for each table", choices=MODELS)


def store_missing_optima(tables: list[str], model: str | None) -> None:
    """The ``optima`` action: compute and store the optima of each shipped surrogate whose manifest lacks them."""
    for t in tables:
        path = shipped_path(t, model or catalog_model(t))
        if not (path / "manifest.json").is_file():
            print(f"skip {t}: no shipped surrogate at {path.name}")
            continue
        stored = read_surrogate_manifest(path).get("optima")
        if stored is not None and stored.get("method") == optima_method():
            print(f"{t}: optima already stored")
            continue
        record = SurrogateBenchmark.from_path(path).optima_record()
        store_optima(path, record)
        print(f"{t}: stored the optima of {len(record['values'])} metrics", flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m surrogates.build [fit|beyond-range] [key=value ...]``; a bad key or value prints
    ``error: <message>`` and returns 2."""
    try:
        action, args = parse_command(
            argv,
            {"fit": FitArgs, "beyond-range": BeyondRangeArgs, "optima": OptimaArgs},
            module="surrogates.build",
            description=__doc__.splitlines()[0],
            actions=ACTIONS,
            default_action="fit",
        )
    except CurveBenchError as e:
        return usage_status(e)
    known = sorted(n for n in names() if not n.endswith("-surrogate"))  # the tables of the catalog
    unknown = [t for t in args.tables or [] if t not in known]
    if unknown:
        print(
            f"error: tables: {unknown[0]!r} is not a table of the catalog.{hint(unknown[0], known)} "
            f"Allowed: {', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    tables = args.tables or default_tables()
    if action == "optima":
        store_missing_optima(tables, args.model)
        return 0
    if action == "beyond-range":
        for t in tables:
            path = shipped_path(t, args.model or catalog_model(t))
            if not (path / "card.json").is_file():
                print(f"skip {t}: no shipped surrogate with a card at {path.name}")
                continue
            card = add_beyond_range(path, load(t).table)
            o, top = card["optimum"], card["top_holdout"]
            shipped = next(r for r in top["by_extrapolation"] if r["shipped"])
            print(
                f"{t}: predicted optimum {o['predicted']:.4g} (table best {o['table_best']:.4g}); top hold-out: "
                f"{shipped['share_beyond_training_best']:.0%} predicted beyond the training best, Spearman within "
                f"the top {shipped['spearman_within_top']:.2f}",
                flush=True,
            )
        return 0
    failed = []
    for t in tables:
        ok, why = is_available(t)
        if not ok:
            print(f"skip {t}: {why}")
            continue
        model = args.model or catalog_model(t)
        if not args.force and up_to_date(t, model):
            print(f"up to date: {t} ({model})")
            continue
        path, card = fit_benchmark(t, model, overwrite=True, **SHIPPED_SETTINGS.get(model, {}))
        tg = card["target"]
        verdict = "PASS" if tg["passes"] else "FAIL"
        print(
            f"{t}: {model} surrogate in {path.parent.name}/{path.name}; held-out Spearman "
            f"{tg['spearman_final']:.3f} (ceiling {tg['ceiling_final']:.3f}) {verdict}; "
            f"fit {card['shipped_fit_seconds']} s"
        )
        if not tg["passes"]:
            failed.append(t)
    if failed:
        print(f"below the quality target: {', '.join(failed)} (see their card.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
