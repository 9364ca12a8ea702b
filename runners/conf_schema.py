"""Structured-config schemas of the runner's Hydra config tree (runners/conf), registered in the ConfigStore.

``run.yaml``, the benchmark nodes (one per catalog name, stored by
:func:`register`) and ``benchmark/table.yaml`` are merged onto these
dataclasses, so an unknown or misspelt key, or a value of the wrong type or outside an
enum, fails when the config is composed. Optimizer configs carry each
optimizer's own hyperparameters; they are checked against the optimizer's
constructor signature before anything runs (:func:`runners.registry.check_optimizer_config`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from benchmarks.catalog import names

#: the runner's Hydra config tree (run.yaml, the optimizer registry, the studies)
CONF_DIR = Path(__file__).resolve().parent / "conf"


class BudgetKind(StrEnum):
    time = "time"
    fidelity = "fidelity"
    evaluations = "evaluations"
    results = "results"


class Overhead(StrEnum):
    zero = "zero"
    measured = "measured"


@dataclass
class BudgetConf:
    kind: BudgetKind = BudgetKind.evaluations
    amount: float = 100.0


@dataclass
class BenchmarkConf:
    """A benchmark by catalog name, or (``path`` set) a table folder given that name."""

    _target_: str = "runners.run.load_benchmark"
    name: str = MISSING
    path: str | None = None


@dataclass
class RunConf:
    benchmark: BenchmarkConf = MISSING
    optimizer: Any = MISSING
    study: str = "default"
    seed: int = 0
    n_workers: int = 4
    budget: BudgetConf = field(default_factory=BudgetConf)
    overhead: Overhead = Overhead.zero
    results_dir: str = "results"
    objectives: Optional[list[str]] = None  # noqa: UP045 - OmegaConf's structured configs need Optional


_registered = False


def register() -> None:
    """Register the schemas (idempotent; called by every entry point before composing)."""
    global _registered
    cs = ConfigStore.instance()
    # Hydra's launchers restore the ConfigStore of the parent process in reused worker processes, so the flag
    # alone is not enough: check that the store still holds the schema
    if _registered and "run_schema.yaml" in cs.repo:
        return

    cs.store(name="run_schema", node=RunConf)
    # outside the benchmark group (table.yaml pulls it in), so that `--help` does not list it as a benchmark
    cs.store(name="benchmark_schema", node=BenchmarkConf)
    # the benchmark group is the catalog: every catalog name works as benchmark=NAME (the catalog owns the list;
    # conf/benchmark/ holds only table.yaml, for a table folder outside the catalog)
    for name in names():
        cs.store(group="benchmark", name=name, node=BenchmarkConf(name=name))
    _registered = True
