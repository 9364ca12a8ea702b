"""CurveBench surrogates: learning-curve models fitted on tables, answering for any configuration.

* :class:`CurveSurrogate` (``surrogates.surrogate``): fit on a table, predict every metric's curve
  and the cumulative cost, with seed noise;
* :class:`SurrogateBenchmark` (``surrogates.benchmark``): the Benchmark protocol over a saved surrogate;
* ``python -m surrogates.fit benchmark=NAME model=xgboost``: fit and save one, with its quality card;
* ``python -m surrogates.build``: fit the shipped surrogates (``make surrogates``).
"""

from .benchmark import SurrogateBenchmark, load_shipped, shipped_path
from .store import load_surrogate, save_surrogate
from .surrogate import CurveSurrogate

__all__ = [
    "CurveSurrogate",
    "SurrogateBenchmark",
    "load_shipped",
    "load_surrogate",
    "save_surrogate",
    "shipped_path",
]
