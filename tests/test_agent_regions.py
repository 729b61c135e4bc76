"""The agent's regions mode with real parts: the scripted model server on 127.0.0.1 speaking the OpenAI
wire format, the real client, the rules detector and its scorer, a real catalog for the audit log and
the checkpoints. The model sees a few lines around each candidate the rules are unsure of, never the
record; its answers settle those candidates and nothing else."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import pipeline.agent.detector  # noqa: F401  (registers the "agent" detector)
from pipeline.agent import AgentDetector
from pipeline.agent.client import request_chars
from pipeline.agent.regions import ADDED, CONFIRMED, SAME_START_LINES, batches, questions
from pipeline.detect import DetectionInput
from pipeline.text import LineIndex
from tests.openai_server import LINE, AnswerAll, ModelServer, ProseOnly, RegionsReader, region_view
from tests.test_agent import crashing_catalog, run_agent
from tests.test_agent import Crash

KEY = "sk-regions-test"
CALL_CHARS = 500
RESUME_MARGIN = 0.02


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    for name in ("OPENAI_BASE_URL", "CHARTSIFT_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from pipeline.synth import generate_corpus

    root = tmp_path_factory.mktemp("regions-corpus")
    generate_corpus(root, records=6, seed=4242, variant="mixed")
    return root / "records"


def documents(records: Path) -> list[DetectionInput]:
    out = []
    for path in sorted(records.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        out.append(DetectionInput(hashlib.sha256(text.encode()).hexdigest(), text, LineIndex(text)))
    return out


def detector(server: ModelServer) -> AgentDetector:
    return AgentDetector(model="test-model", base_url=server.url, server_profile="openai", retry_base_s=0.05, timeout_s=10.0)


def test_the_model_sees_only_the_lines_around_uncertain_candidates(corpus: Path) -> None:
    with ModelServer(RegionsReader()) as server:
        agent = detector(server)
        asked_total = sent_total = record_total = 0
        for doc in documents(corpus):
            first = len(server.exchanges)
            detection = agent.run(doc)
            exchanges = server.exchanges[first:]
            rules = agent.rules.run(doc)
            paging = agent.settings.paging
            asked = questions(rules, doc.lines, paging.region_lines_before, paging.region_lines_after)
            asked_total += len(asked)
            # one call per batch, none for a record the rules are sure of
            assert len(exchanges) == len(batches(asked, doc.lines, paging.region_call_chars))
            assert detection.fallback_reason is None and detection.sandbox_level is None
            shown: set[int] = set()
            for exchange in exchanges:
                _, lines = region_view(exchange.body)
                assert sum(len(f"{n}|{t}") + 1 for n, t in lines.items()) <= paging.region_call_chars + 200
                shown |= set(lines)
                for n, t in lines.items():  # what is shown is the record's own line (clipped), at its number
                    assert doc.lines.line(n - 1).startswith(t.rstrip("…"))
            window = paging.region_lines_before + paging.region_lines_after + 1
            assert len(shown) <= window * len(asked)
            assert len(shown) < 0.5 * len(doc.lines), "the model must never see the bulk of the record"
            assert sum(len(doc.lines.line(n - 1)) for n in shown) < 0.3 * len(doc.text)
            sent_total += sum(request_chars(e.body) for e in exchanges)
            record_total += len(doc.text)
        assert asked_total > 0, "the corpus must hold uncertain candidates for this test to mean anything"
        assert sent_total < 0.1 * record_total, (sent_total, record_total)


@pytest.mark.parametrize("answer", [True, False])
def test_the_answers_settle_the_uncertain_candidates_and_nothing_else(answer: bool, corpus: Path) -> None:
    with ModelServer(AnswerAll(answer)) as server:
        agent = detector(server)
        for doc in documents(corpus):
            rules = agent.rules.run(doc)
            paging = agent.settings.paging
            uncertain = {q.line for q in questions(rules, doc.lines, paging.region_lines_before, paging.region_lines_after)}
            got = {b.line: b for b in agent.run(doc).boundaries}
            certain_rules = {b.line for b in rules.boundaries} - uncertain
            assert certain_rules <= set(got), "a boundary the rules were sure of was touched"
            for line in uncertain:
                if answer:
                    assert line in got or any(abs(k - line) <= SAME_START_LINES for k in got)
                    if line in got:
                        assert got[line].cues[-1] in (CONFIRMED, ADDED)
                else:
                    assert line not in got
            assert set(got) - certain_rules <= uncertain | {0}


def test_a_model_that_never_answers_in_json_leaves_the_rules_boundaries(corpus: Path) -> None:
    with ModelServer(ProseOnly()) as server:
        agent = detector(server)
        doc = next(d for d in documents(corpus) if questions(agent.rules.run(d), d.lines, 2, 6))
        detection = agent.run(doc)
        assert detection.fallback_reason == "agent: invalid output after 3 attempts"
        assert [b.line for b in detection.boundaries] == [b.line for b in agent.rules.run(doc).boundaries]
        assert server.calls == 3


def test_regions_runs_are_audited_and_resume_without_asking_again(corpus: Path, tmp_path: Path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    with ModelServer(RegionsReader()) as server:
        agent = detector(server)
        # the record with the most uncertain candidates, asked about with a wide margin and in small
        # calls, so that a crash falls between two calls whatever the shipped scorer is sure of
        doc, path = max(
            ((d, p) for d, p in zip(documents(corpus), sorted(corpus.glob("*.txt")), strict=True)),
            key=lambda dp: len(questions(agent.rules.run(dp[0]), dp[0].lines, 2, 6, RESUME_MARGIN)),
        )
        calls = len(batches(questions(agent.rules.run(doc), doc.lines, 2, 6, RESUME_MARGIN), doc.lines, CALL_CHARS))
        assert calls >= 2
        (one / path.name).write_bytes(path.read_bytes())
        reference = run_agent(one, tmp_path / "reference", server, mode="regions", region_call_chars=CALL_CHARS, region_margin=RESUME_MARGIN)
        assert server.calls == calls
    with ModelServer(RegionsReader()) as server:
        with pytest.raises(Crash):
            run_agent(one, tmp_path / "out", server, catalog_cls=crashing_catalog(after_step=1), mode="regions", region_call_chars=CALL_CHARS, region_margin=RESUME_MARGIN)
        assert server.calls == 1
        run = run_agent(one, tmp_path / "out", server, mode="regions", region_call_chars=CALL_CHARS, region_margin=RESUME_MARGIN)
        assert server.calls == calls, "the checkpointed answer was not asked for again"
    spans = "SELECT start_char, end_char, boundary_cues FROM encounters ORDER BY start_char"
    assert run.query(spans) == reference.query(spans)
    assert {level for (level,) in run.query("SELECT DISTINCT sandbox_level FROM encounters")} == {None}
    steps = run.steps()
    assert [s[1] for s in steps] == list(range(len(steps))) and steps[-1][2] == "end" and steps[-1][3] == "submitted"
    assert sum(1 for s in steps if s[2] == "model") == calls
    assert run.unfinished() == 0
    for (body,) in [(json.dumps(e.body),) for e in server.exchanges]:
        assert KEY not in body
        assert len(LINE.findall(json.loads(body)["messages"][1]["content"])) < len(doc.lines) / 2


def test_a_wider_margin_asks_about_more_candidates_and_keeps_the_narrower_questions(corpus: Path) -> None:
    from pipeline.detect import create

    rules = create("rules")
    narrow_total = wide_total = 0
    for doc in documents(corpus):
        found = rules.run(doc)
        narrow = {q.line for q in questions(found, doc.lines, 2, 6, margin=0.2)}
        wide = {q.line for q in questions(found, doc.lines, 2, 6, margin=0.05)}
        assert narrow <= wide
        narrow_total, wide_total = narrow_total + len(narrow), wide_total + len(wide)
    assert wide_total > narrow_total


@pytest.mark.parametrize("kind", ["llamacpp", "vllm", "ollama"])
def test_regions_questions_speak_each_server_kinds_dialect(kind: str, corpus: Path) -> None:
    with ModelServer(RegionsReader(), kind=kind) as server:
        agent = AgentDetector(model="test-model", base_url=server.url, server_profile=kind, retry_base_s=0.05, timeout_s=10.0)
        doc = next(d for d in documents(corpus) if questions(agent.rules.run(d), d.lines, 2, 6))
        detection = agent.run(doc)
    assert detection.fallback_reason is None
    assert server.calls >= 1 and all(e.status == 200 for e in server.exchanges)
