"""The agent against a real model server (llama.cpp, SmolLM2-135M): compatibility proven, not assumed.

A 135M model's encounters are wrong, so only structure is asserted: each record is stored, its rows
validated (the agent's own, or the rules fallback with its reason), its step log complete, and the
canary key nowhere: not in the catalog, the output folder, the log.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest

from tests.test_agent import assert_no_canary, run_agent

CANARY = "sk-canary-" + uuid.uuid4().hex
LINES_PER_RECORD = 80  # two short records keep a CPU-only lane to about a minute


@pytest.fixture
def short_records(tmp_path: Path) -> Path:
    from pipeline.synth import generate_corpus

    generate_corpus(tmp_path / "corpus", records=2, seed=11, variant="clean")
    records = tmp_path / "corpus" / "records"
    for path in records.glob("*.txt"):
        path.write_text("\n".join(path.read_text(encoding="utf-8").split("\n")[:LINES_PER_RECORD]), encoding="utf-8")
    return records


def test_agent_runs_against_llama_cpp_server(llama_server: str, short_records: Path, tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    caplog.set_level(logging.DEBUG)
    run = run_agent(short_records, tmp_path / "out", None, base_url=llama_server, model="smollm2", server_profile="auto",
                    max_steps=8, timeout_s=300.0, max_output_tokens=512, max_retries=1)
    assert [o.status for o in run.outcomes] == ["stored", "stored"], [o.message for o in run.outcomes]
    profile_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("agent server profile")]
    assert profile_lines == ["agent server profile: llamacpp"], "detected from owned_by of GET /models"
    texts = dict(run.query("SELECT document_id, text FROM documents"))
    for document_id, text in texts.items():
        rows = run.query("SELECT start_char, end_char, fallback_reason, sandbox_level FROM encounters WHERE document_id = ? ORDER BY encounter_index", [document_id])
        assert rows[0][0] == 0 and rows[-1][1] == len(text)
        assert len({reason for _, _, reason, _ in rows}) == 1, "a record is all agent rows or all fallback rows"
        assert {level for *_, level in rows} == {"full"}
        steps = run.query("SELECT step, tool, outcome FROM agent_steps WHERE document_id = ? ORDER BY step", [document_id])
        assert [s[0] for s in steps] == list(range(len(steps))) and steps[-1][1] == "end"
        assert steps[-1][2] == (rows[0][2] or "submitted")
        assert any(tool == "model" and outcome.startswith("ok") for _, tool, outcome in steps), "the server answered"
    for document_id, start, end, quoted in run.query("SELECT document_id, start_char, end_char, text FROM evidence"):
        assert texts[document_id][start:end] == quoted
    assert_no_canary(run.out, None)
    assert CANARY not in caplog.text
