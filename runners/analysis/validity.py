"""Can a benchmark rank optimizers at all? Exact random-search expectations and per-benchmark validity checks.

Pure functions (numpy, pandas, scipy); the report (:mod:`runners.report`) calls them. Every quantity is
explained in docs/validity.md.

* Exact expected incumbent of random search after ``k`` draws on a table, by order statistics (no simulation, so
  no luck): :func:`expected_min_with_replacement` (values drawn uniformly with replacement; what
  ``RandomSearch`` does today on a table: a configuration uniformly with replacement and, independently, a seed
  uniformly among the table's seeds, i.e. a uniform draw from the pooled ``configurations x seeds`` values),
  :func:`expected_min_without_replacement` (``k`` distinct values of a vector: the hypergeometric version) and
  :func:`expected_min_distinct_configs` (``k`` distinct configurations, each with a seed drawn uniformly and
  independently: random search without repeats on a table with several seeds). With one seed the last two agree.
* Fidelity and seed checks of a table: :func:`rung_fidelities`, :func:`rung_correlations`, :func:`seed_ceiling`.
* Coverage: :func:`expected_coverage` (expected fraction of a table random search draws).
* The order of the optimizers against random search: :func:`compare_with_baseline` (one-sided Wilcoxon signed-rank
  tests across seeds, Holm-corrected per benchmark, matched-pairs rank-biserial effect sizes).
* Table against surrogate: :func:`ranking_agreement` (Kendall tau of the methods' median final regret, with a
  seeded bootstrap interval over seeds).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln

#: the ``optimizer_info`` (describe()) keys that say a random search draws without replacement
WITHOUT_REPLACEMENT_KEYS = ("replace", "sampling", "with_replacement", "without_replacement")
MIN_SEEDS = 10


# ---------------------------------------------------------------- order statistics of random search
def _sorted_finite(values: np.ndarray) -> tuple[np.ndarray, int]:
    """The finite values sorted ascending (as losses) and the number of non-finite ones (never incumbents)."""
    v = np.asarray(values, dtype=float).ravel()
    fin = np.sort(v[np.isfinite(v)])
    return fin, int(v.size - fin.size)


def _expectation(x: np.ndarray, survival: np.ndarray) -> np.ndarray:
    """E[min | some draw finite] from the distinct sorted finite values ``x`` (T,) and ``survival`` (T, K).

    ``survival[i, k-1] = P(min of k draws > x_i)`` (non-finite values count as +inf). P(min = x_i) is
    ``S(x_{i-1}) - S(x_i)`` with ``S(x_0) = 1``; the expectation is conditional on at least one finite draw
    (a run whose draws all diverged has no incumbent), i.e. divided by ``1 - S(x_T)``.
    """
    prev = np.vstack([np.ones((1, survival.shape[1])), survival[:-1]])
    pmf = prev - survival
    finite_mass = 1.0 - survival[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x[:, None] * pmf).sum(axis=0) / finite_mass


def _levels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The distinct finite values, how many values lie above each (non-finite ones included), and N; None if none."""
    fin, n_bad = _sorted_finite(values)
    if not fin.size:
        return None
    N = fin.size + n_bad
    x, first = np.unique(fin, return_index=True)
    counts = np.diff(np.append(first, fin.size))
    return x, N - np.cumsum(counts), N


def expected_min_with_replacement(values: np.ndarray, n: int) -> np.ndarray:
    """E[min of k draws], k = 1..n, each draw uniform over ``values`` (all of them, with replacement).

    With the values sorted, ``v_(1) <= ... <= v_(N)``: ``E = sum_k v_(k) [((N-k+1)/N)^n - ((N-k)/N)^n]``;
    non-finite values are never incumbents (conditional on one finite draw). Values are losses (lower is better).
    """
    levels = _levels(values)
    if levels is None:
        return np.full(n, np.nan)
    x, above, N = levels
    k = np.arange(1, n + 1)
    survival = (above[:, None] / N) ** k[None, :]
    return _expectation(x, survival)


def _log_comb(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    out = np.full(a.shape, -np.inf)
    ok = (b >= 0) & (b <= a)
    out[ok] = gammaln(a[ok] + 1) - gammaln(b[ok] + 1) - gammaln(a[ok] - b[ok] + 1)
    return out


def expected_min_without_replacement(values: np.ndarray, n: int) -> np.ndarray:
    """E[min of k distinct draws], k = 1..n (k <= N), from ``values`` without replacement (hypergeometric).

    ``P(min > x) = C(#{v > x}, k) / C(N, k)``; beyond N draws the value stays at the minimum. Losses, as above.
    """
    levels = _levels(values)
    if levels is None:
        return np.full(n, np.nan)
    x, above, N = levels
    k = np.minimum(np.arange(1, n + 1), N)
    survival = np.exp(_log_comb(above[:, None], k[None, :]) - _log_comb(np.full(1, N), k)[None, :])
    return _expectation(x, survival)


#: the largest (configurations x distinct values) for which expected_min_distinct_configs runs (its work and
#: memory grow with the product: the 62,208-configuration published tables would need about 100 GB)
MAX_EXACT_CELLS = 50_000_000


class TooLargeForExact(ValueError):
    """The table is too large for :func:`expected_min_distinct_configs`; the message says why."""


def expected_min_distinct_configs(matrix: np.ndarray, n: int) -> np.ndarray:
    """E[min of k draws], k = 1..n: k *distinct* configurations (rows), each at a seed (column) drawn uniformly.

    With ``q_c(x)`` the fraction of row ``c``'s seeds whose value exceeds ``x`` (non-finite counts as above),
    ``P(min > x) = e_k(q(x)) / C(C, k)`` (``e_k`` the elementary symmetric polynomial), computed by the stable
    recursion ``f_j(k) = (j-k)/j f_{j-1}(k) + k/j q_j f_{j-1}(k-1)`` for the average of the products over k-subsets.
    One column: the hypergeometric formula. Beyond C draws the table is exhausted and the value stays.
    """
    m = np.asarray(matrix, dtype=float)
    if m.ndim == 1:
        m = m[:, None]
    fin = m[np.isfinite(m)]
    if not fin.size:
        return np.full(n, np.nan)
    x = np.unique(fin)
    C, S = m.shape
    K = min(n, C)
    if C * x.size > MAX_EXACT_CELLS:
        raise TooLargeForExact(
            f"{C:,} configurations x {x.size:,} distinct values is beyond the exact computation's limit "
            f"({MAX_EXACT_CELLS:,} cells)"
        )
    loss = np.where(np.isfinite(m), m, np.inf)
    # q[c, i] = fraction of seeds of configuration c with a value > x_i
    q = np.zeros((C, x.size))
    for s in range(S):
        q += loss[:, s][:, None] > x[None, :]
    q /= S
    f = np.zeros((x.size, K + 1))
    f[:, 0] = 1.0
    ks = np.arange(1, K + 1)
    for j in range(1, C + 1):
        a = np.clip(j - ks, 0, None) / j
        b = ks / j
        f[:, 1:] = a[None, :] * f[:, 1:] + b[None, :] * q[j - 1][:, None] * f[:, :-1]
    survival = f[:, 1:]
    out = _expectation(x, survival)
    if n > K:
        out = np.concatenate([out, np.full(n - K, out[-1])])
    return out


def draws_without_replacement(optimizer_info: Mapping[str, Any] | None) -> bool:
    """Whether a random search's ``describe()`` says it draws a table's configurations without replacement.

    Read from ``repeats: "avoid"`` (the runner's policy since partial tables are handled honestly: random
    search on a table is then a random permutation of it), ``replace: false``, ``with_replacement: false``,
    ``without_replacement: true`` or a ``sampling`` string containing "without". Absent: with replacement
    (what RandomSearch did before the repeat policy).
    """
    info = optimizer_info or {}
    if info.get("repeats") == "avoid":
        return True
    if info.get("replace") is False or info.get("with_replacement") is False:
        return True
    if info.get("without_replacement") is True:
        return True
    return "without" in str(info.get("sampling", "")).lower()


def expected_rs_curve(matrix: np.ndarray, n: int, *, without_replacement: bool) -> np.ndarray:
    """Random search's exact expected incumbent (as a loss) after k = 1..n evaluations on a (configs, seeds) matrix."""
    if without_replacement:
        return expected_min_distinct_configs(matrix, n)
    return expected_min_with_replacement(np.asarray(matrix, float).ravel(), n)


def expected_coverage(n_configs: int, n: int, *, without_replacement: bool) -> float:
    """Expected fraction of a table's configurations that ``n`` random draws reach: ``1 - (1 - 1/C)^n`` or
    ``min(n, C)/C``."""
    if n_configs <= 0:
        return math.nan
    if without_replacement:
        return min(n, n_configs) / n_configs
    return 1.0 - (1.0 - 1.0 / n_configs) ** n


# ---------------------------------------------------------------- fidelity and seeds
def rung_fidelities(values: Sequence[float], eta: float = 3.0) -> list[float]:
    """The fidelities Hyperband with ``eta`` uses: ``max * eta^-k`` for k = 0, 1, ... while >= the minimum,
    each snapped to the nearest fidelity the benchmark holds; ascending, without duplicates."""
    vals = np.sort(np.asarray(values, dtype=float))
    lo, hi = vals[0], vals[-1]
    out: list[float] = []
    k = 0
    while True:
        r = hi * eta**-k
        if r < lo * (1 - 1e-9) and k:
            break
        out.append(float(vals[np.argmin(np.abs(vals - r))]))
        k += 1
        if k > 64:
            break
    return sorted(set(out))


def _spearman(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return math.nan, int(ok.sum())
    return float(stats.spearmanr(a[ok], b[ok]).statistic), int(ok.sum())


def rung_correlations(by_fidelity: Mapping[float, np.ndarray]) -> pd.DataFrame:
    """Spearman rank correlation of each fidelity's values with the maximum fidelity's, over configurations.

    ``by_fidelity`` maps fidelity -> (configurations, seeds) array; each configuration's values are averaged over
    seeds first (NaN where any seed diverged). Columns: fidelity, spearman, n_configs.
    """
    top = max(by_fidelity)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.asarray(by_fidelity[top], float).mean(axis=1)
        rows = []
        for f in sorted(by_fidelity):
            rho, n = _spearman(np.asarray(by_fidelity[f], float).mean(axis=1), ref)
            rows.append({"fidelity": f, "spearman": rho, "n_configs": n})
    return pd.DataFrame(rows, columns=["fidelity", "spearman", "n_configs"])


def seed_ceiling(top: np.ndarray) -> float:
    """Spearman rank correlation between the first two seeds at the maximum fidelity; NaN with one seed."""
    top = np.asarray(top, float)
    if top.ndim != 2 or top.shape[1] < 2:
        return math.nan
    return _spearman(top[:, 0], top[:, 1])[0]


# ---------------------------------------------------------------- the order against random search
def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not ok.size:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    adj = np.maximum.accumulate([(m - i) * p[j] for i, j in enumerate(order)])
    out[order] = np.minimum(adj, 1.0)
    return out


def _signed_rank(d: np.ndarray, alternative: str) -> float:
    """p-value of ``scipy.stats.wilcoxon`` (zeros dropped, scipy's default method: the exact permutation
    distribution for small samples, ties included). The statistic depends only on the signed ranks of ``d``, so
    the test runs on those and is cached: many pairs of methods share a pattern, e.g. "lower on every seed"."""
    d = d[np.isfinite(d)]
    if not d.size or np.all(d == 0):
        return 1.0 if d.size else math.nan
    nz = d[d != 0]
    signed = np.sign(nz) * stats.rankdata(np.abs(nz))
    return _wilcoxon_ranks(tuple(float(x) for x in np.sort(signed)), alternative)


@functools.lru_cache(maxsize=4096)
def _wilcoxon_ranks(signed: tuple[float, ...], alternative: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.wilcoxon(np.asarray(signed), alternative=alternative, zero_method="wilcox").pvalue)


def rank_biserial(d: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation of differences ``d`` (zeros dropped): (R+ - R-) / (R+ + R-), in [-1, 1].

    Negative: the method's regret is mostly below the baseline's (better)."""
    d = d[np.isfinite(d) & (d != 0)]
    if not d.size:
        return 0.0
    r = stats.rankdata(np.abs(d))
    return float((r[d > 0].sum() - r[d < 0].sum()) / r.sum())


def compare_with_baseline(
    finals: pd.DataFrame, value: str, baseline: str | Mapping[str, str], alpha: float = 0.05
) -> pd.DataFrame:
    """Per benchmark and method: is its final ``value`` (a regret, lower is better) below or above the baseline's?

    ``baseline``: one method, or each method's own (``stats.baselines_by_workers``: random search at the method's
    worker count; methods without one, and the baselines themselves, are left out). Runs are paired by seed
    number (the same seeds run for every method). Two one-sided Wilcoxon signed-rank tests
    per method (``scipy.stats.wilcoxon``; "better": the method's regret is lower, "worse": higher); the p-values of
    all methods and both directions of one benchmark are Holm-corrected together. Effect sizes: the median of the
    paired differences and the matched-pairs rank-biserial correlation. Columns: benchmark, method, n_pairs,
    median_diff, rank_biserial, p_better, p_worse (Holm-adjusted), verdict ("better", "worse", "no difference"),
    enough_seeds (n_pairs >= MIN_SEEDS).
    """
    rows = []
    for b, sub in finals.groupby("benchmark", sort=True):
        wide = sub.pivot_table(index="seed", columns="method", values=value, aggfunc="first")
        base_of = {m: baseline for m in wide.columns} if isinstance(baseline, str) else dict(baseline)
        bases = set(base_of.values())
        raw: list[tuple[str, int, float, float, float, float]] = []
        for m in sorted(c for c in wide.columns if c not in bases and base_of.get(c) in wide):
            pair = wide[[m, base_of[m]]].dropna()
            d = (pair[m] - pair[base_of[m]]).to_numpy(float)
            raw.append(
                (
                    m,
                    len(d),
                    float(np.median(d)) if len(d) else math.nan,
                    rank_biserial(d),
                    _signed_rank(d, "less"),
                    _signed_rank(d, "greater"),
                )
            )
        if not raw:
            continue
        adj = holm([r[4] for r in raw] + [r[5] for r in raw])
        for i, (m, n, med, rb, _, _) in enumerate(raw):
            pb, pw = adj[i], adj[len(raw) + i]
            verdict = "better" if pb < alpha else "worse" if pw < alpha else "no difference"
            rows.append(
                {
                    "benchmark": b,
                    "method": m,
                    "n_pairs": n,
                    "median_diff": med,
                    "rank_biserial": rb,
                    "p_better": pb,
                    "p_worse": pw,
                    "verdict": verdict,
                    "enough_seeds": n >= MIN_SEEDS,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "benchmark",
            "method",
            "n_pairs",
            "median_diff",
            "rank_biserial",
            "p_better",
            "p_worse",
            "verdict",
            "enough_seeds",
        ],
    )


# ---------------------------------------------------------------- table against surrogate
def surrogate_pairs(benchmarks: Sequence[str], suffix: str = "-surrogate") -> list[tuple[str, str]]:
    """(X, X-surrogate) for every benchmark X whose surrogate is also in ``benchmarks``."""
    have = set(benchmarks)
    return [(b, b + suffix) for b in sorted(have) if b + suffix in have]


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of ``x`` and ``y`` along the last axis, vectorized over the leading ones.

    The statistic of ``scipy.stats.kendalltau`` (its default variant, tau-b: ties counted on each side), written
    on arrays so that a bootstrap evaluates all its replicates in one call; NaN where either side is all ties
    or holds a NaN. Tested equal to scipy's.
    """
    k = x.shape[-1]
    i, j = np.triu_indices(k, 1)
    dx = np.sign(x[..., i] - x[..., j])
    dy = np.sign(y[..., i] - y[..., j])
    s = (dx * dy).sum(axis=-1)
    denom = np.sqrt((dx != 0).sum(axis=-1) * (dy != 0).sum(axis=-1).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, s / np.where(denom > 0, denom, 1.0), np.nan)


def ranking_agreement(
    finals: pd.DataFrame, table: str, surrogate: str, value: str, *, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Kendall tau between the methods' median final ``value`` on ``table`` and on ``surrogate``.

    The interval is a 95 % BCa bootstrap over seeds (``scipy.stats.bootstrap``): each replicate resamples, per
    benchmark and method, that method's seeds with replacement (``numpy.random.default_rng(seed)``, so the report
    is deterministic). BCa, not the percentile interval: where several methods tie (e.g. all reach a table's
    optimum) the bootstrap distribution of tau is skewed and a percentile interval can miss the point estimate;
    BCa corrects for that bias. When every replicate gives the same tau the interval is that value.
    Only methods run on both benchmarks take part.
    """
    per: dict[str, dict[str, np.ndarray]] = {}
    for b in (table, surrogate):
        sub = finals[finals["benchmark"] == b]
        per[b] = {m: g[value].to_numpy(float) for m, g in sub.groupby("method", sort=True)}
    methods = sorted(set(per[table]) & set(per[surrogate]))
    methods = [
        m for m in methods if np.isfinite(per[table][m]).any() and np.isfinite(per[surrogate][m]).any()
    ]
    out = {
        "table": table,
        "surrogate": surrogate,
        "n_methods": len(methods),
        "tau": math.nan,
        "low": math.nan,
        "high": math.nan,
    }
    if len(methods) < 3:
        return out

    a = [per[table][m] for m in methods]
    b = [per[surrogate][m] for m in methods]
    k = len(methods)

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        # samples: k methods on the table, then k on the surrogate, each (..., n_seeds); one tau per batch element
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples give NaN medians
            med = [np.nanmedian(v, axis=axis) for v in samples]
        return kendall_tau_b(np.stack(med[:k], axis=-1), np.stack(med[k:], axis=-1))

    out["tau"] = float(statistic(*a, *b))
    if not math.isfinite(out["tau"]):  # every method ties on one side: no order to agree with
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            tuple(a + b),
            statistic,
            n_resamples=n_boot,
            method="BCa",
            vectorized=True,
            paired=False,
            confidence_level=0.95,
            rng=np.random.default_rng(seed),
        )
    boots = np.asarray(res.bootstrap_distribution, dtype=float)
    boots = boots[np.isfinite(boots)]
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if boots.size and np.all(boots == boots[0]):
        lo = hi = float(boots[0])
    elif (
        not (math.isfinite(lo) and math.isfinite(hi)) and boots.size
    ):  # BCa undefined: the percentile interval
        lo, hi = (float(x) for x in np.percentile(boots, [2.5, 97.5]))
    out["low"], out["high"] = lo, hi
    return out
