"""Chunking: bounded, overlapping, sentence- and line-aligned pieces of a document, with offsets.

spaCy (``spacy.blank("en")``, the rule-based ``sentencizer`` and our ``line_sentences`` component,
which makes every line start a sentence start, since clinical text is line-structured far more than
it is punctuated) gives sentence structure. spaCy never sees more than ``segment_chars`` at once:
long records are cut at line ends first, so ``nlp.max_length`` stays at its default.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.attrs import SENT_START
from spacy.tokens import Doc

from pipeline.text import LineIndex

DEFAULT_CHUNK_CHARS = 4_000
DEFAULT_OVERLAP_CHARS = 400
DEFAULT_SEGMENT_CHARS = 100_000
SHORT_LINE_CHARS = 240


@Language.component("line_sentences")
def line_sentences(doc: Doc) -> Doc:
    """Starts a sentence at the first token after a newline (one array write, not one per token:
    spaCy re-checks the whole doc on every ``is_sent_start`` assignment)."""
    starts = doc.to_array([SENT_START])
    for token in doc[:-1]:
        if "\n" in token.text or "\n" in token.whitespace_:
            starts[token.i + 1] = 1
    doc.from_array([SENT_START], starts)
    return doc


@lru_cache(maxsize=1)
def sentence_nlp() -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("line_sentences", after="sentencizer")
    return nlp


@dataclass(frozen=True)
class Chunk:
    """A character interval of the document; ``start_line``/``end_line`` are 1-based and inclusive."""

    index: int
    start: int
    end: int
    start_line: int
    end_line: int


def segments(text: str, limit: int) -> Iterator[tuple[int, int]]:
    """Cuts ``text`` into pieces of at most ``limit`` characters, at a blank line or line end if any."""
    start = 0
    n = len(text)
    while start < n:
        end = min(start + limit, n)
        if end < n:
            cut = text.rfind("\n\n", start + limit // 2, end)
            if cut < 0:
                cut = text.rfind("\n", start + limit // 2, end)
            end = cut + 1 if cut >= 0 else end
        yield start, end
        start = end


def sentence_spans(text: str, segment_chars: int = DEFAULT_SEGMENT_CHARS) -> Iterator[tuple[int, int]]:
    """(start, end) of every sentence, trimmed of surrounding whitespace, in document offsets."""
    nlp = sentence_nlp()
    if segment_chars >= nlp.max_length:
        raise ValueError(f"segment_chars {segment_chars} must stay below spaCy's max_length {nlp.max_length}")
    bounds = list(segments(text, segment_chars))
    for (base, _), doc in zip(bounds, nlp.pipe(text[s:e] for s, e in bounds), strict=True):
        for sent in doc.sents:
            start = base + sent.start_char
            end = base + sent.end_char
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if end > start:
                yield start, end


def _units(text: str, lines: LineIndex, segment_chars: int) -> Iterator[tuple[int, int]]:
    """Sentence spans, computed by spaCy only where a line is long enough to hold several: every line
    start is a sentence start anyway (``line_sentences``), so a short line is one sentence as it is."""
    long_lines: list[tuple[int, int]] = []
    units: list[tuple[int, int]] = []
    for i in range(len(lines)):
        start, end = lines.span(i)
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            (long_lines if end - start > SHORT_LINE_CHARS else units).append((start, end))
    for base, end in long_lines:
        units.extend((base + s, base + e) for s, e in sentence_spans(text[base:end], segment_chars))
    yield from sorted(units)


def chunk_text(
    text: str,
    max_chars: int = DEFAULT_CHUNK_CHARS,
    overlap_chars: int = DEFAULT_OVERLAP_CHARS,
    segment_chars: int = DEFAULT_SEGMENT_CHARS,
    lines: LineIndex | None = None,
) -> list[Chunk]:
    """Packs whole sentences into chunks of at most ``max_chars``; each chunk after the first repeats
    up to ``overlap_chars`` of trailing sentences of the one before. A single sentence longer than
    ``max_chars`` is cut at ``max_chars``."""
    if overlap_chars >= max_chars:
        raise ValueError("overlap_chars must be smaller than max_chars")
    lines = lines or LineIndex(text)
    pieces: list[tuple[int, int]] = []
    for start, end in _units(text, lines, segment_chars):
        while end - start > max_chars:
            pieces.append((start, start + max_chars))
            start += max_chars
        pieces.append((start, end))

    chunks: list[Chunk] = []
    current: list[tuple[int, int]] = []

    def close() -> None:
        start, end = current[0][0], current[-1][1]
        chunks.append(Chunk(len(chunks), start, end, lines.line_of(start) + 1, lines.line_of(end - 1) + 1))

    for piece in pieces:
        if current and piece[1] - current[0][0] > max_chars:
            close()
            carried: list[tuple[int, int]] = []
            for prev in reversed(current):
                if piece[1] - prev[0] > max_chars or current[-1][1] - prev[0] > overlap_chars:
                    break
                carried.insert(0, prev)
            current = carried
        current.append(piece)
    if current:
        close()
    return chunks
