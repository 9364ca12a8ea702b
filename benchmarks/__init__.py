"""CurveBench benchmarks: the protocol, the table format, tabular benchmarks and the catalog."""

from .catalog import CATALOG, is_available, load, names
from .protocol import (
    BatchResult,
    Benchmark,
    ConfigError,
    Curve,
    CurveBenchError,
    Fidelity,
    FidelityError,
    Metric,
    MetricError,
    Result,
    SeedError,
    TableFormatError,
    UnknownBenchmarkError,
)
from .table import Table, TableSpec, read_table, write_table
from .tabular import TabularBenchmark
from .transfer import related

__all__ = [
    "CATALOG",
    "BatchResult",
    "Benchmark",
    "ConfigError",
    "Curve",
    "CurveBenchError",
    "Fidelity",
    "FidelityError",
    "Metric",
    "MetricError",
    "Result",
    "SeedError",
    "Table",
    "TableFormatError",
    "TableSpec",
    "TabularBenchmark",
    "UnknownBenchmarkError",
    "is_available",
    "related",
    "load",
    "names",
    "read_table",
    "write_table",
]
