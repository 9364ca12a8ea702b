"""A small product-kernel density estimator with the kernels of statsmodels' KDEMultivariate.

* continuous dimensions: Gaussian kernel;
* categorical dimensions: Aitchison-Aitken kernel, ``1 - h`` for the same
  category and ``h / (c - 1)`` for any other of the ``c`` categories.

Bandwidths follow statsmodels' ``bw="normal_reference"`` rule,
``1.06 * std * n**(-1 / (4 + d))`` for every dimension, then are clipped to
``min_bandwidth`` (as hpbandster does). One difference on purpose:
statsmodels counts a categorical dimension's levels from the data, so a
category absent from the data gets an infinite density (the failure
hpbandster's BOHB warns about); here ``c`` is the number of choices in the
space. Evaluation is vectorized over query points.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KDE"]

_SQRT_2PI = np.sqrt(2.0 * np.pi)
#: :meth:`KDE.pdf` evaluates this many (query, data point, dimension) kernel values at a time at most
PDF_CHUNK = 1 << 21


class KDE:
    """Product-kernel KDE over ``data`` (n, d); ``n_levels[j] > 0`` marks a categorical dimension."""

    def __init__(self, data: np.ndarray, n_levels: np.ndarray, min_bandwidth: float = 1e-3) -> None:
        self.data = np.asarray(data, dtype=float)
        if self.data.ndim != 2 or self.data.shape[0] < 1:
            raise ValueError(f"KDE data must be a non-empty 2-d array, got shape {self.data.shape}")
        n, d = self.data.shape
        self.n_levels = np.asarray(n_levels, dtype=np.int64)
        if self.n_levels.shape != (d,):
            raise ValueError(f"n_levels has shape {self.n_levels.shape}, expected ({d},)")
        self.categorical = self.n_levels > 0
        bw = 1.06 * self.data.std(axis=0) * n ** (-1.0 / (4 + d))
        self.bw = np.clip(bw, min_bandwidth, None)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density at each row of ``x`` (m, d) -> (m,).

        Queries go in chunks of at most :data:`PDF_CHUNK` kernel values, so that
        memory stays bounded for a large KDE; each query's density is computed
        on its own, so the numbers do not depend on the chunking.
        """
        x = np.atleast_2d(np.asarray(x, dtype=float))
        step = max(1, PDF_CHUNK // max(self.data.size, 1))
        if x.shape[0] <= step:
            return self._pdf(x)
        return np.concatenate([self._pdf(x[i : i + step]) for i in range(0, x.shape[0], step)])

    def _pdf(self, x: np.ndarray) -> np.ndarray:
        # one dimension at a time: the same kernel values, multiplied in the same order (dimension 0 first) as
        # a product over the last axis of the (m, n, d) array of kernel values, without holding that array
        out = None
        for j in range(self.data.shape[1]):
            diff = x[:, j, None] - self.data[None, :, j]  # (m, n)
            h = self.bw[j]
            if self.categorical[j]:
                k = np.where(diff == 0, 1.0 - h, h / max(self.n_levels[j] - 1, 1))
            else:
                k = np.exp(-0.5 * (diff / h) ** 2) / (_SQRT_2PI * h)
            if out is None:
                out = k
            else:
                out *= k
        return out.mean(axis=1)

    def _pdf_reference(self, x: np.ndarray) -> np.ndarray:
        """:meth:`_pdf` as one (m, n, d) array (the original formulation; tests compare the two)."""
        diff = x[:, None, :] - self.data[None, :, :]  # (m, n, d)
        k = np.empty_like(diff)
        cont = ~self.categorical
        if cont.any():
            h = self.bw[cont]
            k[..., cont] = np.exp(-0.5 * (diff[..., cont] / h) ** 2) / (_SQRT_2PI * h)
        if self.categorical.any():
            h = self.bw[self.categorical]
            c = self.n_levels[self.categorical]
            same = diff[..., self.categorical] == 0
            k[..., self.categorical] = np.where(same, 1.0 - h, h / np.maximum(c - 1, 1))
        return k.prod(axis=2).mean(axis=1)
