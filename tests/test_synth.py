"""Synthetic record generator: the gold must agree exactly with the text it describes."""

from __future__ import annotations

import json
import random
import re
import time
from datetime import date
from pathlib import Path

import pytest

from pipeline.synth import DATE_STYLES, TYPE_NAMES, fmt_date, generate_corpus, generate_record

ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
PAGE_FOOTER = re.compile(r"^(?:.*Page \d+ of \d+|Page \d+/\d+)$", re.M)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], dict[str, str]]:
    out = tmp_path_factory.mktemp("mixed")
    golds = generate_corpus(out, records=12, seed=3, variant="mixed")
    texts = {g["record"]: (out / "records" / g["record"]).read_bytes().decode("utf-8") for g in golds}
    return out, golds, texts


def _spans(gold: dict, text: str):
    for enc in gold["encounters"]:
        yield enc, text[enc["start"]:enc["end"]]


def test_files_and_gold_jsonl(corpus):
    out, golds, texts = corpus
    lines = (out / "gold.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == golds
    assert len(golds) == 12 and len(set(texts)) == 12
    for k, gold in enumerate(golds):
        assert gold["source"] == "synth"
        assert gold["variant"] == ("clean", "hard")[k % 2]
        assert gold["base"] == golds[k - k % 2]["base"]
        assert gold["record"] == f"{gold['base']}_{gold['variant']}.txt"
        assert 5 <= len(gold["encounters"]) <= 40
        assert "\r" not in texts[gold["record"]]


def test_spans_tile_the_text(corpus):
    _, golds, texts = corpus
    for gold in golds:
        text, encs = texts[gold["record"]], gold["encounters"]
        assert encs[0]["start"] == 0 and encs[-1]["end"] == len(text)
        assert all(a["end"] == b["start"] for a, b in zip(encs, encs[1:]))
        assert all(e["start"] < e["end"] for e in encs)


def test_starts_are_at_line_starts(corpus):
    _, golds, texts = corpus
    for gold in golds:
        text = texts[gold["record"]]
        for enc in gold["encounters"][1:]:
            assert text[enc["start"] - 1] == "\n", (gold["record"], enc)
            assert text[enc["start"]] != "\n", (gold["record"], enc)


def test_field_strings_occur_inside_their_span(corpus):
    _, golds, texts = corpus
    for gold in golds:
        for enc, span in _spans(gold, texts[gold["record"]]):
            for name in ("type", "provider", "facility"):
                if enc[name] is not None:
                    assert enc[name].lower() in span.lower(), (gold["record"], name, enc[name])


def test_dates_are_iso_printed_and_increasing(corpus):
    _, golds, texts = corpus
    for gold in golds:
        previous = date.min
        for enc, span in _spans(gold, texts[gold["record"]]):
            if enc["date"] is None:
                continue
            assert ISO.fullmatch(enc["date"])
            day = date.fromisoformat(enc["date"])
            assert any(fmt_date(day, style) in span for style in DATE_STYLES), (gold["record"], enc)
            assert day > previous, "encounter (admission) dates must precede later encounters"
            previous = day


def test_deterministic_bytes(tmp_path):
    for name in ("a", "b"):
        generate_corpus(tmp_path / name, records=4, seed=11, variant="mixed")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 5
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    other = generate_corpus(tmp_path / "c", records=4, seed=12, variant="mixed")
    assert (tmp_path / "c" / "gold.jsonl").read_bytes() != (tmp_path / "a" / "gold.jsonl").read_bytes()
    assert len(other) == 4


def test_hard_is_clean_plus_edits(corpus):
    _, golds, texts = corpus
    fewer_fields = 0
    for clean, hard in zip(golds[::2], golds[1::2]):
        clean_text, hard_text = texts[clean["record"]], texts[hard["record"]]
        assert hard_text != clean_text
        assert not PAGE_FOOTER.search(clean_text)
        assert len(PAGE_FOOTER.findall(hard_text)) >= len(hard_text) // 4000
        assert [e["notes"] for e in hard["encounters"]] == [e["notes"] for e in clean["encounters"]]
        for h, c in zip(hard["encounters"], clean["encounters"]):
            for name in ("date", "type", "provider", "facility"):
                assert h[name] is None or h[name] == c[name], "hard may only lose fields, never change them"
            fewer_fields += sum(h[k] is None and c[k] is not None for k in ("date", "type", "provider", "facility"))
    assert fewer_fields > 0, "header removal should null some fields"
    hard_all = "".join(texts[g["record"]] for g in golds[1::2])
    assert re.search(r"carried forward from|Copied from prior encounter", hard_all)
    assert re.search(r"last seen on|Last visit:|Date of last visit:|Previously evaluated on|Seen in clinic on",
                     hard_all)


def test_inpatient_stays_are_one_multi_note_encounter(corpus):
    _, golds, texts = corpus
    stays = [enc for g in golds for enc in g["encounters"] if enc["type"] in TYPE_NAMES["inpatient"]]
    assert stays
    assert all(3 <= enc["notes"] <= 15 for enc in stays)
    for gold in golds:
        for enc, span in _spans(gold, texts[gold["record"]]):
            if "DISCHARGE SUMMARY" in span:
                assert enc["notes"] >= 3


def test_generate_record_sizes_and_variants():
    text, gold = generate_record(random.Random(5), "b1", "clean", "small")
    assert 5_000 <= len(text) <= 16_000 and gold["record"] == "b1_clean.txt"
    text, gold = generate_record(random.Random(5), "b1", "hard", "medium")
    assert 30_000 <= len(text) <= 85_000 and gold["variant"] == "hard"
    text, gold = generate_record(random.Random(5), "b1", "clean", "large")
    assert 200_000 <= len(text) <= 600_000 and 24 <= len(gold["encounters"]) <= 40


def test_twenty_medium_records_are_fast():
    t0 = time.perf_counter()
    for k in range(20):
        generate_record(random.Random(k), f"b{k}", "hard", "medium")
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("records, variant", [(0, "clean"), (-2, "mixed"), (3, "noisy")])
def test_corpus_rejects_bad_arguments(tmp_path, records, variant):
    with pytest.raises(ValueError):
        generate_corpus(tmp_path, records=records, seed=1, variant=variant)


@pytest.mark.parametrize("variant, size", [("mixed", "small"), ("clean", "huge")])
def test_record_rejects_bad_arguments(variant, size):
    with pytest.raises(ValueError):
        generate_record(random.Random(1), "b", variant, size)
