"""``make surrogates``: fit the shipped surrogates and regenerate their quality cards.

    python -m surrogates.build                      every shipped table that exists here
    python -m surrogates.build fcnet-naval pub-fcnet-naval --model xgboost --force

Each table's surrogate uses the model its catalog entry names (``NAME-surrogate``):
the ensemble for the generated tables, xgboost for the published FCNet tables;
``--model`` fits another one instead (into its own folder, not the catalog's).

A surrogate whose folder already records the current table checksum, model
and code version is skipped unless ``--force``; every other one is refitted
and its folder replaced (that replacement is what this command is for). Tables
not generated yet are reported and skipped. The optimizer-ranking part of the
cards is a runner study: ``python -m runners.card_study`` (see there).
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.catalog import entry, is_available, names
from benchmarks.io import code_version

from .benchmark import shipped_path
from .fit import fit_benchmark
from .models import MODELS
from .store import read_surrogate_manifest

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
    from benchmarks.catalog import load
    from benchmarks.table import table_checksum

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m surrogates.build", description=__doc__.splitlines()[0])
    ap.add_argument(
        "tables",
        nargs="*",
        help="table benchmarks to fit (default: every table the catalog has a surrogate entry for)",
    )
    ap.add_argument(
        "--model", default=None, choices=MODELS, help="default: the model the catalog names for each table"
    )
    ap.add_argument("--force", action="store_true", help="refit even when up to date")
    ap.add_argument(
        "--beyond-range",
        action="store_true",
        help="only add the 'beyond the table's range' section to the shipped cards (no refit of the shipped "
        "surrogates; one extra fit each for the top hold-out check)",
    )
    args = ap.parse_args(argv)
    tables = args.tables or default_tables()
    if args.beyond_range:
        from benchmarks.catalog import load

        from .quality import add_beyond_range

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
