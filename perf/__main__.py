"""``python -m perf [NAME ...] [--quick] [--markdown FILE]``: run the performance scripts (all by default).

Each script prints its measures beside a baseline measured in the same run and
saves them under ``.perf/NAME.json``; ``--markdown FILE`` also writes every
saved result as one Markdown page (docs/performance.md is made this way).
"""

from __future__ import annotations

import importlib
import sys

SCRIPTS = ["tables", "simulator", "optimizers", "scaling", "training", "surrogates", "studies"]


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    markdown = None
    if "--markdown" in argv:
        i = argv.index("--markdown")
        if i + 1 >= len(argv):
            print("--markdown needs a file name", file=sys.stderr)
            return 2
        markdown = argv[i + 1]
        argv = argv[:i] + argv[i + 2 :]
    names = [a for a in argv if not a.startswith("-")] or SCRIPTS
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        print(f"unknown perf script(s) {unknown}; allowed: {', '.join(SCRIPTS)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        try:
            mod = importlib.import_module(f"perf.{name}")
        except ImportError as e:
            print(f"\n== {name} ==  skipped: {e}")
            failed.append(name)
            continue
        try:
            mod.main(quick=quick)
        except Exception as e:  # keep measuring the others, report at the end
            print(f"\n== {name} ==  FAILED: {type(e).__name__}: {e}")
            failed.append(name)
    print(f"\nperf results saved under .perf/ ({', '.join(n for n in names if n not in failed)})")
    if markdown:
        from .common import write_markdown

        print(f"written: {write_markdown(markdown, SCRIPTS)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
