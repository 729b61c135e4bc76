"""Baseline segmenters on texts built here (no corpus files, no network)."""

from __future__ import annotations

import random

import nltk
import pytest

from pipeline.baselines import BASELINES, date_split, predict, texttiling
from pipeline.errors import UsageError

TOPICS = [
    "cardiac chest pain troponin angina ejection murmur atrial rhythm stent coronary".split(),
    "fracture femur cast orthopedic splint radiograph bone ligament knee tendon".split(),
    "diabetes insulin glucose metformin hemoglobin neuropathy retinopathy pancreas diet carbohydrate".split(),
    "asthma inhaler wheeze spirometry albuterol bronchial airway lungs steroid cough".split(),
]


def topical_text(rounds: int) -> tuple[str, list[int], list[int]]:
    """Paragraphs of 60 words drawn from one topic at a time, 6 per topic.

    Returns the text, every paragraph's start offset, and the indices of the
    paragraphs that open a new topic.
    """
    rng = random.Random(7)
    paragraphs, topic_starts = [], []
    for _ in range(rounds):
        for vocabulary in TOPICS:
            topic_starts.append(len(paragraphs))
            paragraphs += [" ".join(rng.choice(vocabulary) for _ in range(60)) + "." for _ in range(6)]
    offsets = [sum(len(p) + 2 for p in paragraphs[:i]) for i in range(len(paragraphs))]
    return "\n\n".join(paragraphs) + "\n", offsets, topic_starts


def assert_tiles(encounters: list[dict], text: str) -> None:
    assert encounters[0]["start"] == 0 and encounters[-1]["end"] == len(text)
    assert all(a["end"] == b["start"] > a["start"] for a, b in zip(encounters, encounters[1:]))


def test_date_split():
    text = (
        "Patient chart\n"
        "2015-02-23 Office visit\n"
        "notes\n"
        "  03/04/2016 follow up\n"
        "Seen 04/05/2017 in clinic\n"
        "Date of Service: 7-JUN-2018\n"
        "[Feb 30, 2019] impossible date\n"
        "(12/05/19) two-digit year\n"
    )
    encounters = date_split(text)
    assert_tiles(encounters, text)
    starts = [text.index(line) for line in ("2015-02-23", "  03/04", "Date of", "(12/05")]
    assert [e["start"] for e in encounters] == [0, *starts]
    assert [e["date"] for e in encounters] == [None, "2015-02-23", "2016-03-04", "2018-06-07", "2019-12-05"]
    assert {e["provider"] for e in encounters} == {None}


def test_date_on_first_line_dates_the_first_encounter():
    assert date_split("March 3, 2001 visit\nnotes\n") == [
        {"start": 0, "end": 26, "date": "2001-03-03", "type": None, "provider": None, "facility": None}
    ]


@pytest.fixture
def offline_nltk(monkeypatch, tmp_path):
    """NLTK may only look in an empty data directory, as on an offline host."""
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])


def test_texttiling_finds_topic_shifts_offline(offline_nltk):
    text, offsets, topic_starts = topical_text(rounds=1)
    encounters = texttiling(text)
    assert_tiles(encounters, text)
    starts = [e["start"] for e in encounters]
    assert set(starts) <= set(offsets)  # every tile starts at a paragraph
    tiles = [offsets.index(s) for s in starts]
    assert all(min(abs(t - p) for t in tiles) <= 1 for p in topic_starts)


def test_texttiling_windows_long_text(offline_nltk):
    text, offsets, _ = topical_text(rounds=4)  # about 47,000 characters: three windows
    encounters = texttiling(text)
    assert_tiles(encounters, text)
    assert len(encounters) > 8
    assert {e["start"] for e in encounters} <= set(offsets)


def test_texttiling_short_text_is_one_tile(offline_nltk):
    text = "Too short to tile.\n"
    assert texttiling(text) == [
        {"start": 0, "end": len(text), "date": None, "type": None, "provider": None, "facility": None}
    ]


def test_predict():
    texts = {"a.txt": "2020-01-01 x\n2020-02-02 y\n", "b.txt": "nothing\n"}
    records = predict("date-split", texts)
    assert [r["record"] for r in records] == ["a.txt", "b.txt"]
    assert [len(r["encounters"]) for r in records] == [2, 1]
    assert set(BASELINES) == {"date-split", "texttiling"}
    with pytest.raises(UsageError, match="unknown baseline"):
        predict("oracle", texts)
