"""The importer interface: how a published table (someone else's sweep) becomes a CurveBench table.

An importer knows three things, and only these are written per source:

* which datasets it offers (:attr:`Importer.datasets`) and the catalog name of each table
  (:meth:`Importer.table_name`);
* the file each table is converted from (:meth:`Importer.source_file`), found offline: an installed
  package's data, or a file under the data root that ``data.datasets`` downloaded with its checksum;
* how to convert that file (:meth:`Importer.convert`): read it as plain data (never unpickle objects,
  never ``eval``), build the configuration space, the values (configurations x seeds x fidelities per
  metric) and the cost, and write them with :func:`benchmarks.table.write_table`, recording the source
  file's sha256 in ``provenance["source_sha256"]``.

Everything else is shared and not overridden: the converted table is cached under
``$CURVEBENCH_CACHE/tables/<table name>``, converted on first use, converted again when the source
file's checksum no longer matches the one recorded (a new version of the source) or the importer's
``conversion_revision`` the one recorded (a changed conversion), and loaded as a
:class:`~benchmarks.tabular.TabularBenchmark` with its checksums verified. Register an importer with
:func:`register`; a catalog entry then loads it with ``benchmarks.importers:load`` and the keyword
arguments ``source=<importer name>, dataset=<dataset>`` (docs/where-code-goes.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from ..io import cache_dir, sha256_file
from ..protocol import CurveBenchError, TableFormatError
from ..table import read_manifest
from ..tabular import TabularBenchmark

#: the manifest key (under ``provenance``) that records the converted file's checksum
SOURCE_CHECKSUM = "source_sha256"
#: the manifest key (under ``provenance``) that records the importer's conversion revision (absent: 1)
CONVERSION = "conversion_revision"


class Importer(ABC):
    """One source of published tables (see the module docstring for the contract)."""

    #: the importer's name: the ``source`` of its catalog entries
    name: str = ""
    #: raised when the conversion changes what a table holds, so that tables cached by an earlier conversion
    #: are converted again on their next use (the shared :meth:`ensure` records it in the provenance)
    conversion_revision: int = 1

    @property
    @abstractmethod
    def datasets(self) -> tuple[str, ...]:
        """The datasets this source offers, one table each."""

    @abstractmethod
    def table_name(self, dataset: str) -> str:
        """The catalog name of ``dataset``'s table (e.g. ``pub-fcnet-naval``)."""

    @abstractmethod
    def source_file(self, dataset: str) -> Path:
        """The file ``dataset``'s table is converted from; raises CurveBenchError saying how to get it."""

    @abstractmethod
    def convert(self, dataset: str, out: Path, *, overwrite: bool = False) -> Path:
        """Write ``dataset``'s table at ``out`` (``write_table``), recording ``provenance["source_sha256"]``."""

    # ------------------------------------------------------------ shared: not overridden
    def check_dataset(self, dataset: str) -> None:
        if dataset not in self.datasets:
            raise CurveBenchError(
                f"unknown {self.name} dataset {dataset!r}; allowed: {', '.join(self.datasets)}"
            )

    def cached_path(self, dataset: str) -> Path:
        """Where the converted table of ``dataset`` is cached."""
        self.check_dataset(dataset)
        return cache_dir() / "tables" / self.table_name(dataset)

    def ensure(self, dataset: str) -> Path:
        """The converted table's folder: converted on first use, and again when the source file changed."""
        out = self.cached_path(dataset)
        src = self.source_file(dataset)
        if out.is_dir():
            try:
                prov = read_manifest(out)["provenance"]
                recorded, revision = prov.get(SOURCE_CHECKSUM), prov.get(CONVERSION, 1)
            except (TableFormatError, KeyError, TypeError, AttributeError):
                recorded = revision = None
            if recorded is not None and recorded == sha256_file(src) and revision == self.conversion_revision:
                return out
            return self.convert(dataset, out, overwrite=True)
        return self.convert(dataset, out)

    def load(self, dataset: str, verify: bool = True) -> TabularBenchmark:
        """``dataset``'s table as a benchmark (checksums verified unless ``verify=False``)."""
        return TabularBenchmark.from_path(self.ensure(dataset), verify=verify)


_REGISTRY: dict[str, Importer] = {}


def register(importer: Importer) -> Importer:
    """Make ``importer`` available by its name; a second importer of the same name is refused."""
    if not isinstance(importer, Importer):
        raise TypeError(f"register() takes an Importer, got {type(importer).__name__}")
    if not importer.name:
        raise ValueError(f"{type(importer).__name__} has no name")
    if importer.name in _REGISTRY and _REGISTRY[importer.name] is not importer:
        raise ValueError(f"an importer named {importer.name!r} is already registered")
    _REGISTRY[importer.name] = importer
    return importer


def get(name: str) -> Importer:
    """The registered importer ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise CurveBenchError(
            f"unknown published source {name!r}; allowed: {', '.join(sorted(_REGISTRY))}"
        ) from None


def names() -> list[str]:
    """The registered importers' names."""
    return sorted(_REGISTRY)
