"""Imports run one way: benchmarks <- {data, surrogates} <- runners <- perf (DESIGN: every stage testable alone).

Parses every module of the packages (module-level and function-level imports alike) and fails on an
import of a package at the same or a higher layer, and on an import cycle between modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the layers, lowest first; data and surrogates share a layer and never import each other
LAYER = {"benchmarks": 0, "data": 1, "surrogates": 1, "runners": 2, "perf": 3}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, relative ones resolved."""
    mod = _module(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            # "from package import module" imports that module too
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names]
    return out


def _files() -> list[Path]:
    return sorted(p for pkg in LAYER for p in (ROOT / pkg).rglob("*.py"))


def _project_edges() -> dict[str, set[str]]:
    modules = {_module(p): p for p in _files()}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for m, p in modules.items():
        for _, target in _imports(p):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != m:
                edges[m].add(target)
    return edges


def test_no_import_reaches_up_or_across_the_layers():
    bad = []
    for path in _files():
        pkg = path.relative_to(ROOT).parts[0]
        for line, target in _imports(path):
            top = target.split(".")[0]
            if top in LAYER and top != pkg and LAYER[top] >= LAYER[pkg]:
                bad.append(
                    f"{path.relative_to(ROOT)}:{line} imports {target} ({pkg} may import only lower layers)"
                )
    assert not bad, "\n".join(sorted(set(bad)))


def test_no_import_cycle_between_modules():
    edges = _project_edges()
    # a package's __init__ re-exporting its modules is not a cycle of dependence
    for m in edges:
        edges[m] = {
            t for t in edges[m] if not (t.startswith(m + ".") and (ROOT / m.replace(".", "/")).is_dir())
        }
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t) :] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("pkg", sorted(LAYER))
def test_the_checker_sees_imports(pkg):
    """The parser finds project imports in each package (a checker that sees nothing cannot fail)."""
    found = [t for p in (ROOT / pkg).rglob("*.py") for _, t in _imports(p) if t.split(".")[0] in LAYER]
    assert found


#: the comment that marks a function-level project import as deliberately lazy, with its reason
LAZY_MARK = "# lazy:"


def _unmarked_lazy_imports(source: str) -> list[int]:
    """Lines of function-level imports of project modules whose statement carries no `# lazy:` comment.

    Relative imports are project imports; third-party imports inside functions (torch, optional
    libraries) are not counted.
    """
    lines = source.splitlines()
    bad = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Import):
                project = any(a.name.split(".")[0] in LAYER for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                project = bool(node.level) or (node.module or "").split(".")[0] in LAYER
            else:
                continue
            statement = lines[node.lineno - 1 : node.end_lineno]
            if project and not any(LAZY_MARK in line for line in statement):
                bad.append(node.lineno)
    return sorted(set(bad))


def test_no_function_level_project_import_without_a_reason():
    """A project module is imported at the module's top, or lazily with a `# lazy: <reason>` comment."""
    bad = []
    for path in _files():
        for line in _unmarked_lazy_imports(path.read_text(encoding="utf-8")):
            bad.append(f"{path.relative_to(ROOT)}:{line} imports a project module inside a function")
    assert not bad, "\n".join(bad) + f"\n(move it to the module's top, or mark it '{LAZY_MARK} <reason>')"


def test_the_lazy_import_checker_fails_on_an_unmarked_import():
    source = (
        "import torch\n"
        "from benchmarks.io import atomic_path\n"
        "def f():\n"
        "    import numpy\n"
        "    from benchmarks.table import read_table\n"
        "    from . import store  # lazy: a real cycle\n"
        "    if True:\n"
        "        from .models import (  # lazy: torch only when fitting\n"
        "            fit,\n"
        "        )\n"
        "        import runners.run\n"
        "    class C:\n"
        "        def g(self):\n"
        "            from .quality import card\n"
        "    return store\n"
    )
    assert _unmarked_lazy_imports(source) == [5, 11, 14]
