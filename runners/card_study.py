"""Do optimizers rank the same on a table and on its surrogate? The runner study behind the card's last part.

    python -m runners.card_study                    every shipped surrogate with a card
    python -m runners.card_study tables=[fcnet-naval] seeds=5 budget=20

It runs optimizers on both a table and its surrogate, so it is a runner study built on top of
both packages (imports run one way: ``surrogates`` never imports ``runners``).

Protocol: each optimizer (default: random search, Hyperband, ASHA,
BOHB, DEHB) runs with ``n_workers`` asynchronous workers on
the simulated clock, for ``n_seeds`` run seeds, with the same budget of
full-fidelity-equivalent evaluations, once on the table benchmark and once on
the surrogate benchmark (which samples from the whole space). Each run's
result is its final incumbent: the best objective value it observed. Per
benchmark, the optimizers are ordered by their mean final incumbent over the
seeds; the agreement is Kendall's tau between the two orderings (1: the same
ranking). Regrets are reported against each benchmark's own optimum. The
result is merged into the surrogate's ``card.json`` and ``card.md``.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from benchmarks.catalog import is_available, load
from benchmarks.cli import UsageError, hint, key_field, parse_command, usage_status
from benchmarks.io import code_version, utc_now
from benchmarks.protocol import Benchmark, CurveBenchError
from surrogates.benchmark import SurrogateBenchmark, shipped_path
from surrogates.build import catalog_model, default_tables
from surrogates.quality import card_markdown, write_card

from .registry import OPTIMIZERS
from .simulator import Budget, simulate

#: five methods that differ within the default budget. Regularized evolution is not among them: its
#: first population (100 random configurations) outlasts a budget of 20 full-fidelity evaluations, so
#: within it RE is random search with the same draws, a tie that says nothing about the surrogate.
DEFAULT_OPTIMIZERS = ("rs", "hyperband", "asha", "bohb", "dehb")


def _final_incumbents(
    bench: Benchmark, optimizer: str, seeds: Sequence[int], n_workers: int, budget: float
) -> list[float]:
    sign = bench.objective_metric.sign
    out = []
    for s in seeds:
        run = simulate(
            bench,
            OPTIMIZERS[optimizer],
            seed=int(s),
            n_workers=n_workers,
            budget=Budget("evaluations", budget),
        )
        obj = run.events["objective"].to_numpy(dtype=np.float64)
        obj = obj[np.isfinite(obj)]
        out.append(float(sign * np.min(sign * obj)) if obj.size else math.nan)
    return out


def _mean_regrets(inc: dict[str, list[float]], best: float, sign: float) -> dict[str, float]:
    return {o: float(sign * (np.nanmean(v) - best)) for o, v in inc.items()}


def bootstrap_tau(
    a: dict[str, list[float]],
    b: dict[str, list[float]],
    *,
    n_boot: int = 2000,
    level: float = 0.9,
    seed: int = 0,
) -> tuple[float, float]:
    """Interval of Kendall's tau between the orderings by mean of ``a`` and of ``b``, resampling seeds.

    Each optimizer's final incumbents are resampled with replacement, on each side
    independently (the seeds of the two sides are unrelated runs); the interval is
    the central ``level`` of the resampled taus. It says how far the seed noise of
    the runs alone moves tau.
    """
    rng = np.random.default_rng(seed)
    names = list(a)
    A = [np.asarray(a[o], dtype=np.float64) for o in names]
    B = [np.asarray(b[o], dtype=np.float64) for o in names]
    taus = []
    for _ in range(n_boot):
        ma = [np.nanmean(x[rng.integers(0, len(x), len(x))]) for x in A]
        mb = [np.nanmean(x[rng.integers(0, len(x), len(x))]) for x in B]
        t = kendalltau(ma, mb)[0]
        if np.isfinite(t):
            taus.append(t)
    if not taus:
        return math.nan, math.nan
    lo, hi = np.quantile(taus, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def ranking_agreement(
    table: Benchmark,
    surrogate: Benchmark,
    *,
    optimizers: Sequence[str] = DEFAULT_OPTIMIZERS,
    n_seeds: int = 10,
    n_workers: int = 4,
    budget: float = 20.0,
    ceiling: bool = True,
) -> dict[str, Any]:
    """Kendall's tau between the optimizer rankings on ``table`` and on ``surrogate`` (see the module docstring).

    Beside it: a 90% bootstrap interval over the runs' seeds, and (``ceiling``) the
    tau between two rankings on the table itself from disjoint run seeds
    (``n_seeds`` more runs per optimizer): how well the table agrees with itself
    at this number of seeds, the bar the surrogate's tau is to be read against.
    """
    unknown = [o for o in optimizers if o not in OPTIMIZERS]
    if unknown:
        raise ValueError(f"unknown optimizer(s) {unknown}; allowed: {', '.join(OPTIMIZERS)}")
    if len(optimizers) < 2:
        raise ValueError(f"a ranking needs at least 2 optimizers, got {list(optimizers)}")
    seeds = list(range(n_seeds))
    res: dict[str, dict[str, float]] = {"table": {}, "surrogate": {}}
    raw: dict[str, dict[str, list[float]]] = {"table": {}, "surrogate": {}}
    for side, bench in (("table", table), ("surrogate", surrogate)):
        for o in optimizers:
            raw[side][o] = _final_incumbents(bench, o, seeds, n_workers, budget)
        res[side] = _mean_regrets(
            raw[side], bench.optimum(), bench.objective_metric.sign
        )  # mean final regret, >= 0
    a = [res["table"][o] for o in optimizers]
    b = [res["surrogate"][o] for o in optimizers]
    tau = float(kendalltau(a, b)[0])  # NaN when one side ranks every optimizer equal
    extra: dict[str, Any] = {
        "kendall_tau_interval": list(bootstrap_tau(raw["table"], raw["surrogate"])),
        "interval": "90% bootstrap over run seeds (2,000 resamples)",
    }
    if ceiling:
        more = list(range(n_seeds, 2 * n_seeds))
        again = {o: _final_incumbents(table, o, more, n_workers, budget) for o in optimizers}
        regrets = _mean_regrets(again, table.optimum(), table.objective_metric.sign)
        extra["table_self_tau"] = float(kendalltau(a, [regrets[o] for o in optimizers])[0])
        extra["table_self_tau_interval"] = list(bootstrap_tau(raw["table"], again))
        extra["table_other_seeds"] = regrets
        raw["table_other_seeds"] = again
    return {
        "optimizers": list(optimizers),
        "n_seeds": n_seeds,
        "n_workers": n_workers,
        "budget": {"kind": "evaluations", "amount": budget},
        "kendall_tau": tau,
        "table": res["table"],
        "surrogate": res["surrogate"],
        "final_incumbents": raw,
        **extra,
        "note": "ranked by mean final regret over seeds; regret against each benchmark's own optimum",
        "created": utc_now(),
        "code_version": code_version(),
    }


@dataclass
class CardStudyArgs:
    """``python -m runners.card_study``'s keys."""

    tables: list[str] = key_field(
        [], "tables whose surrogate card to complete (default: all shipped)", positional=True
    )
    model: str | None = key_field(None, "default: the model the catalog names for each table")
    optimizers: list[str] = key_field(list(DEFAULT_OPTIMIZERS), "the optimizers to rank")
    seeds: int = key_field(10, "run seeds per optimizer and benchmark, >= 1")
    workers: int = key_field(4, "asynchronous workers per run, >= 1")
    budget: float = key_field(20.0, "full-fidelity-equivalent evaluations per run, > 0")


def check_args(args: CardStudyArgs) -> None:
    """Every optimizer a built-in one, at least 1 seed and 1 worker, a positive budget; else :class:`UsageError`."""
    for name in args.optimizers:
        if name not in OPTIMIZERS:
            raise UsageError(
                f"optimizers: unknown optimizer {name!r}.{hint(name, list(OPTIMIZERS))} "
                f"Allowed: {', '.join(OPTIMIZERS)}"
            )
    if args.seeds < 1:
        raise UsageError(f"seeds={args.seeds}: at least 1")
    if args.workers < 1:
        raise UsageError(f"workers={args.workers}: at least 1")
    if not (math.isfinite(args.budget) and args.budget > 0):
        raise UsageError(f"budget={args.budget}: a finite number > 0")


def main(argv: list[str] | None = None) -> int:
    """``python -m runners.card_study [key=value ...]``: a bad key or value prints ``error: <message>`` and
    returns 2."""
    try:
        _, args = parse_command(
            argv, CardStudyArgs, module="runners.card_study", description=__doc__.splitlines()[0]
        )
        check_args(args)
    except CurveBenchError as e:
        return usage_status(e)
    for t in args.tables or default_tables():
        path = shipped_path(t, args.model or catalog_model(t))
        if not is_available(t)[0] or not (path / "card.json").is_file():
            print(f"skip {t}: table or fitted surrogate with a card missing (make tables; make surrogates)")
            continue
        card = json.loads((path / "card.json").read_text())
        table = load(t)
        if len(table.fidelity.values) < 2:
            print(
                f"skip {t}: one fidelity, so the multi-fidelity optimizers cannot differ from random search"
            )
            continue
        rk = ranking_agreement(
            table,
            SurrogateBenchmark.from_path(path, name=f"{t}-surrogate"),
            optimizers=args.optimizers,
            n_seeds=args.seeds,
            n_workers=args.workers,
            budget=args.budget,
        )
        card["optimizer_ranking"] = rk
        write_card(card, path, "card")
        lo, hi = rk["kendall_tau_interval"]
        print(
            f"{t}: Kendall tau between optimizer rankings on table and surrogate = {rk['kendall_tau']:.3f} "
            f"(90% interval {lo:.2f} to {hi:.2f}); the table against itself (other seeds): {rk['table_self_tau']:.3f}"
        )
    return 0


__all__ = ["DEFAULT_OPTIMIZERS", "bootstrap_tau", "card_markdown", "main", "ranking_agreement"]

if __name__ == "__main__":
    sys.exit(main())
