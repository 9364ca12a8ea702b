"""The networks of the generated families, by their layer widths: the one definition the training code
(``data.families``) builds and the benchmarks count parameters from (:mod:`benchmarks.objectives`).

Both generated families are plain MLPs: Linear layers with biases between the widths returned here
(activations, dropout and the optimizer's state add no trainable parameters), so a configuration's
trainable parameter count is ``sum((a + 1) * b)`` over consecutive widths ``a, b``, exactly what
``data.nets.BatchedMLP.n_params`` counts on the model it trains (tests/benchmarks/test_objectives.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["FAMILY_LAYERS", "fcnet_layers", "funnel", "lcbench_layers", "mlp_params"]


def funnel(in_feat: int, out_feat: int, max_neurons: int, layer_count: int) -> list[int]:
    """Auto-PyTorch's ``get_shaped_neuron_counts('funnel', ...)``: ``layer_count`` counts ending at ``out_feat``."""
    if layer_count <= 0:
        return []
    if layer_count == 1:
        return [out_feat]
    previous = max(in_feat, max_neurons)
    counts = [previous]
    step = max(0, int((previous - out_feat) / (layer_count - 1)))
    for _ in range(layer_count - 2):
        previous -= step
        counts.append(previous)
    counts.append(out_feat)
    return counts


def lcbench_layers(config: Mapping[str, Any], n_features: int, n_classes: int) -> list[int]:
    """Every width of an LCBench-style funnel MLP, input and output included (``num_layers`` Linear layers)."""
    n_layers = int(config["num_layers"])
    hidden = funnel(n_features, n_classes, int(config["max_units"]), n_layers)[: n_layers - 1]
    return [n_features, *hidden, n_classes]


def fcnet_layers(config: Mapping[str, Any], n_features: int, n_classes: int | None = None) -> list[int]:
    """Every width of an FCNet (two hidden layers, one regression output)."""
    return [n_features, int(config["n_units_1"]), int(config["n_units_2"]), 1]


#: family name (as a table's provenance records it) -> its widths from (config, n_features, n_classes)
FAMILY_LAYERS: dict[str, Callable[[Mapping[str, Any], int, int], list[int]]] = {
    "lcbench": lcbench_layers,
    "fcnet": fcnet_layers,
}


def mlp_params(widths: Sequence[int]) -> int:
    """Trainable parameters of Linear layers with biases between consecutive ``widths``."""
    return int(sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:])))
