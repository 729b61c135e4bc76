"""Shared fixtures. Flow tests share ONE Prefect test server for the whole session (it costs
15-30 s to start here); everything else calls plain functions with no orchestrator."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data" / "samples"


@pytest.fixture(scope="session")
def prefect_server():
    """A real local Prefect API for the session; yields its URL for subprocesses."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def hard_corpus(tmp_path_factory) -> Path:
    """Freshly generated hard records with gold (not the committed samples)."""
    from pipeline.synth import generate_corpus

    root = tmp_path_factory.mktemp("hard")
    generate_corpus(root, records=6, seed=20261127, variant="hard")
    return root


@pytest.fixture(scope="session")
def sample_run(prefect_server, tmp_path_factory) -> Path:
    """The committed samples processed once through the real flow; returns OUT."""
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("samples-out")
    assert main(["run", str(SAMPLES), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="session")
def hard_run(prefect_server, hard_corpus, tmp_path_factory) -> Path:
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("hard-out")
    assert main(["run", str(hard_corpus / "records"), "--out", str(out), "--quiet"]) == 0
    return out
