"""The product's layout rules, checked: pipeline/ and schemas/ hold no Prefect import, flows/ stays thin."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_domain_logic_does_not_import_prefect() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for folder in ("pipeline", "schemas")
        for p in (REPO / folder).rglob("*.py")
        if "prefect" in imported_modules(p)
    ]
    assert offenders == []


def test_flows_only_orchestrate() -> None:
    """Flows import the pipeline and Prefect, and hold no parsing or SQL of their own."""
    for path in (REPO / "flows").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "import re" not in source and "duckdb" not in source and "spacy" not in source, path.name
