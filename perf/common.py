"""Shared helpers for the performance scripts: a side-by-side report and the FCNet-sized space."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.io import atomic_write_json, code_version, hardware, utc_now
from runners.testing import fcnet_like_space  # noqa: F401  (re-exported for the perf scripts)

RESULTS_DIR = Path(".perf")


@dataclass
class Report:
    """Rows of (measure, ours, baseline, baseline name, target) printed side by side with their ratio."""

    name: str
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        measure: str,
        ours: float,
        baseline: float | None,
        baseline_name: str,
        *,
        target: float | None = None,
        lower_is_better: bool = True,
    ) -> None:
        if baseline is None or baseline != baseline:
            ratio = None
        elif lower_is_better:
            ratio = baseline / ours if ours else float("inf")
        else:
            ratio = ours / baseline if baseline else float("inf")
        ok = None if target is None else (ours <= target if lower_is_better else ours >= target)
        self.rows.append(
            dict(
                measure=measure,
                ours=ours,
                baseline=baseline,
                baseline_name=baseline_name,
                ratio=ratio,
                target=target,
                lower_is_better=lower_is_better,
                meets_target=ok,
            )
        )

    def note(self, text: str) -> None:
        self.notes.append(text)

    def print(self) -> None:
        print(
            f"\n== {self.name} ==  ({platform.processor() or platform.machine()}, {hardware().get('cpu_count')} cores)"
        )
        head = f"{'measure':<44} {'ours':>10} {'baseline':>10} {'x better':>9} {'target':>10}  baseline"
        print(head)
        print("-" * len(head))
        for r in self.rows:
            base = "" if r["baseline"] is None else f"{r['baseline']:.4g}"
            ratio = "" if r["ratio"] is None else f"{r['ratio']:.1f}x"
            tgt = ""
            if r["target"] is not None:
                tgt = (
                    ("<=" if r["lower_is_better"] else ">=")
                    + f"{r['target']:g} "
                    + ("ok" if r["meets_target"] else "MISS")
                )
            print(
                f"{r['measure']:<44} {r['ours']:>10.4g} {base:>10} {ratio:>9} {tgt:>10}  {r['baseline_name']}"
            )
        for n in self.notes:
            print(f"  note: {n}")
        self.save()

    def save(self) -> Path:
        path = RESULTS_DIR / f"{self.name}.json"
        atomic_write_json(
            path,
            {
                "name": self.name,
                "rows": self.rows,
                "notes": self.notes,
                "created": utc_now(),
                "code_version": code_version(),
                "hardware": hardware(),
            },
        )
        return path


def load_saved(name: str) -> dict | None:
    p = RESULTS_DIR / f"{name}.json"
    return json.loads(p.read_text()) if p.is_file() else None


def write_markdown(path: str | Path, names: list[str]) -> Path:
    """Every saved perf result (``.perf/NAME.json``) as one Markdown page."""
    from benchmarks.io import atomic_write_text

    lines = [
        "# Performance",
        "",
        "Written by `python -m perf --markdown docs/performance.md` (what `make perf` runs, plus this page).",
        "Each measure stands beside a baseline measured in the same run on the same machine; rerun to",
        'reproduce on yours. "x better" is the baseline\'s time divided by ours (or our rate divided by the',
        "baseline's).",
    ]
    for name in names:
        saved = load_saved(name)
        if saved is None:
            continue
        hw = saved.get("hardware", {})
        lines += [
            "",
            f"## {name}",
            "",
            f"Measured {saved.get('created', '?')} with CurveBench {saved.get('code_version', '?')} on "
            f"{hw.get('cpu', '?')} ({hw.get('cpu_count', '?')} cores, {hw.get('memory_gib', '?')} GiB), "
            f"torch {hw.get('torch', '-')}" + (f", GPU {hw['gpu']}" if hw.get("gpu") else "") + ".",
            "",
            "| measure | ours | baseline | x better | target | baseline is |",
            "|---|---:|---:|---:|---|---|",
        ]
        for r in saved["rows"]:
            base = "" if r["baseline"] is None else f"{r['baseline']:.4g}"
            ratio = "" if r["ratio"] is None else f"{r['ratio']:.1f}x"
            tgt = ""
            if r["target"] is not None:
                tgt = (
                    ("<= " if r["lower_is_better"] else ">= ")
                    + f"{r['target']:g}: "
                    + ("met" if r["meets_target"] else "**missed**")
                )
            lines.append(
                f"| {r['measure']} | {r['ours']:.4g} | {base} | {ratio} | {tgt} | {r['baseline_name']} |"
            )
        for n in saved.get("notes", []):
            lines.append(f"\n- {n}")
    atomic_write_text(path, "\n".join(lines) + "\n")
    return Path(path)
