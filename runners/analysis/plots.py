"""Figures of the report: regret over time, average rank, critical differences, parallel scaling.

Every figure is a :class:`matplotlib.figure.Figure` built without pyplot's
global state (except the critical-difference diagram, which autorank draws),
saved as PNG and SVG with fixed metadata so that the same data gives the same
files. One :class:`Palette` gives each method the same colour and line style
in every figure: colour by optimizer, line style by worker count.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benchmarks.io import atomic_path

RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "svg.hashsalt": "curvebench",
    "svg.fonttype": "none",
}
_LINESTYLES = ["-", "--", ":", "-."]
#: 15 qualitative colours, none of them grey (grey is the baseline's): the Okabe-Ito colour-blind-safe set first,
#: then Paul Tol's "muted" set; beyond 15 methods colours repeat and the markers keep methods apart
_COLORS = [
    "#e69f00",
    "#56b4e9",
    "#009e73",
    "#0072b2",
    "#d55e00",
    "#cc79a7",
    "#f0e442",
    "#000000",
    "#332288",
    "#88ccee",
    "#44aa99",
    "#117733",
    "#999933",
    "#cc6677",
    "#882255",
]
#: one marker per optimizer, so that methods stay apart in grey print and where colours are close
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "p", "d", "*", "H", "8"]
#: markers along each line, spread by index
_MARKERS_PER_LINE = 8
#: spacing between panels; the outer margins are cropped by ``bbox_inches="tight"`` when saving
_GRID = {"wspace": 0.34, "hspace": 0.5}


def _panel_grid(n: int) -> tuple[Figure, np.ndarray]:
    """A figure of ``n`` small panels, three to a row (call inside the rc context)."""
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.6 * ncols, 2.8 * nrows))
    return fig, fig.subplots(nrows, ncols, squeeze=False, gridspec_kw=_GRID)


_BASELINE_COLOR = "#4d4d4d"


@dataclass(frozen=True)
class Palette:
    """Colour and line style per method, fixed for the whole report."""

    color: Mapping[str, str]
    linestyle: Mapping[str, str]
    order: tuple[str, ...]
    marker: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def for_methods(cls, runs: pd.DataFrame, baseline: str | None = None) -> Palette:
        """Colour and marker by optimizer (the baseline dark grey, no marker), line style by worker count.

        Up to 15 optimizers get 15 different colours (none grey) and 15 different markers, so
        that every method stays distinct in colour and in grey print.
        """
        opts = sorted(o for o in runs["optimizer"].unique() if o != baseline)
        ocol = {o: _COLORS[i % len(_COLORS)] for i, o in enumerate(opts)}
        omark = {o: _MARKERS[i % len(_MARKERS)] for i, o in enumerate(opts)}
        if baseline is not None:
            ocol[baseline], omark[baseline] = _BASELINE_COLOR, ""
        pairs = runs[["method", "optimizer", "n_workers"]].drop_duplicates("method")
        workers = sorted(pairs["n_workers"].dropna().unique())
        color, style, marker = {}, {}, {}
        for m, o, w in pairs.itertuples(index=False):
            color[m], marker[m] = ocol[o], omark[o]
            style[m] = (
                _LINESTYLES[workers.index(w) % len(_LINESTYLES)] if w == w and len(workers) > 1 else "-"
            )
        order = tuple(sorted(color, key=lambda m: (m.split(" (")[0] != baseline, m)))
        return cls(color, style, order, marker)

    def kw(self, method: str, n_points: int = 0) -> dict[str, object]:
        """Keyword arguments of ``Axes.plot`` for one method's line of ``n_points`` points (markers on about
        ``_MARKERS_PER_LINE`` of them, by index: robust to lines that a log axis clips to nothing)."""
        out: dict[str, object] = {
            "color": self.color.get(method, "k"),
            "linestyle": self.linestyle.get(method, "-"),
        }
        if self.marker.get(method):
            out.update(
                marker=self.marker[method],
                markersize=4,
                markevery=max(1, int(n_points) // _MARKERS_PER_LINE) if n_points else None,
            )
        return out


def save_figure(fig: Figure, out_dir: Path, name: str) -> dict[str, Path]:
    """Write ``name.png`` (150 dpi) and ``name.svg`` under ``out_dir`` atomically; return both paths."""
    paths = {}
    for ext, extra in (
        ("png", {"dpi": 150, "metadata": {"Software": None}}),
        ("svg", {"metadata": {"Date": None, "Creator": None}}),
    ):
        path = out_dir / f"{name}.{ext}"
        with matplotlib.rc_context(RC), atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, bbox_inches="tight", facecolor="white", **extra)
        paths[ext] = path
    return paths


# ---------------------------------------------------------------- regret over time
def regret_over_time(
    summaries: Mapping[str, pd.DataFrame],
    palette: Palette,
    *,
    x: str,
    ylabel: str,
    titles: Mapping[str, str],
    xlabel: str,
    band: bool = True,
    markers: Mapping[str, tuple[float, float, str]] | None = None,
) -> Figure:
    """One panel per entry of ``summaries`` (title -> mean/se per method over ``x``), log-log axes.

    Each summary has columns method, ``x``, mean and se; the band is mean ± se
    where se is defined. A panel whose values include zero uses a symmetric-log
    y axis so that a regret of exactly 0 stays visible. ``markers``: per panel
    key, one labelled point ``(x, y, label)`` drawn as a black star (e.g. random
    search's exact expected final regret at the horizon).
    """
    n = len(summaries)
    with matplotlib.rc_context(RC):
        fig, axes = _panel_grid(n)
        for ax, (key, s) in zip(axes.flat, summaries.items()):
            for m in palette.order:
                g = s[s["method"] == m]
                if not len(g):
                    continue
                xs, mean, se = g[x].to_numpy(float), g["mean"].to_numpy(float), g["se"].to_numpy(float)
                ax.plot(xs, mean, label=m, **palette.kw(m, len(xs)))
                if band and np.isfinite(se).any():
                    ax.fill_between(xs, mean - se, mean + se, color=palette.color[m], alpha=0.15, linewidth=0)
            extra = np.array([])
            if markers and key in markers and np.isfinite(markers[key][1]):
                mx, my, mlabel = markers[key]
                ax.plot(
                    [mx], [my], marker="*", color="k", linestyle="none", markersize=8, label=mlabel, zorder=6
                )
                extra = np.array([my])
            ax.set_xscale("log")
            _set_regret_yscale(ax, np.concatenate([s["mean"].to_numpy(float), extra]))
            _plain_log_ticks(ax)
            ax.set_title(titles.get(key, key))
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
        for ax in list(axes.flat)[n:]:
            ax.set_visible(False)
        _legend_outside(fig, axes.flat[0])
    return fig


def rs_expected(
    panels: Mapping[str, tuple[pd.DataFrame, np.ndarray | None, str]], color: str, *, ylabel: str
) -> Figure:
    """Random search on each table: simulated mean regret ± se over evaluations, and its exact expectation.

    ``panels``: title -> (DataFrame with columns k, mean, se of the simulated runs; the expected regret after
    k = 1..n evaluations or None; the label of the expected curve). Log-log axes.
    """
    n = len(panels)
    with matplotlib.rc_context(RC):
        fig, axes = _panel_grid(n)
        for ax, (title, (sim, exp, label)) in zip(axes.flat, panels.items()):
            ks, mean, se = sim["k"].to_numpy(float), sim["mean"].to_numpy(float), sim["se"].to_numpy(float)
            ax.plot(ks, mean, color=color, label="rs, simulated (mean over seeds ± se)")
            if np.isfinite(se).any():
                ax.fill_between(ks, mean - se, mean + se, color=color, alpha=0.15, linewidth=0)
            vals = [mean]
            if exp is not None:
                ax.plot(
                    np.arange(1, len(exp) + 1), exp, color="k", linestyle="--", linewidth=1.2, label=label
                )
                vals.append(np.asarray(exp, float))
            ax.set_xscale("log")
            _set_regret_yscale(ax, np.concatenate(vals))
            _plain_log_ticks(ax)
            ax.set_title(title)
            ax.set_xlabel("evaluations (in the order drawn)")
            ax.set_ylabel(ylabel)
        for ax in list(axes.flat)[n:]:
            ax.set_visible(False)
        _legend_outside(fig, axes.flat[0])
    return fig


def rank_over_time(
    ranks: Mapping[str, pd.DataFrame], palette: Palette, *, xlabel: str, n_methods: int
) -> Figure:
    """Average rank over budget fraction, one panel per entry (title -> method/frac/rank); rank 1 is best."""
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(3.6 * len(ranks), 2.8))
        axes = fig.subplots(1, len(ranks), squeeze=False, gridspec_kw=_GRID)
        for ax, (title, r) in zip(axes.flat, ranks.items()):
            for m in palette.order:
                g = r[r["method"] == m]
                if len(g):
                    ax.plot(g["frac"], g["rank"], label=m, **palette.kw(m, len(g)))
            ax.set_xscale("log")
            ax.set_ylim(n_methods + 0.3, 0.7)  # best at the top
            ax.set_yticks(range(1, n_methods + 1))
            _plain_log_ticks(ax, "x")
            ax.set_title(title)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("average rank (1 = best)")
        _legend_outside(fig, axes.flat[0])
    return fig


def scaling(summary: pd.DataFrame, table: pd.DataFrame, palette_by_optimizer: Mapping[str, str]) -> Figure:
    """Parallel speedup (time to target with the fewest workers / time with w workers) versus workers, log2-log2.

    Thin markers: single benchmarks; thick line: the geometric mean; dashed: linear scaling.
    """
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(4.4, 3.4))
        ax = fig.subplots()
        ws = sorted(table["n_workers"].unique())
        for opt, g in summary.groupby("optimizer", sort=True):
            c = palette_by_optimizer.get(opt, "k")
            t = table[table["optimizer"] == opt]
            ax.scatter(t["n_workers"], t["speedup"], color=c, s=10, alpha=0.35, linewidths=0)
            ax.plot(g["n_workers"], g["geomean_speedup"], color=c, marker="o", label=opt)
        ax.plot(
            ws,
            [w / ws[0] for w in ws],
            color="k",
            linestyle="--",
            linewidth=1,
            label="linear scaling",
            zorder=5,
        )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xticks(ws, [str(int(w)) for w in ws])
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, pos: f"{y:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("number of workers")
        ax.set_ylabel("speedup in time to target")
        ax.set_title("Parallel scaling (geometric mean over benchmarks)")
        _legend_outside(fig, ax)
    return fig


def _front_panels(
    panels: Mapping[str, tuple[Any, np.ndarray, Sequence[str]]], draw: Callable[[Any, Any], None]
) -> Figure:
    """One panel per benchmark in normalized objectives: the best reachable front (black dashes), then
    ``draw(ax, per_method)`` for the methods; ``panels`` maps a title to (per_method, front points, the
    objectives' names)."""
    n = len(panels)
    with matplotlib.rc_context(RC):
        fig, axes = _panel_grid(n)
        for ax, (title, (per_method, front, names)) in zip(axes.flat, panels.items()):
            if len(front):
                f = front[np.argsort(front[:, 0])]
                ax.step(
                    f[:, 0],
                    f[:, 1],
                    where="post",
                    color="k",
                    linestyle="--",
                    linewidth=1.0,
                    label="best front",
                )
            draw(ax, per_method)
            ax.set_xlim(right=1.0)
            ax.set_ylim(top=1.0)
            ax.set_title(title)
            ax.set_xlabel(f"{names[0]} (normalized)")
            ax.set_ylabel(f"{names[1]} (normalized)" if len(names) > 1 else "")
        for ax in list(axes.flat)[n:]:
            ax.set_visible(False)
        _legend_outside(fig, axes.flat[0])
    return fig


def attainment_surfaces(
    panels: Mapping[str, tuple[Mapping[str, np.ndarray], np.ndarray, Sequence[str]]], palette: Palette
) -> Figure:
    """One panel per benchmark: each method's attainment surface (points sorted by the first objective, drawn
    as the staircase they dominate) and the best reachable front (black dashes); ``panels`` maps a title to
    (method -> (n, 2) points, front points, the two objectives' names)."""

    def draw(ax, per_method: Mapping[str, np.ndarray]) -> None:
        for m in palette.order:
            pts = per_method.get(m)
            if pts is not None and len(pts):
                ax.step(pts[:, 0], pts[:, 1], where="post", label=m, color=palette.color[m], linewidth=1.4)

    return _front_panels(panels, draw)


def final_fronts(
    panels: Mapping[str, tuple[Mapping[str, Sequence[np.ndarray]], np.ndarray, Sequence[str]]],
    palette: Palette,
) -> Figure:
    """One panel per benchmark: every run's final front as markers in its method's colour (the first two
    objectives) and the best reachable front (black dashes); ``panels`` maps a title to (method -> one (n, k)
    point array per run, front points, the objectives' names)."""

    def draw(ax, per_method: Mapping[str, Sequence[np.ndarray]]) -> None:
        for m in palette.order:
            runs = [p for p in per_method.get(m, ()) if len(p)]
            if runs:
                pts = np.vstack(runs)
                inside = np.all(pts[:, :2] < 1.0, axis=1)
                ax.scatter(pts[inside, 0], pts[inside, 1], s=7, alpha=0.45, color=palette.color[m], label=m)

    return _front_panels(panels, draw)


def cd_diagram(result, title: str) -> Figure:
    """The critical-difference diagram of an autorank result (Nemenyi), drawn by autorank."""
    import matplotlib.pyplot as plt
    from autorank import plot_stats

    with matplotlib.rc_context(RC | {"axes.grid": False}):
        ax = plot_stats(result, allow_insignificant=True, width=6)
        fig = ax.figure
        fig.suptitle(title, y=1.18, fontsize=10)
    plt.close(fig)  # detach from pyplot; the Figure object still saves
    return fig


_SUPERSCRIPT = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)


def _tick_label(x: float, pos: int | None = None) -> str:
    """A tick label in plain text (mathtext is slow): 0.02, 0.1, 1, 300, 10⁴, 2×10⁻⁵."""
    if x == 0:
        return "0"
    if 1e-2 <= abs(x) < 1e4:
        return f"{x:g}"
    e = math.floor(math.log10(abs(x)) + 1e-9)
    m = round(x / 10**e, 6)
    sup = "10" + str(e).translate(_SUPERSCRIPT)
    return sup if m == 1 else f"{m:g}×{sup}"


def _plain_log_ticks(ax, which: str = "xy") -> None:
    """Plain-text labels on the log axes of ``ax``: every decade, and on short ranges a few minor ticks too.

    Minor ticks get labels only where the view holds fewer than two decades:
    multiples 2 and 5 with one decade tick in view, 2, 3 and 5 with none. Call it after plotting.
    """
    from matplotlib import ticker

    for name in which:
        axis = ax.xaxis if name == "x" else ax.yaxis
        if axis.get_scale() not in ("log", "symlog"):
            continue
        lo, hi = sorted(ax.get_xlim() if name == "x" else ax.get_ylim())
        if axis.get_scale() == "symlog":
            lo = max(lo, axis.get_transform().linthresh)
        lo = max(lo, 1e-300)
        n_decades = math.floor(math.log10(hi) + 1e-9) - math.ceil(math.log10(lo) - 1e-9) + 1 if hi > lo else 0
        axis.set_major_formatter(ticker.FuncFormatter(_tick_label))
        if n_decades >= 2:
            axis.set_minor_formatter(ticker.NullFormatter())
            continue
        subs = {2, 5} if n_decades == 1 else {2, 3, 5}

        def minor(x: float, pos: int | None = None, subs: set[int] = subs) -> str:
            if x <= 0:
                return ""
            m = round(x / 10 ** math.floor(math.log10(x) + 1e-9), 6)
            return _tick_label(x) if m in subs else ""

        axis.set_minor_formatter(ticker.FuncFormatter(minor))


def _set_regret_yscale(ax, values: np.ndarray) -> None:
    v = values[np.isfinite(values)]
    if not len(v):
        return
    if (v > 0).all():
        ax.set_yscale("log")
    else:
        pos = v[v > 0]
        # the linear zone reaches up to the smallest positive value, but spans at most 6 decades below the largest
        low = max(pos.min(), pos.max() * 1e-6) if len(pos) else 1e-6
        thresh = 10 ** math.floor(math.log10(low))
        ax.set_yscale("symlog", linthresh=thresh)
        ax.set_ylim(bottom=0)


def _legend_outside(fig: Figure, ax=None) -> None:
    """One legend for the whole figure, right of the panels, with every labelled line of any panel."""
    seen: dict[str, object] = {}
    for a in fig.axes:
        for h, lab in zip(*a.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    if seen:
        right = max(a.get_position().x1 for a in fig.axes if a.get_visible())
        top = max(a.get_position().y1 for a in fig.axes if a.get_visible())
        fig.legend(
            list(seen.values()),
            list(seen.keys()),
            loc="upper left",
            bbox_to_anchor=(right + 0.01, top),
            frameon=False,
        )
