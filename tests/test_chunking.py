from __future__ import annotations

import pytest

from pipeline.chunking import chunk_text, sentence_nlp, sentence_spans
from pipeline.text import LineIndex


def record(lines: int) -> str:
    return "".join(f"Line {i} states a fact. Then a second sentence here.\n" for i in range(lines))


def test_chunks_are_bounded_overlapping_and_sentence_aligned() -> None:
    text = record(400)
    chunks = chunk_text(text, max_chars=1000, overlap_chars=200)
    assert len(chunks) > 20
    assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())
    sentence_starts = {s for s, _ in sentence_spans(text)}
    sentence_ends = {e for _, e in sentence_spans(text)}
    for prev, nxt in zip(chunks, chunks[1:]):
        assert nxt.end - nxt.start <= 1000
        assert 0 < prev.end - nxt.start <= 200  # overlap, bounded
        assert nxt.start in sentence_starts and prev.end in sentence_ends
    lines = LineIndex(text)
    for c in chunks:
        assert c.start_line == lines.line_of(c.start) + 1
        assert c.end_line == lines.line_of(c.end - 1) + 1


def test_every_line_start_is_a_sentence_start() -> None:
    text = "HEADER LINE WITHOUT PUNCTUATION\nPROVIDER: X\nbody text. more\n"
    starts = {s for s, _ in sentence_spans(text)}
    assert {0, 32, 44} <= starts


def test_record_longer_than_spacy_max_length_is_cut_before_spacy() -> None:
    nlp = sentence_nlp()
    text = record(25_000)  # ~1.3 MB, above spaCy's default max_length of 1,000,000
    assert len(text) > nlp.max_length
    chunks = chunk_text(text, max_chars=50_000, overlap_chars=0)
    assert nlp.max_length == 1_000_000
    covered = sum(c.end - c.start for c in chunks)
    assert covered >= len(text.rstrip()) - len(chunks)  # nothing lost between chunks


def test_a_single_long_line_is_cut_at_the_bound() -> None:
    text = "x" * 10_500
    chunks = chunk_text(text, max_chars=4000, overlap_chars=100)
    assert [c.end - c.start for c in chunks] == [4000, 4000, 2500]


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap_chars must be smaller"):
        chunk_text("a", max_chars=10, overlap_chars=10)
