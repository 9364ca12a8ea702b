"""Names the docs give exist: `make help` lists every target, the optimizer table names the real configs, and
every optimizer and benchmark name used in README.md and docs/*.md is a config or a catalog entry."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {m for m in re.findall(r"^([a-z][a-z-]*):", text, flags=re.M) if m != "help"}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_every_target():
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = set(re.findall(r"make ([a-z][a-z-]*)", out))
    assert _targets() <= listed, f"missing from `make help`: {sorted(_targets() - listed)}"


def test_the_optimizer_table_names_the_optimizer_configs_and_their_classes():
    table = [
        line
        for line in (ROOT / "docs" / "optimizers.md").read_text().splitlines()
        if re.match(r"^\| `[a-z0-9-]+` \| `runners\.", line)
    ]
    assert table
    configs = {p.stem: p.read_text() for p in (ROOT / "runners" / "conf" / "optimizer").glob("*.yaml")}
    for line in table:
        name, target = re.findall(r"`([^`]+)`", line)[:2]
        assert name in configs, f"docs/optimizers.md names `{name}`; configs: {sorted(configs)}"
        assert f"_target_: {target}" in configs[name], f"{name}: docs say {target}"
    assert {re.findall(r"`([^`]+)`", line)[0] for line in table} == set(configs)


# ---------------------------------------------------------------- optimizer and benchmark names anywhere in the docs
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: names the docs use that are not configs or catalog entries, on purpose: keep this list small and explicit
OPTIMIZER_PLACEHOLDERS = {
    "greedy-half",  # docs/runner.md, "Plugging in your own optimizer": the YAML the reader writes
}
BENCHMARK_PLACEHOLDERS = {
    "NAME",  # benchmark=NAME, study=NAME
    "my-table",  # a table folder outside the catalog, given a name ({name: my-table, path: PATH/TO/TABLE})
}
#: `optimizer=a,b`, `optimizers=[a, b]`, `optimizers: [a, b]` (also inside a `{name: ..., optimizers: [...]}` entry)
_OPTIMIZER_FORMS = [
    re.compile(r"(?<![\w.])optimizer=([A-Za-z0-9_,*-]+)"),
    re.compile(r"(?<![\w.])optimizers\s*[=:]\s*\[([^\]]*)\]"),
]
#: `benchmark=NAME`, `benchmarks.load("NAME")`, `benchmarks=[a, b]`, `benchmarks: [a, b]`
_BENCHMARK_FORMS = [
    re.compile(r"(?<![\w.])benchmark=([^\s`'\")\],;]+)"),
    re.compile(r"""(?<![\w])load\(\s*["']([^"']+)["']"""),
    re.compile(r"(?<![\w.])benchmarks\s*[=:]\s*\[([^\]{}]*)\]"),
]


def _catalog() -> set[str]:
    from benchmarks.catalog import names

    return set(names())


def _expand(pattern: str) -> list[str]:
    """`pub-fcnet-{naval,slice}` -> both names (nested braces too); other text as is."""
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    return [
        x
        for alt in m.group(1).split(",")
        for x in _expand(pattern[: m.start()] + alt.strip() + pattern[m.end() :])
    ]


def _items(text: str) -> list[str]:
    """The names of a comma-separated list (`rs,asha` or `rs, asha`), quotes and spaces stripped."""
    return [x.strip().strip("'\"") for x in text.split(",") if x.strip().strip("'\"")]


def _mentions(paths: list[Path] = DOCS) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(where, name) of every optimizer and benchmark name the docs use in one of the forms above."""
    prefixes = sorted(
        {n.split("-")[0] for n in _catalog()}
    )  # fcnet, lcbench, pub: what a catalog name looks like
    looks_like = re.compile(rf"^(?:{'|'.join(map(re.escape, prefixes))})-[A-Za-z0-9_.,{{}}*-]+$")
    optimizers, benchmarks = [], []
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        in_benchmarks = False  # inside a YAML `benchmarks:` block list
        for i, line in enumerate(lines, 1):
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{i}"
            for form in _OPTIMIZER_FORMS:
                optimizers += [(where, x) for m in form.finditer(line) for x in _items(m.group(1))]
            for form in _BENCHMARK_FORMS:
                benchmarks += [(where, x) for m in form.finditer(line) for x in _items(m.group(1))]
            benchmarks += [
                (where, span) for span in re.findall(r"`([^`\s]+)`", line) if looks_like.match(span)
            ]
            # a YAML study: `benchmarks:` then `  - NAME` or `  - {name: NAME, ...}` items
            if re.match(r"^\s*benchmarks:\s*(#.*)?$", line):
                in_benchmarks = True
                continue
            if in_benchmarks:
                item = re.match(r"^\s+-\s+(?:\{\s*name:\s*)?([^\s,}#]+)", line)
                if item:
                    benchmarks.append((where, item.group(1)))
                else:
                    in_benchmarks = False
    return optimizers, benchmarks


def _unknown_optimizers(optimizers: list[tuple[str, str]]) -> list[str]:
    configs = {p.stem for p in (ROOT / "runners" / "conf" / "optimizer").glob("*.yaml")}
    bad = []
    for where, name in optimizers:
        if "*" in name:  # a Hydra glob(...) or shell pattern: it must match a config
            ok = any(fnmatch.fnmatchcase(c, name) for c in configs)
        else:
            ok = name in configs or name in OPTIMIZER_PLACEHOLDERS
        if not ok:
            bad.append(f"{where}: optimizer {name!r}")
    return bad


def _unknown_benchmarks(benchmarks: list[tuple[str, str]]) -> list[str]:
    catalog = _catalog()
    groups = {p.stem for p in (ROOT / "runners" / "conf" / "benchmark").glob("*.yaml")}  # benchmark=table
    bad = []
    for where, mention in benchmarks:
        if "/" in mention:  # a table folder (surrogates.fit benchmark=path/to/a/table/folder)
            continue
        for name in _expand(mention):
            if "*" in name:
                ok = any(fnmatch.fnmatchcase(c, name) for c in catalog)
            else:
                ok = name in catalog or name in groups or name in BENCHMARK_PLACEHOLDERS
            if not ok:
                bad.append(
                    f"{where}: benchmark {name!r}" + (f" (from {mention!r})" if name != mention else "")
                )
    return bad


def test_every_optimizer_name_in_the_docs_is_a_config():
    optimizers, _ = _mentions()
    assert len(optimizers) >= 10  # the scan finds the docs' command lines and study files
    bad = _unknown_optimizers(optimizers)
    assert not bad, "names in the docs that are no optimizer config (runners/conf/optimizer):\n" + "\n".join(
        bad
    )


def test_every_benchmark_name_in_the_docs_is_in_the_catalog():
    _, benchmarks = _mentions()
    assert len(benchmarks) >= 20
    bad = _unknown_benchmarks(benchmarks)
    assert not bad, "names in the docs that are not in benchmarks.catalog.names():\n" + "\n".join(bad)


def test_the_scan_finds_a_misspelt_name_in_each_form(tmp_path):
    doc = tmp_path / "bad.md"
    doc.write_text("""
python -m runners.run benchmark=fcnet-navl optimizer=rs,hyperbnd
bench = benchmarks.load("lcbench-vehicel")
the published tables `pub-fcnet-{naval,slise}` and `pub-nb201-*` and `lcbench-*-surrogat`
python -m runners.bench optimizers=[rs,asah] benchmarks=[fcnet-protien]

```yaml
benchmarks:
  - fcnet-parkinson
  - {name: lcbench-carr, optimizers: [dheb]}
optimizers: [rs, bhob]
```
""")
    optimizers, benchmarks = _mentions([doc])
    assert [b.split(": ", 1)[1] for b in _unknown_optimizers(optimizers)] == [
        "optimizer 'hyperbnd'",
        "optimizer 'asah'",
        "optimizer 'dheb'",
        "optimizer 'bhob'",
    ]
    assert [b.split(": ", 1)[1] for b in _unknown_benchmarks(benchmarks)] == [
        "benchmark 'fcnet-navl'",
        "benchmark 'lcbench-vehicel'",
        "benchmark 'pub-fcnet-slise' (from 'pub-fcnet-{naval,slise}')",
        "benchmark 'lcbench-*-surrogat'",
        "benchmark 'fcnet-protien'",
        "benchmark 'fcnet-parkinson'",
        "benchmark 'lcbench-carr'",
    ]


def test_the_docs_scan_understands_each_form():
    assert _expand("pub-fcnet-{naval,slice}") == ["pub-fcnet-naval", "pub-fcnet-slice"]
    assert _expand("a-{b,c}-{d,e}") == ["a-b-d", "a-b-e", "a-c-d", "a-c-e"]
    assert _items("rs, 'hyperband',dehb") == ["rs", "hyperband", "dehb"]
    line = (
        'python -m runners.run optimizer=rs,hyperband benchmark=fcnet-naval; benchmarks.load("lcbench-car")'
    )
    assert [m.group(1) for m in _OPTIMIZER_FORMS[0].finditer(line)] == ["rs,hyperband"]
    assert [m.group(1) for f in _BENCHMARK_FORMS for m in f.finditer(line)] == ["fcnet-naval", "lcbench-car"]
    assert [m.group(1) for m in _OPTIMIZER_FORMS[1].finditer("  - {name: x, optimizers: [rs, re]}")] == [
        "rs, re"
    ]
