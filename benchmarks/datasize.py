"""A benchmark with two fidelities: the training-set fraction and the epoch.

A data-size family is one sweep run on nested fractions of one training split (``train_fraction=1/27``,
``1/9``, ``1/3`` and the whole split: ``data.datasets.nested_train_subset``), the same configurations and
seeds each time, so every (configuration, seed) has a learning curve over epochs at every fraction. Each
fraction is an ordinary table (its own data card and checksum). :class:`DataSizeBenchmark` serves them as
one benchmark with two fidelity axes, JAHS-Bench-201's convention for several fidelities (Bansal et al.,
NeurIPS 2022 Datasets and Benchmarks): an optimizer runs along one axis at a time, the other fixed.

* ``data_fraction`` (its default axis): the fraction of the training split, at a fixed epoch (default the
  last). Not incremental: a model trained on more data is trained again from scratch, so the simulator charges
  a continuation the whole cost (:attr:`benchmarks.protocol.Fidelity.incremental`). This is the fidelity of
  FABOLAS (Klein et al., AISTATS 2017) and of LCDB's learning curves over the training-set size.
* ``epoch``: :meth:`DataSizeBenchmark.along` ``("epoch", data_fraction=f)`` is fraction ``f``'s own table.

``python -m runners.run benchmark=lcbench-kr_vs_kp-datasize optimizer=hyperband`` runs Hyperband's rungs on
fractions 1/27 ... 1; ``benchmark=lcbench-kr_vs_kp-train1of9`` runs along epochs on one ninth of the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .io import shipped_tables_dir
from .protocol import Benchmark, Fidelity, FidelityError, TableFormatError, UnknownBenchmarkError
from .sampling import same_configurations
from .table import COST, Table, table_checksum
from .tabular import TabularBenchmark

AXIS = "data_fraction"


def table_fraction(bench: TabularBenchmark) -> float:
    """The training-set fraction a generated table was trained on (its task's ``train_fraction``; 1 if none)."""
    return float(bench.task.get("train_fraction", 1.0))


def _check_parts(parts: Sequence[TabularBenchmark]) -> None:
    """Refuse parts that are not one sweep on nested fractions: every difference is named."""
    if len(parts) < 2:
        raise TableFormatError(f"a data-size benchmark needs at least two fractions, got {len(parts)}")
    base = parts[-1]
    fractions = [table_fraction(p) for p in parts]
    if fractions != sorted(fractions) or len(set(fractions)) != len(fractions):
        raise TableFormatError(
            f"data-size parts must have strictly increasing training fractions, got "
            f"{', '.join(f'{p.name}: {f:.6g}' for p, f in zip(parts, fractions))}"
        )
    hps = base.table.manifest["hyperparameters"]
    for p in parts[:-1]:
        same = {
            "dataset": p.task.get("dataset") == base.task.get("dataset"),
            "seeds": p.seeds == base.seeds,
            "fidelity": p.fidelity == base.fidelity,
            "metrics": list(p.metrics) == list(base.metrics),
            "objective": (p.objective, p.test_objective) == (base.objective, base.test_objective),
            # the same draws, floats up to round-off (a part sampled on another CPU differs in the last bits)
            "configurations": same_configurations(
                p.table.configs[hps].to_dict(orient="records"),
                base.table.configs[hps].to_dict(orient="records"),
            ),
        }
        differ = [k for k, ok in same.items() if not ok]
        if differ:
            raise TableFormatError(
                f"data-size part {p.name} differs from {base.name} in its {', '.join(differ)}; the parts of a "
                f"data-size benchmark are one sweep (the same configurations, seeds, epochs and metrics) on "
                f"fractions of one training split"
            )


class DataSizeBenchmark(TabularBenchmark):
    """Tables of one sweep on nested training fractions, along the ``data_fraction`` axis at one epoch.

    ``parts`` are the tables, smallest fraction first (the last one usually the whole split). The metrics at
    fraction f are fraction f's table at ``epoch`` (default: the last); the cost is that table's cost to train
    ``epoch`` epochs from scratch, raised to its running maximum over the smaller fractions where a smaller
    fraction was timed slower (``provenance["cost_raised_s"]`` records by how much), so that it never decreases.
    """

    def __init__(
        self, parts: Sequence[TabularBenchmark], name: str | None = None, epoch: float | None = None
    ):
        parts = list(parts)
        _check_parts(parts)
        base = parts[-1]
        e = base.fidelity.max if epoch is None else base.fidelity.check(epoch)
        ei = base.fidelity.values.index(e)
        fractions = tuple(table_fraction(p) for p in parts)
        arrays = {
            m: np.stack([p.table.arrays[m][:, :, ei] for p in parts], axis=-1) for m in [*base.metrics, COST]
        }
        timed = arrays[COST]
        arrays[COST] = np.maximum.accumulate(timed, axis=-1)
        raised = float(np.sum(arrays[COST] - timed, dtype=np.float64))
        for a in arrays.values():
            a.flags.writeable = False
        fidelity = Fidelity(AXIS, fractions, unit="fraction of the training split", incremental=False)
        m = base.table.manifest
        label = name or f"{base.name}-datasize"
        manifest = {
            **m,
            "name": label,
            "description": (
                f"{m.get('description', base.name)}: training-set fractions "
                f"{', '.join(f'{f:.4g}' for f in fractions)} at epoch {e:g}"
            ),
            "fidelity": fidelity.to_dict(),
            "task": {
                **m.get("task", {}),
                "train_fraction": None,
                "epoch": e,
                "parts": {p.name: p.checksum for p in parts},
            },
            "provenance": {
                "generator": "benchmarks.datasize",
                "parts": {p.name: dict(p.provenance) for p in parts},
                "cost_note": (
                    f"cost at a fraction = seconds to train {e:g} epochs on that fraction alone, from scratch "
                    f"(the fraction's table); not incremental: a continuation to a larger fraction pays the whole cost"
                ),
                "cost_raised_s": round(raised, 6),
            },
        }
        table = Table(
            path=base.table.path,
            manifest=manifest,
            space=base.space,
            fidelity=fidelity,
            metrics=list(base.metrics.values()),
            seeds=base.seeds,
            configs=base.table.configs,
            arrays=arrays,
        )
        super().__init__(table, name=label)
        self.provenance = {**manifest["provenance"], "checksum": table_checksum(manifest)}
        self.parts = parts
        self.epoch = e
        self._axes = {AXIS: fidelity, base.fidelity.name: base.fidelity}

    @property
    def fidelity_axes(self) -> dict[str, Fidelity]:
        return dict(self._axes)

    def along(self, axis: str, **at: float) -> Benchmark:
        """``along("data_fraction", epoch=e)``: this benchmark read at epoch ``e``; ``along("epoch",
        data_fraction=f)``: fraction ``f``'s table (default: the largest fraction)."""
        epoch_axis = self.parts[-1].fidelity.name
        if axis == AXIS:
            _check_fixed(self, axis, at, {epoch_axis})
            e = at.get(epoch_axis)
            return self if e is None or e == self.epoch else DataSizeBenchmark(self.parts, self.name, epoch=e)
        if axis == epoch_axis:
            _check_fixed(self, axis, at, {AXIS})
            f = self._axes[AXIS].check(at.get(AXIS, self._axes[AXIS].max))
            return self.parts[self._axes[AXIS].values.index(f)]
        raise FidelityError(f"{self.name} has no fidelity axis {axis!r}; allowed: {', '.join(self._axes)}")

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["fidelity_axes"] = {k: f.describe() for k, f in self._axes.items()}
        d["epoch"] = self.epoch
        d["parts"] = [p.name for p in self.parts]
        return d


def _check_fixed(bench: Benchmark, axis: str, at: Mapping[str, float], allowed: set[str]) -> None:
    extra = sorted(set(at) - allowed)
    if extra:
        raise FidelityError(
            f"{bench.name} along {axis!r} can fix {', '.join(sorted(allowed))}, not {', '.join(extra)}"
        )


def load_shipped(
    parts: Sequence[str], name: str | None = None, epoch: float | None = None
) -> DataSizeBenchmark:
    """Catalog loader: the shipped tables ``parts`` (data/tables), smallest fraction first, as one benchmark."""
    root = shipped_tables_dir()
    missing = [p for p in parts if not (root / p).is_dir()]
    if missing:
        raise UnknownBenchmarkError(
            f"data-size tables {', '.join(missing)} are not in {root.name}/ yet; generate them with "
            f"`python -m data.build` (see data/README.md)"
        )
    return DataSizeBenchmark([TabularBenchmark.from_path(root / p) for p in parts], name=name, epoch=epoch)
