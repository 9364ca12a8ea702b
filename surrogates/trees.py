"""An XGBoost model's trees as numpy arrays, for predicting a few rows without XGBoost's per-call overhead.

``booster.inplace_predict`` costs about 0.2 ms for one row whatever the model's size (its threads, the
input adapter, the configuration round trip), and several times that on a busy machine. A surrogate asked
about one configuration at a time (a sequential optimizer) pays it for every block. :class:`NumpyTrees`
reads the trees from the model's own JSON (``booster.save_raw("json")``: plain data, no code) and walks all
of them at once, one tree level per step, in numpy.

It gives XGBoost's numbers exactly, not approximately: features are compared as float32 with the same rule
(``x < split_condition`` goes left, a missing value follows the node's default direction), and each output
is accumulated as XGBoost's CPU predictor does, in float32, starting from the base score and adding the
trees' leaf values in tree order (:func:`numpy.cumsum` is a sequential sum). ``tests/surrogates`` checks
equality with ``inplace_predict`` bit for bit. Only what the surrogates fit is supported: the ``gbtree``
booster with numerical splits and an identity output transform (``reg:squarederror``), with one output per
tree or vector leaves (``multi_strategy="multi_output_tree"``, what the surrogates use); anything else is
refused by :meth:`NumpyTrees.from_booster` naming it, and the caller keeps XGBoost.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

#: the objectives whose prediction is the raw margin (no output transform)
IDENTITY_OBJECTIVES = ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror")


class UnsupportedModel(ValueError):
    """The model has something :class:`NumpyTrees` does not evaluate (the message names it)."""


def _base_scores(learner: dict[str, Any], n_out: int) -> np.ndarray:
    raw = str(learner["learner_model_param"]["base_score"]).strip()
    values = [float(v) for v in raw.strip("[]").split(",") if v.strip()]
    if len(values) == 1:
        values = values * n_out
    if len(values) != n_out:
        raise UnsupportedModel(f"base_score {raw!r} does not hold one value per output ({n_out})")
    return np.asarray(values, dtype=np.float32)


class NumpyTrees:
    """Every tree of a ``gbtree`` booster as padded arrays (tree, node), and each node's leaf value(s)."""

    def __init__(
        self,
        left: np.ndarray,
        right: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        default_left: np.ndarray,
        value: np.ndarray,
        group: np.ndarray | None,
        base: np.ndarray,
        depth: int,
        n_features: int,
    ) -> None:
        self.left, self.right, self.feature = left, right, feature
        self.threshold, self.default_left, self.value = threshold, default_left, value
        self.group, self.base, self.depth, self.n_features = group, base, depth, n_features
        self.n_outputs = len(base)
        self._flatten()
        self._alone: NumpyForest | None = None
        #: scalar leaves: per output, the trees of that output in tree order; vector leaves: None
        self._of_group = (
            None if group is None else [np.flatnonzero(group == g) for g in range(self.n_outputs)]
        )

    @classmethod
    def from_booster(cls, booster: Any) -> NumpyTrees:
        """Read the trees of an ``xgboost.Booster``; UnsupportedModel for a model it cannot evaluate exactly."""
        model = json.loads(bytes(booster.save_raw("json")))
        learner = model["learner"]
        objective = learner["objective"]["name"]
        if objective not in IDENTITY_OBJECTIVES:
            raise UnsupportedModel(
                f"objective {objective!r} transforms the margin; supported: {IDENTITY_OBJECTIVES}"
            )
        gb = learner["gradient_booster"]
        if gb.get("name") != "gbtree":
            raise UnsupportedModel(f"booster {gb.get('name')!r}; supported: gbtree")
        trees, info = gb["model"]["trees"], gb["model"]["tree_info"]
        if not trees:
            raise UnsupportedModel("no trees")
        param = learner["learner_model_param"]
        n_out = max(int(param.get("num_target", 1) or 1), int(param.get("num_class", 0) or 0), 1)
        vec = {int(t["tree_param"].get("size_leaf_vector", "1") or 1) for t in trees}
        if vec not in ({1}, {n_out}):
            raise UnsupportedModel(f"leaf vectors of sizes {sorted(vec)} for {n_out} outputs")
        k = vec.pop()
        if any(any(int(st) != 0 for st in t.get("split_type", [])) for t in trees):
            raise UnsupportedModel("categorical splits")
        width = max(len(t["left_children"]) for t in trees)
        T = len(trees)
        left = np.full((T, width), -1, dtype=np.int32)
        right = np.full((T, width), -1, dtype=np.int32)
        feature = np.zeros((T, width), dtype=np.int32)
        threshold = np.zeros((T, width), dtype=np.float32)
        default_left = np.zeros((T, width), dtype=bool)
        value = np.zeros((T, width, k), dtype=np.float32)
        depth = 0
        for i, t in enumerate(trees):
            n = len(t["left_children"])
            left[i, :n] = t["left_children"]
            right[i, :n] = t["right_children"]
            feature[i, :n] = t["split_indices"]
            threshold[i, :n] = np.asarray(t["split_conditions"], dtype=np.float32)
            default_left[i, :n] = np.asarray(t["default_left"], dtype=bool)
            if k == 1:  # a scalar leaf's value is stored in its split condition
                value[i, :n, 0] = threshold[i, :n]
            else:  # vector leaves: every node's weights, node-major
                value[i, :n] = np.asarray(t["base_weights"], dtype=np.float32).reshape(n, k)
            depth = max(depth, _depth(t["left_children"], t["right_children"]))
        group = None
        if k == 1:
            group = np.asarray(info, dtype=np.int64)
            if group.shape != (T,) or group.min() < 0 or group.max() >= n_out:
                raise UnsupportedModel(
                    f"tree_info does not assign each of the {T} trees one of {n_out} outputs"
                )
        n_features = int(param["num_feature"])
        base = _base_scores(learner, n_out)
        return cls(left, right, feature, threshold, default_left, value, group, base, depth, n_features)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n, n_outputs) float32 predictions, equal to ``booster.inplace_predict(X)``; meant for a few rows."""
        if self._alone is None:  # the walk of this booster alone, made once
            self._alone = NumpyForest([self])
        return self._alone.predict(X)[0]

    def _sum_leaves(self, leaf: np.ndarray) -> np.ndarray:
        """The prediction of one row from its leaf in every tree, ``leaf`` (trees, k): the base score plus the
        leaf values, summed in float32 in tree order (per output, its own trees)."""
        if self._of_group is None:  # vector leaves: every tree adds to every output, in tree order
            seq = np.empty((leaf.shape[0] + 1, self.n_outputs), dtype=np.float32)
            seq[0] = self.base
            seq[1:] = leaf
            # np.cumsum's sums, without its wrapper
            return np.add.accumulate(seq, axis=0, dtype=np.float32)[-1]
        out = np.empty(self.n_outputs, dtype=np.float32)
        for g, of in enumerate(self._of_group):
            seq = np.empty(len(of) + 1, dtype=np.float32)
            seq[0] = self.base[g]
            seq[1:] = leaf[of, 0]
            out[g] = np.add.accumulate(seq, dtype=np.float32)[-1]
        return out

    def _flatten(self) -> None:
        """The walk's arrays, indexed by twice the flat node (tree * width + node) plus the branch taken.

        ``kids[2 i + go_left]`` is node i's child on that side, itself doubled (a leaf's children are itself,
        so walking past a leaf stays there); ``feature``, ``threshold`` and ``default_left`` hold node i's
        entry at 2 i and 2 i + 1, so a doubled index reads them directly. One level of the walk is then six
        small numpy calls (gather the features, compare, add the branch, gather the children).
        """
        T, W = self.left.shape
        idx = np.arange(T * W, dtype=np.int64).reshape(T, W)
        base = (np.arange(T, dtype=np.int64) * W)[:, None]
        leaf = self.left < 0
        child_l = np.where(leaf, idx, base + self.left).ravel()
        child_r = np.where(leaf, idx, base + self.right).ravel()
        kids = np.empty(2 * T * W, dtype=np.int64)
        kids[0::2] = 2 * child_r
        kids[1::2] = 2 * child_l
        self._walk = (
            kids,
            np.repeat(self.feature.ravel(), 2),
            np.repeat(self.threshold.ravel(), 2),
            np.repeat(self.default_left.ravel(), 2),
        )
        self._values = self.value.reshape(T * W, -1)
        self._roots2 = 2 * base[:, 0]


class NumpyForest:
    """Several boosters' trees walked together, one level of all of them per step.

    A surrogate's blocks each have a booster (the metric, the cost, ...); for one configuration, walking
    them together costs the numpy calls of one walk. Each booster's prediction is its own trees' sum, as
    :meth:`NumpyTrees.predict` gives it (the same numbers: the walk only finds the leaves).
    """

    def __init__(self, trees: list[NumpyTrees]) -> None:
        if not trees:
            raise ValueError("no boosters to walk")
        n_features = {t.n_features for t in trees}
        if len(n_features) != 1:
            raise ValueError(f"the boosters take different numbers of features: {sorted(n_features)}")
        self.trees = trees
        self.n_features = n_features.pop()
        self.depth = max(t.depth for t in trees)
        # the doubled index of each booster's first node in the joined arrays
        self._offsets = offsets = np.cumsum([0] + [len(t._walk[0]) for t in trees])
        kids, feature, threshold, default_left = zip(*(t._walk for t in trees))
        self._kids = np.concatenate([k + o for k, o in zip(kids, offsets)])
        self._feature = np.concatenate(feature)
        self._threshold = np.concatenate(threshold)
        self._default_left = np.concatenate(default_left)
        self._roots2 = np.concatenate([t._roots2 + o for t, o in zip(trees, offsets)])
        self._bounds = np.cumsum([0] + [len(t._roots2) for t in trees])  # each booster's trees in the roots

    def predict(self, X: np.ndarray) -> list[np.ndarray]:
        """Each booster's (n, n_outputs) float32 predictions, equal to its ``inplace_predict(X)``."""
        x = np.asarray(X, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"X has shape {x.shape}; expected (n, {self.n_features})")
        kids, feature, threshold = self._kids, self._feature, self._threshold
        outs = [np.empty((x.shape[0], t.n_outputs), dtype=np.float32) for t in self.trees]
        nan = np.isnan(x)
        # one row (a query): one C call instead of ndarray.any's Python wrapper
        missing = (np.count_nonzero(nan) > 0,) if x.shape[0] == 1 else nan.any(axis=1)
        for r in range(x.shape[0]):
            xr = x[r]
            d = self._roots2  # twice the flat index of each tree's current node
            for _ in range(self.depth):
                v = xr.take(feature.take(d))
                go_left = v < threshold.take(d)
                if missing[r]:  # NaN < t is False: a missing value follows the node's default direction
                    go_left = np.where(np.isnan(v), self._default_left.take(d), go_left)
                d = kids.take(d + go_left)
            for b, t in enumerate(self.trees):
                nodes = d[self._bounds[b] : self._bounds[b + 1]] - self._offsets[b]
                outs[b][r] = t._sum_leaves(t._values.take(nodes >> 1, axis=0))
        return outs


def _depth(left: list[int], right: list[int]) -> int:
    """The number of splits on the longest path from the root."""
    best, stack = 0, [(0, 0)]
    while stack:
        nid, d = stack.pop()
        if left[nid] == -1:
            best = max(best, d)
        else:
            stack.append((left[nid], d + 1))
            stack.append((right[nid], d + 1))
    return best
