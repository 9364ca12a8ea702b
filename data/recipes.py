"""The recipes of the tables CurveBench ships: each is the sweep settings that generate it.

``python -m data.build`` runs them in this order (small ones first) and merges
each into ``data/tables/<name>/`` when its shards are all done; rerunning it
resumes where it stopped. Each recipe equals a sweep command, e.g.
``python -m data.sweep family=fcnet dataset=naval n_configs=1000``.
"""

from __future__ import annotations

from typing import Any

from benchmarks.catalog import DATASIZE_TABLES, MANY_SEED_TABLES, SHIPPED_NAMES, datasize_parts

#: the sweep settings of each family's shipped tables
_FAMILY_SETTINGS: dict[str, dict[str, Any]] = {
    "lcbench": {"n_configs": 500, "seeds": [0, 1]},
    "fcnet": {"n_configs": 1000, "seeds": [0, 1]},
}
#: where a table departs from its family's settings
_EXCEPTIONS: dict[str, dict[str, Any]] = {
    # protein's training split (27,438 rows) is subsampled to 10,000 rows to fit the CPU budget (see its card)
    "fcnet-protein": {"n_configs": 300, "max_train_rows": 10000},
}


def recipe(name: str) -> dict[str, Any]:
    """The sweep settings of the shipped table ``name`` (``<family>-<dataset>``, a catalog name), or of a data-size
    table (``<family>-<dataset>-train1of<k>``: its base table's settings on 1/k of the training split)."""
    if name in MANY_SEED_TABLES:
        base = name.rpartition("-seeds")[0]
        return {**recipe(base), "n_configs": 200, "seeds": list(range(10))}
    if name in DATASIZE_TABLES:
        base, _, k = name.rpartition("-train1of")
        return {**recipe(base), "train_fraction": 1.0 / int(k)}
    if name not in SHIPPED_NAMES:
        allowed = ", ".join((*SHIPPED_NAMES, *DATASIZE_TABLES, *MANY_SEED_TABLES))
        raise ValueError(f"{name!r} is not a shipped table; allowed: {allowed}")
    family, _, dataset = name.partition("-")
    return {"family": family, "dataset": dataset, **_FAMILY_SETTINGS[family], **_EXCEPTIONS.get(name, {})}


def cost_pool(name: str) -> tuple[str, ...]:
    """The sweeps whose timed calibration runs are pooled to fit ``name``'s cost model, in pooling order
    (``name`` among them), or () for a table fitted on its own runs alone.

    For a fraction table of a shipped data-size family: every sweep of the family, smallest fraction first
    and the whole split last (:func:`benchmarks.catalog.datasize_parts`), the same order for each fraction,
    so every fraction gets the same model, bit for bit, and cost grows with the fraction for every
    configuration (the model's coefficients are non-negative and its features grow with the training
    rows). Fitted one sweep at a time, on a shared machine, the fractions' models disagreed: on kr-vs-kp
    the 1/9 table cost more than the 1/3 table for most configurations. None for any other table: the
    whole-split table keeps its own calibration (its surrogate was fitted on its costs).
    """
    if name not in DATASIZE_TABLES:
        return ()
    return datasize_parts(name.rpartition("-train1of")[0])


def _build_order(name: str) -> tuple[int, int, int]:
    """LCBench tables before FCNet ones, each in catalog order; data-size tables after their family's others,
    tables with exceptions last."""
    return (
        list(_FAMILY_SETTINGS).index(name.partition("-")[0]),
        name in DATASIZE_TABLES,
        name in _EXCEPTIONS,
    )


TABLES: dict[str, dict[str, Any]] = {
    name: recipe(name)
    for name in sorted((*SHIPPED_NAMES, *DATASIZE_TABLES, *MANY_SEED_TABLES), key=_build_order)
}
