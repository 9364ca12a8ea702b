"""The report section of an adaptive study (``stopping=adastop``): AdaStop's decisions beside the fixed-seed test
on the same runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from ...adaptive import decisions_table, read_decisions
from ..render import Section, fmt
from .context import ReportContext


def adastop_section(ctx: ReportContext) -> Section | None:
    """AdaStop's decision per pair of methods and benchmark, the seeds each side took, and the rank-sum p-value.

    None when the study was not run with ``stopping=adastop``.
    """
    alpha = ctx.opts.alpha
    data = read_decisions(ctx.study.root)
    if data is None:
        return None
    st = data.get("settings", {})
    groups = data.get("groups", [])
    rows = decisions_table(data)
    scores = {(g["benchmark"], g["n_workers"]): g.get("scores", {}) for g in groups}
    p = []
    for r in rows.itertuples():
        sc = scores.get((r.benchmark, r.n_workers), {})
        a, b = np.asarray(sc.get(r.method, []), float), np.asarray(sc.get(r.other, []), float)
        p.append(float(mannwhitneyu(a, b).pvalue) if len(a) and len(b) else np.nan)
    rows = rows.assign(p_ranksum=p)
    n_pairs = int((rows["method"] != "").sum()) if len(rows) else 0
    decided = int(rows["decision"].isin(["better", "worse"]).sum()) if len(rows) else 0
    n_runs = sum(len(v) for g in groups for v in g.get("seeds", {}).values())
    n_full = sum(len(g.get("methods", [])) for g in groups) * len(st.get("seeds", []))
    intro = (
        f"The study ran with `stopping=adastop` (AdaStop, Mathieu et al., TMLR 2024: a group-sequential permutation "
        f"test of every pair of methods per benchmark with family-wise error at level {st.get('alpha')}; "
        f"{st.get('n_interims')} interim(s) of {st.get('batch')} seed(s), {st.get('permutations')} permutations; "
        f"score: the final incumbent's {'validation' if st.get('metric') == 'valid' else 'test'} value as a loss). "
        f"It took {n_runs} of the {n_full} runs a fixed design with every seed would take; {decided} of {n_pairs} "
        "comparisons found a difference, the others are declared equal (not different at this level) when the last "
        "interim is reached. `better`: the first method's mean loss is lower. "
        "*Seeds at decision*: per method, the seeds "
        "AdaStop compared when it decided; *seeds run*: what each method ran in the end (a method stays in the study "
        "while any of its comparisons is open). Beside each decision, the fixed-seed "
        "two-sided Wilcoxon rank-sum p-value on the same runs "
        f"(not corrected for multiple comparisons; `*`: p < {alpha})."
    )
    if not len(rows):
        return Section("Adaptive stopping (AdaStop)", [intro, "No decision was recorded."])
    disp = pd.DataFrame(
        {
            "benchmark": rows["benchmark"],
            "methods": [
                f"{a} vs {b}" if a else "" for a, b in zip(rows["method"], rows["other"], strict=True)
            ],
            "AdaStop": rows["decision"],
            "decided at interim": [
                ("" if pd.isna(k) else str(int(k) + 1)) for k in rows.get("interim", [np.nan] * len(rows))
            ],
            "seeds at decision": [
                "" if pd.isna(x) else str(int(x)) for x in rows.get("seeds_at_decision", [np.nan] * len(rows))
            ],
            "seeds run": [
                f"{int(a)} / {int(b)}" if pd.notna(a) else ""
                for a, b in zip(
                    rows.get("n_seeds", [np.nan] * len(rows)),
                    rows.get("n_seeds_other", [np.nan] * len(rows)),
                    strict=True,
                )
            ],
            "mean loss (seeds run)": [
                f"{fmt(a)} / {fmt(b)}" if pd.notna(a) else ""
                for a, b in zip(
                    rows.get("mean", [np.nan] * len(rows)),
                    rows.get("mean_other", [np.nan] * len(rows)),
                    strict=True,
                )
            ],
            "rank-sum p": [
                ("" if not np.isfinite(x) else fmt(x) + (" *" if x < alpha else ""))
                for x in rows["p_ranksum"]
            ],
        }
    ).set_index("benchmark")
    return Section(
        "Adaptive stopping (AdaStop)",
        [
            intro,
            ctx.table(
                "adastop_decisions", disp, "AdaStop's decisions per pair of methods and benchmark.", data=rows
            ),
        ],
    )
