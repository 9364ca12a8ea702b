"""The recipes of the tables CurveBench ships: each is the sweep settings that generate it.

``python -m data.build`` runs them in this order (small ones first) and merges
each into ``data/tables/<name>/`` when its shards are all done; rerunning it
resumes where it stopped. Each recipe equals a sweep command, e.g.
``python -m data.sweep family=fcnet dataset=naval n_configs=1000``.
"""

from __future__ import annotations

from typing import Any

TABLES: dict[str, dict[str, Any]] = {
    "lcbench-australian": {"family": "lcbench", "dataset": "australian", "n_configs": 500, "seeds": [0, 1]},
    "lcbench-credit_g": {"family": "lcbench", "dataset": "credit_g", "n_configs": 500, "seeds": [0, 1]},
    "lcbench-vehicle": {"family": "lcbench", "dataset": "vehicle", "n_configs": 500, "seeds": [0, 1]},
    "lcbench-car": {"family": "lcbench", "dataset": "car", "n_configs": 500, "seeds": [0, 1]},
    "fcnet-parkinsons": {"family": "fcnet", "dataset": "parkinsons", "n_configs": 1000, "seeds": [0, 1]},
    "fcnet-naval": {"family": "fcnet", "dataset": "naval", "n_configs": 1000, "seeds": [0, 1]},
    # protein's training split (27,438 rows) is subsampled to 10,000 rows to fit the CPU budget (see its card)
    "fcnet-protein": {
        "family": "fcnet",
        "dataset": "protein",
        "n_configs": 300,
        "seeds": [0, 1],
        "max_train_rows": 10000,
    },
}
