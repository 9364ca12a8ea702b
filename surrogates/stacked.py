"""Several metric blocks decoded at once: predicted targets to curves for B metrics in one pass of numpy calls.

:meth:`targets.MetricBlock.decode` and :meth:`~targets.MetricBlock.curves` turn one block's predicted
targets into curves with some thirty numpy calls. For one configuration each call costs about a
microsecond whatever its size, so a query of every metric (nine on LCBench) spent most of a
millisecond calling numpy. :class:`StackedMetrics` applies the same operations to a (B, n, F) stack
of B blocks: one call per operation for all of them, each block's constants (PCA directions,
ranges, lookup tables, transforms, bounds) stacked along the first axis.

Every operation is elementwise, in the same dtype and the same order as the block-by-block code, so
every value gets the same arithmetic and the curves are identical bit for bit (tested on every
shipped surrogate and on fitted ones): the PCA combination is the same float32 passes as
:func:`targets._combine` (a block with fewer components than the stack adds products of zeros, which
change nothing), the seed noise the same bank rows, scale and amplitude, the normal-score inverse the
same lookup tables, the tails of :class:`targets.Extrapolation` the same formula, and the transforms
the same exp, offset, clip and sign steps. Blocks saved before the normal scores (no knots) are not
stacked; the surrogate decodes them block by block.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmarks.protocol import Metric

from .targets import CostBlock, MetricBlock, ScoreTable

#: at most this many products of the PCA combination are made in one numpy call (small batches)
SMALL = 1 << 15
#: the two constant score rows of StackedMetrics.curves (a missing component's zero, mu's one)
_ZERO_ONE = np.array([[0.0], [1.0]], dtype=np.float32)


def _const(value: float, dtype) -> np.ndarray:
    """A read-only 0-d array: as an operand, the number a Python scalar would give (its dtype is the other
    operand's here), with less per-call work in numpy (no scalar conversion; a one-row query makes dozens of
    small calls)."""
    a = np.array(value, dtype=dtype)
    a.flags.writeable = False
    return a


_ZERO32, _ZERO64 = _const(0, np.float32), _const(0, np.float64)


def noise_amplitudes(log_amp: np.ndarray, floors: np.ndarray) -> np.ndarray:
    """Seed-noise amplitudes (float32) of float64 log amplitudes ``log_amp``: exp less the floors (broadcast),
    at least 0 (MetricBlock.decode's and CostBlock.decode's numbers)."""
    amp = np.exp(log_amp)
    amp -= floors
    np.maximum(amp, _ZERO64, out=amp)
    return amp.astype(np.float32)


def stackable(blocks: Sequence[MetricBlock]) -> bool:
    """Whether :class:`StackedMetrics` can decode these blocks (normal-score knots, one grid, one table size)."""
    if not blocks or any(b.knots is None for b in blocks):
        return False
    return len({b.knots.shape for b in blocks}) == 1


class StackedMetrics:
    """The decoder of metric blocks ``blocks`` together (see the module docstring).

    ``bounds``: each block's metric (its declared bounds clip the curves); ``noise``: each block's
    noise factor (the surrogate's ``noise_scale_ * noise_calibration_[j]``); ``banks``: each
    block's float32 noise bank (n_bank, F). Targets come as one (n, width) float64 array holding
    each block's k + 1 targets in turn (its PCA scores, then its log noise amplitude).
    """

    def __init__(
        self,
        blocks: Sequence[MetricBlock],
        bounds: Sequence[Metric],
        noise: Sequence[float],
        banks: Sequence[np.ndarray],
    ) -> None:
        if not stackable(blocks):
            raise ValueError(
                "these blocks cannot be stacked (a block without normal-score knots, or unequal grids)"
            )
        B = len(blocks)
        F = blocks[0].knots.shape[1]
        ks = [b.comps.shape[0] for b in blocks]
        starts = np.cumsum([0] + [k + 1 for k in ks])
        self.names = [b.name for b in blocks]
        self.width = int(starts[-1])
        self.n_blocks, self.n_fid = B, F
        kmax = max(ks)
        # the PCA passes: score column j of each block (the zero row `width` where a block has fewer)
        self.score_rows = np.array(
            [[starts[b] + j if j < ks[b] else self.width for j in range(kmax)] for b in range(B)],
            dtype=np.intp,
        )
        self.amp_rows = np.array([starts[b] + ks[b] for b in range(B)], dtype=np.intp)
        exs = [b.extrapolation for b in blocks]
        comps = np.zeros((B, kmax, 1, F), dtype=np.float32)
        for b, ex in enumerate(exs):
            comps[b, : ks[b], 0] = ex.comps32
        self.comps = comps

        def stack(arrays: Sequence[np.ndarray], dtype=np.float32) -> np.ndarray:  # (B, 1, F)
            return np.stack([np.asarray(a, dtype=dtype) for a in arrays])[:, None, :]

        def per_block(values: Sequence[float], dtype=np.float32) -> np.ndarray:
            # (B, 1, F): each block's value repeated along the grid, so that an operation on one
            # configuration's (B, 1, F) stack takes operands of its own shape (numpy's quickest loop;
            # a (B, 1, 1) operand costs about 0.5 us more per call), the same numbers either way
            return np.repeat(np.array(values, dtype=dtype).reshape(B, 1, 1), F, axis=2)

        self.mu = stack([ex.mu32 for ex in exs])
        # the small-batch PCA (curves): mu as component 0 with a score of exactly 1 (row width + 1 of the
        # scores), so that one reduction sums mu + s_0 c_0 + s_1 c_1 + ... in that order
        self.comps1 = np.concatenate([self.mu[:, None], comps], axis=1)
        self.score_rows1 = np.concatenate(
            [np.full((B, 1), self.width + 1, dtype=np.intp), self.score_rows], axis=1
        )
        self.mean_lo, self.mean_hi = stack([ex.mean_lo32 for ex in exs]), stack([ex.mean_hi32 for ex in exs])
        self.seed_lo, self.seed_hi = stack([ex.seed_lo32 for ex in exs]), stack([ex.seed_hi32 for ex in exs])
        self.amp_floor = np.array([b.amp_floor for b in blocks], dtype=np.float64).reshape(B, 1)
        # (B, n_bank, F): each block's bank rows times its noise factor, the float32 product made once
        self.bank = np.stack([np.asarray(a, dtype=np.float32) * np.float32(v) for a, v in zip(banks, noise)])
        # the normal-score lookup tables of targets.ScoreTable, one flat array
        luts = []
        for b in blocks:
            if getattr(b, "_lut", None) is None:
                b._lut = ScoreTable.from_knots(b.knots)
            luts.append(b._lut)
        self.n_lut = luts[0].table.shape[1]
        if any(lut.table.shape != (F, self.n_lut) for lut in luts):
            raise ValueError("the blocks' lookup tables differ in size")
        # per knot: the table's value and its step to the next (the float32 difference ScoreTable.inverse takes),
        # side by side as one 8-byte item, so one gather reads both from one cache line
        flat = np.concatenate([lut.table.ravel() for lut in luts])
        pairs = np.zeros((flat.size, 2), dtype=np.float32)
        pairs[:, 0] = flat
        pairs[:-1, 1] = flat[1:] - flat[:-1]  # across the end of a row: never read (the index stops at n - 2)
        self.lut = pairs.view(np.float64).ravel()  # read back with .view(np.float32); no arithmetic on it
        self.lut_z0 = per_block([np.float32(lut.z0) for lut in luts])
        self.lut_scale = per_block([np.float32(1 / lut.step) for lut in luts])
        index = np.int32 if flat.size < 2**31 else np.int64
        self.lut_top, self.lut_last = _const(self.n_lut - 1, np.float32), _const(self.n_lut - 2, index)
        self.lut_offset = (
            (np.arange(B)[:, None, None] * F + np.arange(F)[None, None, :]) * self.n_lut
        ).astype(index)
        # the linear tails beyond the end knots (targets.Extrapolation.extend); none: limits no score passes
        zero = np.zeros(F, dtype=np.float32)
        self.zk0 = per_block([np.float32(ex.zk0) if ex.zk0 is not None else -np.inf for ex in exs])
        self.zk1 = per_block([np.float32(ex.zk1) if ex.zk0 is not None else np.inf for ex in exs])
        tails = [ex._f32 if ex.zk0 is not None else (zero,) * 4 for ex in exs]
        self.q0, self.s_lo, self.q1, self.s_hi = (
            np.stack([t[i] for t in tails])[:, None, :] for i in range(4)
        )
        # the transforms (targets.Transform.inverse): the sign is -1 for log_upper, 1 for log_lower,
        # 0 for the identity (whose values are put back afterwards)
        kinds = [b.transform.kind for b in blocks]
        self.sign = per_block([-1.0 if k == "log_upper" else 1.0 if k == "log_lower" else 0.0 for k in kinds])
        self.eps = per_block(
            [np.float32(b.transform.eps) if k != "identity" else 0.0 for b, k in zip(blocks, kinds)]
        )
        self.bound = per_block(
            [np.float32(b.transform.bound) if k != "identity" else 0.0 for b, k in zip(blocks, kinds)]
        )
        self.identity = [i for i, k in enumerate(kinds) if k == "identity"]
        f32 = np.finfo(np.float32)
        self.lower = per_block([np.float32(max(m.lower, float(f32.min))) for m in bounds])
        self.upper = per_block([np.float32(min(m.upper, float(f32.max))) for m in bounds])

    def amplitudes(self, t: np.ndarray) -> np.ndarray:
        """Each block's seed-noise amplitude (B, n) float32 from targets ``t``: exp(log amplitude) less the floor,
        at least 0 (:meth:`curves` makes them itself when it is not given them)."""
        return noise_amplitudes(t.T.take(self.amp_rows, axis=0), self.amp_floor)

    def curves(
        self, t: np.ndarray, shape_idx: np.ndarray | None, amp: np.ndarray | None = None
    ) -> np.ndarray:
        """Raw curves (B, n, F) float32 of (n, width) float64 targets ``t``; ``shape_idx``: the noise bank rows
        (None: the mean); ``amp``: the blocks' :meth:`amplitudes`, when the caller made them (with the cost's:
        one call for all)."""
        n = t.shape[0]
        B, F = self.n_blocks, self.n_fid
        # targets._combine: mu + s_0 c_0 + s_1 c_1 + ... in float32, one pass per component
        # row `width`: the zeros of a missing component; row `width + 1`: the ones that multiply mu
        s = np.empty((self.width + 2, n), dtype=np.float32)
        s[self.width :] = _ZERO_ONE
        s[: self.width] = t.T
        kmax = self.comps.shape[1]
        if B * kmax * n * F <= SMALL:
            # every product in one call (1 x mu exactly, then s_j c_j), then one reduction over the
            # components, which numpy makes element by element in order (the grid is its inner loop; with a
            # grid of one fidelity there are at most 2 terms, below numpy's pairwise blocks): _combine's
            # sums, bit for bit (tested)
            prod = s.take(self.score_rows1, axis=0)[:, :, :, None] * self.comps1
            z = np.add.reduce(prod, axis=1)
        else:  # a big chunk: one product at a time, in a buffer that stays in cache
            scores = s.take(self.score_rows, axis=0)  # (B, kmax, n)
            z = np.empty((B, n, F), dtype=np.float32)
            z[...] = self.mu
            tmp = np.empty_like(z)
            for j in range(kmax):
                np.multiply(scores[:, j, :, None], self.comps[:, j], out=tmp)
                z += tmp
        np.maximum(z, self.mean_lo, out=z)  # MetricBlock.decode: within the range of the training curves
        np.minimum(z, self.mean_hi, out=z)
        if shape_idx is not None:  # CurveSurrogate._predict_curves and MetricBlock.curves: the seed noise
            if amp is None:
                amp = self.amplitudes(t)
            shape = self.bank.take(shape_idx, axis=1)
            shape *= amp[:, :, None]
            z += shape
            np.maximum(z, self.seed_lo, out=z)
            np.minimum(z, self.seed_hi, out=z)
        g = self._lookup(z)
        self._extend(z, g)
        keep = g[self.identity] if self.identity else None
        # Transform.inverse: exp(+-g) - eps, at least 0, sign back, plus the bound
        g *= self.sign
        np.exp(g, out=g)
        g -= self.eps
        np.maximum(g, _ZERO32, out=g)
        g *= self.sign
        g += self.bound
        if keep is not None:
            g[self.identity] = keep
        np.maximum(g, self.lower, out=g)  # the metric's declared bounds
        np.minimum(g, self.upper, out=g)
        return g

    def _lookup(self, z: np.ndarray) -> np.ndarray:
        """ScoreTable.inverse of every block at once."""
        u = z - self.lut_z0
        u *= self.lut_scale
        nan = np.isnan(u)
        has_nan = np.count_nonzero(nan) > 0  # quicker than ndarray.any on a small array (no Python wrapper)
        if has_nan:
            u[nan] = 0
        np.maximum(u, _ZERO32, out=u)  # np.clip(u, 0, n - 1), as two ufuncs
        np.minimum(u, self.lut_top, out=u)
        i = u.astype(self.lut_offset.dtype)
        np.minimum(i, self.lut_last, out=i)
        u -= i.astype(np.float32)  # exact in float32 as in float64: u lies in [i, i + 1], i < 2**24
        i += self.lut_offset
        ab = self.lut.take(i).view(np.float32)  # (..., 2F): the value at each knot, then the step to the next
        g = ab[..., 1::2] * u
        g += ab[..., 0::2]  # value + step x fraction (one float32 sum either way round)
        if has_nan:
            g[nan] = np.nan
        return g

    def _extend(self, z: np.ndarray, g: np.ndarray) -> None:
        """Extrapolation.extend of every block at once: scores beyond the end knots follow the linear tails."""
        for side in (0, 1):
            out = z < self.zk0 if side == 0 else z > self.zk1
            if not np.count_nonzero(out):
                continue
            # the tail's value everywhere, kept where the score is beyond the knot:
            # q0 - s_lo (zk0 - z), q1 + s_hi (z - zk1)
            # (a block without tails has infinite knots and zero slopes: NaN there, never kept)
            with np.errstate(invalid="ignore", over="ignore"):
                if side == 0:
                    tail = self.zk0 - z
                    tail *= self.s_lo
                    np.subtract(self.q0, tail, out=tail)
                else:
                    tail = z - self.zk1
                    tail *= self.s_hi
                    tail += self.q1
            np.copyto(g, tail, where=out)


class CostCurves:
    """:meth:`targets.CostBlock.decode` and :meth:`~targets.CostBlock.curves` with the seed noise, in fewer calls.

    The same elementwise operations in the same order (so the same numbers, tested), with the block's
    constants converted to float32 once instead of on every call. ``noise``: the block's noise
    factor; ``bank``: its float32 noise bank (n_bank, 1).
    """

    def __init__(self, block: CostBlock, noise: float, bank: np.ndarray) -> None:
        self.k = block.n_components
        self.n_fid = block.n_fid
        if self.k:
            self.comps = np.asarray(block.comps, dtype=np.float32)
            self.mu = np.asarray(block.mu, dtype=np.float32)
            # mu as component 0 (its score is exactly 1): one reduction sums mu + s_0 c_0 + ... in order
            self.comps1 = np.concatenate([self.mu[None], self.comps])
        self.lo, self.hi = block.log_range
        self.amp_floor = block.amp_floor
        self.lo0, self.hi0, self.amp_floor0 = (
            _const(v, np.float64) for v in (self.lo, self.hi, self.amp_floor)
        )
        # the bank rows times the noise factor, the float32 product made once
        self.bank = np.ascontiguousarray(bank[:, 0], dtype=np.float32) * np.float32(noise)

    def amplitude(self, t: np.ndarray) -> np.ndarray:
        """The seed-noise amplitude (n,) float32 of targets ``t``: exp(log amplitude) less the floor, at least 0."""
        return noise_amplitudes(t[:, -1], self.amp_floor0)

    def curves(
        self, t: np.ndarray, shape_idx: np.ndarray | None, amp: np.ndarray | None = None
    ) -> np.ndarray:
        """Cumulative cost (n, F) float64 of the block's (n, k + 2) float64 targets ``t``; ``amp``: its
        :meth:`amplitude`, when the caller made it."""
        n, k = t.shape[0], self.k
        if k:
            if n * k * self.n_fid <= SMALL:  # as StackedMetrics.curves: 1 x mu, s_j c_j, one reduction
                s = np.empty((n, k + 1), dtype=np.float32)
                s[:, 0] = 1.0
                # cast as it is copied (an overflow to inf without a warning, as before)
                s[:, 1:] = t[:, 1 : 1 + k]
                share = np.add.reduce(s[:, :, None] * self.comps1, axis=1)
            else:
                s = t[:, 1 : 1 + k].astype(np.float32)
                share = np.empty((n, self.n_fid), dtype=np.float32)
                share[:] = self.mu
                tmp = np.empty_like(share)
                for j in range(k):
                    np.multiply(s[:, j : j + 1], self.comps[j], out=tmp)
                    share += tmp
            np.maximum(share, _ZERO32, out=share)
            cum = np.add.accumulate(share, axis=1, out=share)  # np.cumsum's sums, without its wrapper
            # no positive share predicted: spread the cost evenly (one row: a scalar test, the same answer)
            if n == 1:
                if cum[0, -1] <= 0:
                    cum[0] = np.arange(1, self.n_fid + 1, dtype=np.float32)
            else:
                empty = cum[:, -1] <= 0
                if empty.any():
                    cum[empty] = np.arange(1, self.n_fid + 1, dtype=np.float32)
            cum /= cum[:, -1:]
        else:
            cum = np.ones((n, 1))
        lt = np.maximum(t[:, 0], self.lo0)  # np.clip to the log range, as two ufuncs
        np.minimum(lt, self.hi0, out=lt)
        if shape_idx is not None:
            shape = self.bank[shape_idx]
            shape *= self.amplitude(t) if amp is None else amp
            lt = lt + shape
        return np.exp(lt)[:, None] * cum
