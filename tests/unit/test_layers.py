"""Layers: `ingest` ← `service` ← `eval` ← `kb_cli`; no module imports a layer above its own.

Every import statement counts, also those inside functions (the heavy, lazy ones)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

FORBIDDEN = {
    "ingest": {"service", "eval", "kb_cli"},
    "service": {"eval", "kb_cli"},
    "eval": {"kb_cli"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level package names of every absolute import in a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_a_higher_layer(package: str) -> None:
    modules = sorted((REPO / package).rglob("*.py"))
    assert modules, f"no modules under {package}/"
    offences = [
        f"{module.relative_to(REPO)} imports {name}"
        for module in modules
        for name in sorted(imported_packages(module) & FORBIDDEN[package])
    ]
    assert offences == []


def test_the_import_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from eval.cli import eval_app\n    import service.app\n")
    assert imported_packages(module) == {"eval", "service"}
