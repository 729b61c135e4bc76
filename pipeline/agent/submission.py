"""What the model may submit, and how it is checked against the record before anything is kept.

Structural faults (lines outside the record, encounters out of order or overlapping, an empty final
answer) reject the submission with a list of problems the model is asked to fix. Evidence quotes are
grounded in the text of their own encounter: exact match first, then case- and whitespace-insensitive,
then a bounded fuzzy alignment line by line; a quote that cannot be grounded, or whose value does not
parse (a date that is not a date), is dropped and counted, and the encounter is kept without it. A kept
value is always a slice of the stored text, so the runner's evidence checks hold by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from pydantic import BaseModel, ConfigDict, Field

from schemas import EncounterType

from pipeline.dates import first_date
from pipeline.detect.base import EncounterBoundary, GroundedValue
from pipeline.extract import classify_type
from pipeline.text import LineIndex

MAX_QUOTE = 200
FUZZY_MAX_QUOTE = 120
FUZZY_LINES = 80  # lines of an encounter the fuzzy alignment scans
FUZZY_RATIO = 0.85
QUOTE_FIELDS = ("date", "end_date", "type", "provider", "facility", "chief_complaint")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProposedEncounter(_Model):
    """One encounter as the model proposes it: where it starts and verbatim quotes of its fields."""

    start_line: int
    end_line: int | None = None
    date: str | None = Field(default=None, max_length=MAX_QUOTE, description="admission date for a stay")
    end_date: str | None = Field(default=None, max_length=MAX_QUOTE, description="discharge date")
    type: str | None = Field(default=None, max_length=MAX_QUOTE)
    type_value: EncounterType | None = None
    provider: str | None = Field(default=None, max_length=MAX_QUOTE)
    facility: str | None = Field(default=None, max_length=MAX_QUOTE)
    chief_complaint: str | None = Field(default=None, max_length=MAX_QUOTE)


class Submission(_Model):
    """Encounters resolved so far; ``done`` ends the work. A start line submitted again replaces the old one."""

    encounters: list[ProposedEncounter] = Field(default_factory=list, max_length=500)
    remove_lines: list[int] = Field(default_factory=list, max_length=500, description="start lines of earlier encounters to drop")
    open_questions: list[str] = Field(default_factory=list, max_length=5, description="notes to yourself for later steps")
    done: bool = False


@dataclass(frozen=True)
class Checked:
    """The outcome of one submission: the merged encounters, problems to report, quotes dropped."""

    encounters: tuple[ProposedEncounter, ...]
    problems: tuple[str, ...]
    dropped: int


def check_submission(sub: Submission, current: tuple[ProposedEncounter, ...], lines: LineIndex) -> Checked:
    """Merges a submission into the encounters found so far, or rejects it with the problems found."""
    n = len(lines)
    problems: list[str] = []
    starts = [e.start_line for e in sub.encounters]
    for e in sub.encounters:
        if not 1 <= e.start_line <= n:
            problems.append(f"start_line {e.start_line} is outside the record (lines 1-{n})")
        if e.end_line is not None and not e.start_line <= e.end_line <= n:
            problems.append(f"end_line {e.end_line} of the encounter at line {e.start_line} is not in {e.start_line}-{n}")
    if any(b <= a for a, b in zip(starts, starts[1:])):
        problems.append("encounters must be in text order with distinct start lines")
    removed = set(sub.remove_lines)
    merged = {e.start_line: e for e in current if e.start_line not in removed}
    merged.update({e.start_line: e for e in sub.encounters})
    ordered = tuple(merged[k] for k in sorted(merged))
    for a, b in zip(ordered, ordered[1:]):
        if a.end_line is not None and a.end_line >= b.start_line:
            problems.append(f"the encounter at line {a.start_line} ends at {a.end_line}, overlapping the one at line {b.start_line}")
    if sub.done and not ordered:
        problems.append("done with no encounters: submit at least the first encounter")
    if problems:
        return Checked(current, tuple(dict.fromkeys(problems))[:10], 0)
    dropped = sum(_dropped(e, lines, _span_end(e, ordered, lines)) for e in sub.encounters)
    return Checked(ordered, (), dropped)


def _span_end(e: ProposedEncounter, ordered: tuple[ProposedEncounter, ...], lines: LineIndex) -> int:
    later = [o.start_line for o in ordered if o.start_line > e.start_line]
    return lines.starts[later[0] - 1] if later else len(lines.text)


def _dropped(e: ProposedEncounter, lines: LineIndex, end: int) -> int:
    return len(ground_values(e, lines, lines.starts[e.start_line - 1], end)[1])


def ground_values(e: ProposedEncounter, lines: LineIndex, start: int, end: int) -> tuple[tuple[GroundedValue, ...], tuple[str, ...]]:
    """The encounter's quotes grounded inside ``text[start:end]``, and the names of those dropped."""
    text = lines.text
    values: list[GroundedValue] = []
    dropped: list[str] = []
    for name in QUOTE_FIELDS:
        quote = getattr(e, name)
        if not quote or not quote.strip():
            continue
        found = find_quote(text, quote.strip(), start, end, lines)
        value = _value(name, text, found, e.type_value) if found else None
        if value is None:
            dropped.append(name)
            continue
        field = {"date": "encounter_date", "type": "encounter_type"}.get(name, name)
        values.append(GroundedValue(field, value[0], value[1], text[value[0] : value[1]], value[2]))
    by_field = {v.field: v for v in values}
    first, last = by_field.get("encounter_date"), by_field.get("end_date")
    if first and last and last.value < first.value:
        values.remove(last)
        dropped.append("end_date")
    return tuple(values), tuple(dropped)


def _value(name: str, text: str, span: tuple[int, int], kind: EncounterType | None) -> tuple[int, int, str] | None:
    start, end = span
    if name in ("date", "end_date"):
        mention = first_date(text, start, end, compact=True)
        return (mention.start, mention.end, mention.value.isoformat()) if mention else None
    stripped = text[start:end].strip()
    if not stripped:
        return None
    start += text[start:end].index(stripped)
    end = start + len(stripped)
    if name == "type":
        return start, end, (kind or classify_type(stripped)).value
    return start, end, stripped


def find_quote(text: str, quote: str, start: int, end: int, lines: LineIndex) -> tuple[int, int] | None:
    """Where ``quote`` stands in ``text[start:end]``: exact, then loose (case, whitespace), then fuzzy."""
    at = text.find(quote, start, end)
    if at >= 0:
        return at, at + len(quote)
    words = quote.split()
    if words:
        loose = re.compile(r"\s+".join(re.escape(w) for w in words), re.I)
        match = loose.search(text, start, end)
        if match:
            return match.span()
    if len(quote) > FUZZY_MAX_QUOTE or len(quote) < 4:
        return None
    first = lines.line_of(start)
    best: tuple[float, int, int] | None = None
    for i in range(first, min(first + FUZZY_LINES, len(lines))):
        line_start, line_end = lines.span(i)
        line_start, line_end = max(line_start, start), min(line_end, end)
        if line_end - line_start < len(quote) // 2:
            continue
        candidate = _align(text[line_start:line_end], quote)
        if candidate and (best is None or candidate[0] > best[0]):
            best = (candidate[0], line_start + candidate[1], line_start + candidate[2])
    return (best[1], best[2]) if best else None


def _align(line: str, quote: str) -> tuple[float, int, int] | None:
    """The region of ``line`` that best matches ``quote`` and its similarity, when it is close enough."""
    matcher = SequenceMatcher(None, line, quote, autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size]
    if not blocks:
        return None
    lo, hi = blocks[0].a, blocks[-1].a + blocks[-1].size
    matched = sum(b.size for b in blocks)
    ratio = 2 * matched / (len(quote) + (hi - lo))
    return (ratio, lo, hi) if ratio >= FUZZY_RATIO else None


def assemble(encounters: tuple[ProposedEncounter, ...], lines: LineIndex) -> tuple[list[EncounterBoundary], int]:
    """Boundaries for the runner: the first encounter starts at offset 0 (text before its header belongs
    to it), each value grounded inside its final span. Returns the boundaries and the quotes dropped."""
    ordered = sorted(encounters, key=lambda e: e.start_line)
    starts = [0] + [lines.starts[e.start_line - 1] for e in ordered[1:]]
    ends = starts[1:] + [len(lines.text)]
    boundaries = []
    dropped = 0
    for e, start, end in zip(ordered, starts, ends, strict=True):
        values, lost = ground_values(e, lines, start, end)
        dropped += len(lost)
        cues = ("agent",) + tuple(f"quote:{v.field}" for v in values)
        boundaries.append(EncounterBoundary(start, lines.line_of(start), 1.0, cues, values))
    return boundaries, dropped
