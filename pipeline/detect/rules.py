"""The rules detector: scored, explainable cues over the line structure of a record.

A candidate is the first line of a paragraph (after blank lines, page furniture being transparent)
or any line carrying an encounter header. Its score adds named cues: the blank-line gap before it,
an encounter-level header in its first lines, a note sub-header, a note-type title or opening
section, a signature or closing line just before it; and subtracts contrary cues: a line split by a
page break, a copied-forward block, a body sentence citing an earlier visit. Candidates at or above
the threshold start a new encounter, except that notes inside an open inpatient stay (opened by an
admission cue, closed by a discharge summary or a date gap) stay in that stay: a stay is ONE encounter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pipeline import cues
from pipeline.dates import first_date
from pipeline.detect.base import DetectionInput, Detector, EncounterBoundary, register

# Lines of a paragraph inspected for header cues: header blocks are short.
HEADER_WINDOW = 4


@dataclass(frozen=True)
class LineCues:
    line: int
    gap: int
    encounter_header: str | None
    note_header: str | None
    titles: frozenset[str]
    after_signature: bool
    after_closing: bool
    false_cue: bool
    closes_note: bool
    after_closing_section: bool
    continues_stay: bool
    split_line: bool
    date: date | None


@register
class RulesDetector(Detector):
    name = "rules"
    version = "1.0"

    def __init__(
        self,
        threshold: float = 3.0,
        gap_weights: tuple[float, ...] = (-2.0, 0.0, 2.0, 3.0),
        encounter_header_weight: float = 4.0,
        note_header_weight: float = 1.5,
        title_weight: float = 1.0,
        signature_weight: float = 1.5,
        stay_gap_days: int = 2,
    ) -> None:
        self.threshold = threshold
        self.gap_weights = tuple(gap_weights)
        self.encounter_header_weight = encounter_header_weight
        self.note_header_weight = note_header_weight
        self.title_weight = title_weight
        self.signature_weight = signature_weight
        self.stay_gap_days = stay_gap_days

    def config(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "gap_weights": list(self.gap_weights),
            "encounter_header_weight": self.encounter_header_weight,
            "note_header_weight": self.note_header_weight,
            "title_weight": self.title_weight,
            "signature_weight": self.signature_weight,
            "stay_gap_days": self.stay_gap_days,
        }

    # -- line analysis -------------------------------------------------------------------------

    def _paragraph_cues(self, doc: DetectionInput) -> list[LineCues]:
        lines = doc.lines.lines
        furniture = [bool(cues.FURNITURE.search(line)) and len(line) < 160 for line in lines]
        content = [i for i, line in enumerate(lines) if line.strip() and not furniture[i]]
        starts: list[tuple[int, int, int | None]] = []  # (line, gap, previous content line)
        prev: int | None = None
        for i in content:
            if prev is None:
                gap = 99
            else:
                between = range(prev + 1, i)
                blanks = sum(1 for j in between if not lines[j].strip())
                # A page break brings its own blank line before and after its furniture: transparent.
                furniture_blocks = sum(1 for j in between if furniture[j] and (j == prev + 1 or not furniture[j - 1]))
                gap = max(0, blanks - 2 * furniture_blocks)
            if gap > 0 or prev is None or cues.encounter_header(lines[i]):
                starts.append((i, gap, prev))
            prev = i
        titles = cues.title_cues([lines[i] for i, _, _ in starts])
        out = []
        for (i, gap, prev_line), title in zip(starts, titles, strict=True):
            window = []
            for j in range(i, min(i + HEADER_WINDOW, len(lines))):
                if not lines[j].strip():
                    break  # a header block is contiguous
                window.append(j)
            header = next((h for j in window if (h := cues.encounter_header(lines[j]))), None)
            note = next((n for j in window[:3] if (n := cues.note_header(lines[j]))), None)
            previous = lines[prev_line] if prev_line is not None else ""
            closes_note = header is None and any(cues.SIGNATURE.search(lines[j]) for j in window[:3])
            continues_stay = header is None and any(cues.HOSPITAL_DAY.search(lines[j]) for j in window[:3])
            start, end = doc.lines.span(i)
            mention = first_date(doc.text, start, end, compact=header == "hl7_segment")
            out.append(
                LineCues(
                    line=i,
                    gap=gap,
                    encounter_header=header,
                    note_header=note,
                    titles=frozenset(title),
                    after_signature=bool(cues.SIGNATURE.search(previous)),
                    after_closing=bool(cues.CLOSING.search(previous)),
                    false_cue=bool(cues.FALSE_CUE.search(lines[i])) and header is None,
                    closes_note=closes_note,
                    after_closing_section=prev_line is not None
                    and any(cues.CLOSING_SECTION.search(lines[j]) for j in range(max(0, prev_line - 6), prev_line + 1)),
                    continues_stay=continues_stay,
                    split_line=_looks_split(previous, lines[i]) and header is None and note is None,
                    date=mention.value if mention else None,
                )
            )
        return out

    def score(self, c: LineCues) -> tuple[float, tuple[str, ...]]:
        """The boundary score of one candidate and the names of the cues that made it."""
        parts: list[tuple[str, float]] = []
        if c.gap < 99:
            parts.append((f"gap_{min(c.gap, 3)}", self.gap_weights[min(c.gap, len(self.gap_weights) - 1)]))
        if c.encounter_header:
            parts.append((f"header:{c.encounter_header}", self.encounter_header_weight))
        if c.note_header:
            parts.append((f"note:{c.note_header}", self.note_header_weight))
        for title in sorted(c.titles):
            parts.append((title, 2 * self.title_weight if title == "strong_opening" else self.title_weight))
        if c.after_closing_section and "strong_opening" in c.titles:
            parts.append(("section_order_reset", self.title_weight))
        if c.after_signature or c.after_closing:
            parts.append(("after_signature" if c.after_signature else "after_closing", self.signature_weight))
        if c.false_cue:
            parts.append(("false_date_cue", -3.0))
        if c.split_line:
            parts.append(("split_line", -3.0))
        if c.closes_note:
            parts.append(("signature_block", -3.0))
        if c.continues_stay:
            parts.append(("hospital_day", -3.0))
        return sum(w for _, w in parts), tuple(name for name, _ in parts)

    # -- decision ------------------------------------------------------------------------------

    def detect(self, doc: DetectionInput) -> list[EncounterBoundary]:
        lines = doc.lines.lines
        boundaries = [EncounterBoundary(0, 0, 1.0, ("record_start",))]
        stay = _Stay()
        candidates = self._paragraph_cues(doc)
        for c in candidates:
            score, names = self.score(c)
            block = "\n".join(lines[c.line : c.line + HEADER_WINDOW])
            is_start = score >= self.threshold and c is not candidates[0]
            is_note = c.note_header is not None or "note_title" in c.titles or c.continues_stay
            if is_start and stay.open and c.encounter_header is None and is_note:
                if stay.continues(c.date, self.stay_gap_days):
                    is_start = False
                    names += ("inside_stay",)
            if is_start:
                boundaries.append(EncounterBoundary(doc.lines.starts[c.line], c.line, score, names))
                stay = _Stay()
            stay.observe(block, c.date)
        return boundaries


class _Stay:
    """Whether the current encounter is an inpatient stay that further notes still belong to."""

    def __init__(self) -> None:
        self.open = False
        self.discharged: date | bool = False  # the discharge note's date, or True when it had none
        self.last_date: date | None = None

    def observe(self, block: str, when: date | None) -> None:
        if cues.STAY_CLOSE.search(block) and self.open:
            self.discharged = when or self.last_date or True
        elif cues.STAY_OPEN.search(block):
            self.open = True
        if when:
            self.last_date = max(self.last_date or when, when)

    def continues(self, when: date | None, gap_days: int) -> bool:
        """After a discharge note only same-day notes still belong to the stay (the physician's
        summary after the nurse's); otherwise a note belongs unless its date jumps past the gap."""
        if self.discharged:
            return isinstance(self.discharged, date) and when is not None and when <= self.discharged
        if when and self.last_date and when > self.last_date + timedelta(days=gap_days):
            return False
        return True


def _looks_split(previous: str, line: str) -> bool:
    """A line cut by a page break: the previous line ends mid-sentence and this one continues it."""
    prev = previous.rstrip()
    head = line.lstrip()[:1]
    return bool(prev) and prev[-1] not in ".:;!?)" and head.islower()
