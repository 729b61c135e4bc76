"""Naive encounter segmenters to score chartsift against.

Why: a segmentation score means little on its own. Two cheap reference points
bracket it: ``date-split`` (a new encounter at every line that starts with a
date, the first thing anyone would try on a chart) and ``texttiling``
(Hearst's lexical-cohesion segmenter, the classic topic-segmentation
baseline, via NLTK's reference implementation). Both return encounters in the
corpus format (spans tiling the text), so :mod:`pipeline.evaluation` scores
them exactly like the real system.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from nltk.tokenize.texttiling import TextTilingTokenizer

from pipeline.dates import first_date
from pipeline.errors import UsageError
from pipeline.text import LineIndex

_H = r"[^\S\n]"  # horizontal whitespace: a cue never spans lines
_CUE_LEAD = re.compile(rf"{_H}*[\[(]?(?:(?:[a-z]+{_H}+){{0,3}}date(?:{_H}+of{_H}+service)?{_H}*:{_H}*)?", re.I)
"""What may precede the date of a cue: indentation, an opening bracket, and a
short "... date:" / "date of service:" label such as "Encounter Date:"."""

TEXTTILING_WINDOW = 20_000
"""Characters per TextTiling window (see :func:`texttiling`)."""

# Common English function words. NLTK's default list lives in nltk_data, a
# separate download that is absent offline; a frozenset because TextTiling
# tests membership once per token.
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because
    been before being below between both but by can could did do does doing down
    during each few for from further had has have having he her here hers herself
    him himself his how i if in into is it its itself just me more most my myself
    no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then
    there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours
    yourself yourselves""".split()
)
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_NON_BLANK_LINE = re.compile(r"^[^\S\n]*\S", re.MULTILINE)


def date_split(text: str) -> list[dict]:
    """A new encounter at every line that starts with a date (after
    :data:`_CUE_LEAD`), as :mod:`pipeline.dates` recognises dates; the
    encounter date is that date."""
    lines = LineIndex(text)
    starts, dates = [0], [None]
    for i, line_start in enumerate(lines.starts):
        line_end = lines.span(i)[1]
        cue = _CUE_LEAD.match(text, line_start, line_end).end()
        mention = first_date(text, cue, line_end)
        if mention is None or mention.start != cue:
            continue
        if i == 0:  # the first line opens encounter 1 anyway
            dates[0] = mention.value.isoformat()
        else:
            starts.append(line_start)
            dates.append(mention.value.isoformat())
    return _tile(text, starts, dates)


def texttiling(text: str) -> list[dict]:
    """Segment ``text`` with NLTK's TextTiling, one encounter per tile.

    NLTK's block comparison is quadratic in text length and refuses texts over
    1 MB, so the text is cut into windows of about :data:`TEXTTILING_WINDOW`
    characters at blank lines (a window join is not a boundary). A window
    TextTiling cannot handle (too short, too few paragraph breaks) is one
    tile. NLTK ends a tile before the whitespace of a paragraph break; each
    tile start is moved to the start of its first non-blank line, where an
    encounter would start. Tiles are lexical topics, not visits: that gap is
    what this baseline measures.
    """
    tokenizer = TextTilingTokenizer(stopwords=_STOPWORDS)
    starts = [0]
    for window_start, window_end in _windows(text):
        try:
            tiles = tokenizer.tokenize(text[window_start:window_end])
        except (ValueError, ZeroDivisionError):
            continue
        offset = window_start
        for tile in tiles[:-1]:
            offset += len(tile)
            line = _NON_BLANK_LINE.search(text, offset, window_end)
            if line is not None and line.start() > starts[-1]:
                starts.append(line.start())
    return _tile(text, starts, [None] * len(starts))


BASELINES: dict[str, Callable[[str], list[dict]]] = {"date-split": date_split, "texttiling": texttiling}


def predict(name: str, texts: Mapping[str, str]) -> list[dict]:
    """Run baseline ``name`` over ``texts`` (record id -> text): corpus-format records."""
    if name not in BASELINES:
        raise UsageError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    segment = BASELINES[name]
    return [{"record": record, "encounters": segment(text)} for record, text in texts.items()]


def _windows(text: str) -> list[tuple[int, int]]:
    """Consecutive (start, end) windows of at least TEXTTILING_WINDOW
    characters, each ending after a blank line found within the next window
    length, else at the next line break, else at the end of the text."""
    windows, start = [], 0
    while start < len(text):
        target = start + TEXTTILING_WINDOW
        blank = _BLANK_LINE.search(text, target, target + TEXTTILING_WINDOW)
        newline = text.find("\n", target)
        end = blank.end() if blank else (newline + 1 if newline >= 0 else len(text))
        windows.append((start, end))
        start = end
    return windows


def _tile(text: str, starts: list[int], dates: list[str | None]) -> list[dict]:
    """Encounters covering ``text`` from increasing ``starts`` (first is 0)."""
    ends = starts[1:] + [len(text)]
    return [
        {"start": s, "end": e, "date": d, "type": None, "provider": None, "facility": None}
        for s, e, d in zip(starts, ends, dates)
    ]
