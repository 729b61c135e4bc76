"""notebooks/review.ipynb, executed headless against a real catalog."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO

pytestmark = pytest.mark.flow


def test_review_notebook_runs_and_shows_boundaries_and_evidence(sample_run: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHARTSIFT_CATALOG", str(sample_run / "catalog.duckdb"))
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    notebook = nbformat.read(REPO / "notebooks" / "review.ipynb", as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "<section class='encounter'" in html
    assert "<mark data-field='encounter_date'" in html
    assert "encounter_index" in html  # the encounters table
