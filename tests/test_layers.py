"""The layering rules: the checkpoint format below the Hub, no function-level imports that dodge cycles, no private
names imported across packages, a library ``paths`` module that knows nothing of the benchmarks' data helpers, and
benchmarks that share helpers through public modules instead of copying them or importing private ones."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "skelrec"
LAZY_ALLOWED = {"cli.py"}
"""Modules whose function-level skelrec imports are deliberate (the CLI imports each command's library lazily)."""


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))]


def _loaded_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(m for m in sys.modules if m.startswith('skelrec')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_checkpoint_format_imports_nothing_above_the_models():
    loaded = _loaded_after("skelrec.checkpoint")
    above = {
        m
        for m in loaded
        if m.split(".")[1:2] and m.split(".")[1] in ("hub", "train", "evaluate", "ssl", "labeling", "teach")
    }
    assert not above, f"skelrec.checkpoint pulls in {sorted(above)}"


def test_paths_does_not_import_the_datasets():
    assert not {m for m in _loaded_after("skelrec.paths") if m.startswith("skelrec.datasets")}


@pytest.mark.parametrize("path_tree", _modules(), ids=lambda pt: str(pt[0].relative_to(PACKAGE)))
def test_no_function_level_skelrec_imports(path_tree):
    path, tree = path_tree
    if path.name in LAZY_ALLOWED:
        return
    lazy = [
        f"{path.name}:{node.lineno}"
        for func in ast.walk(tree)
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(func)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("skelrec")
    ]
    assert not lazy, f"import at module level (or document why it must stay lazy): {lazy}"


@pytest.mark.parametrize("path_tree", _modules(), ids=lambda pt: str(pt[0].relative_to(PACKAGE)))
def test_no_private_name_is_imported_from_another_package(path_tree):
    path, tree = path_tree
    own = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:2])
    bad = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("skelrec.")
        for alias in node.names
        if alias.name.startswith("_") and not node.module.startswith(own)
    ]
    assert not bad, f"{path.name} imports private names of other packages: {bad}"


BENCHMARKS = PACKAGE.parent / "benchmarks"
OWNED_BY = {"machine.py": ("/proc/cpuinfo", "import platform"), "run_records.py": ("metrics.csv", "st_mtime")}
"""What only the benchmarks' shared modules read: the machine a result is measured on, the records of run folders."""


def _benchmark_scripts() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(BENCHMARKS.glob("*.py"))]


@pytest.mark.parametrize("path_tree", _benchmark_scripts(), ids=lambda pt: pt[0].name)
def test_no_benchmark_imports_private_names_of_another(path_tree):
    path, tree = path_tree
    siblings = {p.stem for p in BENCHMARKS.glob("*.py")}
    bad = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and (node.module.startswith("benchmarks.") or node.module in siblings)
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert not bad, f"{path.name} imports private names of another benchmark (make them public, shared): {bad}"


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_read_the_machine_and_run_folders_through_the_shared_modules(path):
    text = path.read_text(encoding="utf-8")
    copied = {
        f"{marker} (benchmarks/{owner})"
        for owner, markers in OWNED_BY.items()
        if path.name != owner
        for marker in markers
        if marker in text
    }
    assert not copied, f"{path.name} has its own copy of {sorted(copied)}: import the shared module instead"
