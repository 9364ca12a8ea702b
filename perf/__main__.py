"""``python -m perf [NAME ...] [--quick]``: run the performance scripts (all by default)."""

from __future__ import annotations

import importlib
import sys

SCRIPTS = ["tables", "simulator", "optimizers", "training", "surrogates"]


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
