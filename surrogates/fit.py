"""Fit a surrogate on a table benchmark and save it, with its quality card: a Hydra app.

    python -m surrogates.fit benchmark=fcnet-naval model=xgboost
    python -m surrogates.fit benchmark=pub-fcnet-naval model=rf +model_params.n_estimators=50 out=some/folder

``benchmark`` is a catalog name or the path of a table folder.
By default the surrogate goes to ``data/surrogates/<benchmark>-<model>/`` (the
folder ``benchmarks.load("<benchmark>-surrogate")`` reads for the default
model); an existing folder is replaced only with ``overwrite=true``. The card
(``card.json``, ``card.md``) is written into the same folder unless
``card=false``; it cross-validates over ``card_folds`` (5) folds of the
configurations (``card_folds=null``: one split holding out ``card_test_size``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from benchmarks.catalog import load
from benchmarks.cli import UsageError, check_config_keys, check_override_keys, cli_errors, hydra_overrides
from benchmarks.io import code_version
from benchmarks.protocol import CurveBenchError
from benchmarks.table import table_checksum
from benchmarks.tabular import TabularBenchmark

from .benchmark import SurrogateBenchmark, shipped_path
from .models import MODELS, check_model
from .quality import predicted_optimum, quality_card, write_card
from .store import save_surrogate
from .surrogate import CurveSurrogate


@dataclass
class FitConfig:
    """Settings of ``python -m surrogates.fit`` (a misspelt key fails before anything runs, ``+key`` too)."""

    benchmark: str = "???"
    model: str = "xgboost"
    model_params: dict[str, Any] = field(default_factory=dict)
    max_components: int = 8
    noise: bool = True
    seed: int = 0
    out: str | None = None
    overwrite: bool = False
    card: bool = True
    card_folds: int | None = 5
    card_test_size: float = 0.2
    distill: int = 0
    distill_params: dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(name="fit_schema", node=FitConfig)


def fit_benchmark(
    benchmark: str,
    model: str = "xgboost",
    *,
    model_params: dict[str, Any] | None = None,
    max_components: int = 8,
    noise: bool = True,
    seed: int = 0,
    out: str | Path | None = None,
    overwrite: bool = False,
    card: bool = True,
    card_folds: int | None = 5,
    card_test_size: float = 0.2,
    distill: int = 0,
    distill_params: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any] | None]:
    """Fit the ``model`` surrogate of the table benchmark ``benchmark``, save it, and make its card.

    Returns the surrogate folder and the card (None when ``card`` is False).
    """
    check_model(model)
    # the code that fits, read once: the manifest and the card name the same version (commits may land meanwhile)
    code = code_version()
    if (Path(benchmark) / "manifest.json").is_file():  # a table folder rather than a catalog name
        bench = TabularBenchmark.from_path(benchmark)
        benchmark = bench.name
    else:
        bench = load(benchmark)
    table = getattr(bench, "table", None)
    if table is None:
        raise ValueError(
            f"benchmark {benchmark!r} is a {type(bench).__name__}; a surrogate is fitted on a table benchmark"
        )
    path = Path(out) if out else shipped_path(benchmark, model)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=true to replace it")
    params = dict(model_params or {})
    dparams = dict(distill_params or {}) or None
    sur = CurveSurrogate(
        model=model,
        model_params=params or None,
        max_components=max_components,
        noise=noise,
        random_state=seed,
        distill=distill,
        distill_params=dparams,
    ).fit(table)
    bench = SurrogateBenchmark(
        sur
    )  # its optima, estimated once: stored in the manifest and given on the card
    save_surrogate(
        sur,
        path,
        table_checksum=table_checksum(table.manifest),
        extra={"benchmark": benchmark, "code_version": code},
        optima=bench.optima_record(),
        overwrite=overwrite,
    )
    result = None
    if card:
        result = quality_card(
            table,
            model=model,
            model_params=params or None,
            n_folds=card_folds,
            test_size=card_test_size,
            seed=seed,
            benchmark=benchmark,
            distill=distill,
            distill_params=dparams,
            max_components=max_components,
            noise=noise,
            code=code,
        )
        result["shipped_fit_seconds"] = round(sur.fit_seconds_, 2)
        result["optimum"] = predicted_optimum(sur, table, bench)
        write_card(result, path, "card")
    return path, result


@hydra.main(version_base="1.3", config_path="conf", config_name="fit")
def main(cfg: FitConfig) -> None:
    with cli_errors(CurveBenchError):  # `error: <message>`, exit 2 (HYDRA_FULL_ERROR=1 keeps the traceback)
        _fit(cfg)


def _fit(cfg: FitConfig) -> None:
    check_config_keys(cfg, FitConfig, what="surrogates.fit's settings", source="fit config")  # `+key` too
    if OmegaConf.is_missing(cfg, "benchmark"):
        raise UsageError(
            "which table? pass benchmark=NAME (a shipped table, e.g. lcbench-car) or benchmark=FOLDER"
        )
    c = OmegaConf.to_object(cfg)
    if c.model not in MODELS:
        raise UsageError(f"model={c.model!r} is not one of {', '.join(MODELS)}")
    for key, lo in (("max_components", 1), ("seed", 0), ("distill", 0)):
        v = getattr(c, key)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise UsageError(f"{key}={v!r} must be an integer >= {lo}")
    if c.out and Path(c.out).exists() and not c.overwrite:
        raise UsageError(
            f"out={c.out}: the folder exists; pass overwrite=true to replace it, or another out="
        )
    t0 = time.perf_counter()
    path, card = fit_benchmark(
        c.benchmark,
        c.model,
        model_params=c.model_params,
        max_components=c.max_components,
        noise=c.noise,
        seed=c.seed,
        out=c.out,
        overwrite=c.overwrite,
        card=c.card,
        card_folds=c.card_folds,
        card_test_size=c.card_test_size,
        distill=c.distill,
        distill_params=c.distill_params,
    )
    print(f"saved {c.model} surrogate of {c.benchmark} to {path} ({time.perf_counter() - t0:.1f} s)")
    if card:
        t = card["target"]
        print(
            f"held-out Spearman at the final fidelity {t['spearman_final']:.3f} "
            f"(seed ceiling {t['ceiling_final']:.3f}): {'PASS' if t['passes'] else 'FAIL'}"
        )


def cli() -> None:
    """``python -m surrogates.fit``: every key of the command line must be a setting of :class:`FitConfig`
    (``+key`` and ``++key`` too; ``model_params`` and ``distill_params`` hold the model's own keys)."""
    with cli_errors(CurveBenchError):
        check_override_keys(hydra_overrides(), FitConfig, what="surrogates.fit's settings")
    main()


if __name__ == "__main__":
    cli()
