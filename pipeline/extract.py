"""The rules extractor: encounter metadata, each value with the exact span it was read from.

Values come from the encounter's header block and first note sub-header (labelled fields, pipe and
HL7-like segments, prose such as "Patient seen on <date> at <facility> by <provider>"), then from
signature lines, and never from free text further down, where dates and names of other visits live.
Every value is a slice of the stored text, so its evidence holds by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from schemas import EncounterType

from pipeline import cues
from pipeline.dates import first_date
from pipeline.text import LineIndex

HEADER_LINES = 8
MAX_ITEMS = {"diagnosis": 10, "medication": 20}
MAX_VALUE_CHARS = 200
MAX_ITEM_CHARS = 120
SENTENCE_END = re.compile(r"[.;](?=\s+[A-Z(])")
DOSE = re.compile(r"\d+(?:\.\d+)?\s*(?:mg|mcg|g|ml|mL|units?|%|meq|mEq|puffs?|tabs?)\b", re.I)

_NAME = r"(?P<v>[A-Z][A-Za-z.'\-]*(?:[ ,]{1,2}[A-Z][A-Za-z.'\-]*){0,4}(?:,?\s(?:MD|DO|NP|PA-C|PA|RN|MBBS|PhD|FACP|FACS|DPM|CNM))?)"
_VALUE = r"(?P<v>\S(?:[^|\t]*?\S)??)(?=\s{2,}|\s*\||\t|\s*$)"

LABELLED: dict[str, tuple[re.Pattern[str], ...]] = {
    "provider": (
        re.compile(r"\b" + cues._labels("ordering physician", "attending physician", "attending", "provider", "physician", "author", "seen by", "rendering provider", "clinician", "surgeon") + r"\s*:\s*" + _VALUE, re.I),
    ),
    "facility": (
        re.compile(r"\b" + cues._labels("performing site", "facility", "location", "department", "clinic", "site", "hospital") + r"\s*:\s*" + _VALUE, re.I),
        re.compile(r"\b" + cues._labels("fax") + r"\b.{0,20}?" + cues._labels("from") + r"\s*:\s*" + _VALUE, re.I),
    ),
    "encounter_type": (
        re.compile(r"\b" + cues._labels("encounter type", "visit type", "type of visit", "note type") + r"\s*:\s*" + _VALUE, re.I),
        re.compile(r"^\s*" + cues._labels("encounter") + r"\s*:\s*" + _VALUE, re.I),
        re.compile(r"^\s*" + cues._labels("encounter") + r"\s+\S+\s+\((?P<v>[^)]{2,60})\)", re.I),
        re.compile(r"^\s*\*{2,}\s*(?P<v>[A-Za-z][A-Za-z &/,-]{2,60}?)\s*\*{2,}\s*$"),
        re.compile(r"^\s*" + cues._labels("re") + r"\s*:\s*(?P<v>.{2,60}?)\s+" + cues._labels("dos") + r"\b", re.I),
    ),
}
PROSE = (
    re.compile(r"\bseen on (?P<date>.{6,20}?) at (?P<facility>.{2,80}?) by " + _NAME.replace("?P<v>", "?P<provider>"), re.I),
    re.compile(r"^\s*visit\s*:\s*(?P<type>.{2,60}?) on (?P<date>.{6,20}?) with " + _NAME.replace("?P<v>", "?P<provider>") + r"(?: at (?P<facility>[^.]{2,80}))?", re.I),
)
SIGNATURE_NAME = re.compile(
    r"(?i:" + cues._labels("signed by", "dictated by", "signed", "transcribed by", "authenticated by") + r")\s*:?\s*" + _NAME
)
NOTE_AUTHOR = (
    re.compile(r"[—–]\s*[^—–]+?\s[—–]\s*" + _NAME + r"\s*$"),
    re.compile(r"\|\s*" + _NAME + r"\s*-{3,}\s*$"),
    re.compile(r"\(\s*" + _NAME + r"\s*\)\s*$"),
)
DISCHARGE_DATE = re.compile(r"\b" + cues._labels("discharge date", "date of discharge", "discharged on", "discharged") + r"\s*:?\s*", re.I)
CHIEF_COMPLAINT = re.compile(
    r"^\s*" + cues._labels("chief complaint", "cc", "reason for visit", "reason for consultation", "reason for admission", "reason for referral", "presenting complaint") + r"\s*:\s*(?P<v>.*)$",
    re.I | re.M,
)
SECTION_HEADING = re.compile(r"^\s*[A-Za-z][A-Za-z /&'-]{1,50}:")
DIAGNOSIS_SECTION = re.compile(
    r"^\s*(?:" + cues._labels("assessment and plan", "assessment", "impression", "diagnoses", "diagnosis", "preoperative diagnoses", "preoperative diagnosis", "postoperative diagnoses", "postoperative diagnosis", "discharge diagnoses", "discharge diagnosis", "admission diagnoses", "admission diagnosis", "final diagnoses", "final diagnosis", "problem list", "active problems") + r")\s*:?\s*(?P<v>.*)$",
    re.I | re.M,
)
MEDICATION_SECTION = re.compile(
    r"^\s*(?:" + cues._labels("current medications", "discharge medications", "medications at home", "home medications", "medications", "medication list", "medication", "meds", "today's prescription") + r")\s*:?\s*(?P<v>.*)$",
    re.I | re.M,
)
LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-•*])\s+(?P<v>\S.*?)\s*$", re.M)
INLINE_NUMBERED = re.compile(r"(?:^|\s)\d{1,2}[.)]\s+(?P<v>[^.;]*?[^\s.;])(?=\s*(?:\.|;)?\s*(?:\d{1,2}[.)]\s|$))")
NOT_AN_ITEM = re.compile(r"^(?:none|nkda|n/a|as (?:previously )?noted|see (?:above|below)|unchanged|no known.*)\.?$", re.I)

TYPE_KEYWORDS: tuple[tuple[EncounterType, re.Pattern[str]], ...] = (
    (EncounterType.emergency, re.compile(r"emergen|\bED\b|\bER\b|urgent care", re.I)),
    (EncounterType.inpatient, re.compile(r"admission|admit|inpatient|hospitali[sz]ation|hospital stay|discharge|observation", re.I)),
    (EncounterType.telehealth, re.compile(r"tele(?:health|medicine)|video|virtual", re.I)),
    (EncounterType.telephone, re.compile(r"tele?phone|phone call", re.I)),
    (EncounterType.procedure, re.compile(r"procedure|surg|operat|endoscop|colonoscop|biopsy", re.I)),
    (EncounterType.imaging, re.compile(r"imaging|radiolog|x-?ray|\bCT\b|\bMRI\b|ultrasound|mammo|echocardiogra", re.I)),
    (EncounterType.lab, re.compile(r"\blab|patholog|specimen", re.I)),
    (EncounterType.consult, re.compile(r"consult", re.I)),
    (EncounterType.office_visit, re.compile(r"office|clinic|visit|check-?up|follow-?up|outpatient|well|physical|encounter for|progress|episode", re.I)),
)


@dataclass(frozen=True)
class Span:
    """A value read from the text and where: ``text[start:end]`` is the evidence."""

    start: int
    end: int
    text: str


@dataclass
class ExtractedFields:
    encounter_date: tuple[date, Span] | None = None
    end_date: tuple[date, Span] | None = None
    encounter_type: tuple[EncounterType, Span] | None = None
    type_printed: bool = False  # the span prints the type itself, not a cue that implies it
    provider: Span | None = None
    facility: Span | None = None
    chief_complaint: Span | None = None
    diagnoses: list[Span] = field(default_factory=list)
    medications: list[Span] = field(default_factory=list)


def classify_type(printed: str) -> EncounterType:
    for kind, pattern in TYPE_KEYWORDS:
        if pattern.search(printed):
            return kind
    return EncounterType.other


def _span(text: str, base: int, match: re.Match[str], group: str = "v") -> Span | None:
    start, end = match.span(group)
    if start < 0 or end <= start:
        return None
    value = match.group(group)
    stripped = value.strip(" \t,;.-")
    if not stripped:
        return None
    start += value.index(stripped)
    end = start + len(stripped)
    if end - start > MAX_VALUE_CHARS:
        end = start + MAX_VALUE_CHARS
    return Span(base + start, base + end, text[base + start : base + end])


def _header_lines(lines: LineIndex, start_line: int, end_line: int) -> list[int]:
    out = []
    for i in range(start_line, end_line + 1):
        line = lines.line(i)
        if line.strip() and not cues.FURNITURE.search(line):
            out.append(i)
            if len(out) >= HEADER_LINES:
                break
    return out


def _pipe_fields(line: str) -> list[tuple[int, int]] | None:
    """Cell spans of a '<date> | type | provider | facility' or 'ENC|YYYYMMDD|type|facility|' line."""
    if line.count("|") < 2 or not (cues.ENCOUNTER_HEADERS["pipe_line"].search(line) or cues.ENCOUNTER_HEADERS["hl7_segment"].search(line)):
        return None
    cells = []
    pos = 0
    for cell in line.split("|"):
        stripped = cell.strip()
        offset = pos + (cell.index(stripped) if stripped else 0)
        cells.append((offset, offset + len(stripped)))
        pos += len(cell) + 1
    return cells


class _Collector:
    """First value wins, per field, in the order sources are consulted."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.found: dict[str, Span] = {}

    def offer(self, name: str, span: Span | None) -> None:
        if span and name not in self.found and span.text.strip():
            self.found[name] = span

    def cell(self, name: str, base: int, cell: tuple[int, int]) -> None:
        if cell[1] > cell[0]:
            self.offer(name, Span(base + cell[0], base + cell[1], self.text[base + cell[0] : base + cell[1]]))


def _header_fields(text: str, lines: LineIndex, header: list[int], out: ExtractedFields) -> None:
    got = _Collector(text)
    header_date = None
    note_date = None
    for i in header:
        base, end = lines.span(i)
        line = text[base:end]
        is_header = cues.encounter_header(line)
        cells = _pipe_fields(line)
        if cells:
            hl7 = line.lstrip().upper().startswith(("ENC|", "PV1|", "EVN|"))
            names = ("", "", "encounter_type", "facility") if hl7 else ("", "encounter_type", "provider", "facility")
            for name, cell in zip(names, cells, strict=False):
                if name:
                    got.cell(name, base, cell)
        for pattern in PROSE:
            match = pattern.search(line)
            if match:
                for name, group in (("facility", "facility"), ("provider", "provider"), ("encounter_type", "type")):
                    if group in match.groupdict() and match.group(group):
                        got.offer(name, _span(text, base, match, group))
        for name, patterns in LABELLED.items():
            for pattern in patterns:
                match = pattern.search(line)
                if match and not (name == "encounter_type" and match.group("v").lower().startswith(("nurse", "provider-unspecified"))):
                    got.offer(name, _span(text, base, match))
        if is_header and header_date is None:
            header_date = first_date(text, base, end, compact=bool(cells))
        if note_date is None and cues.note_header(line):
            note_date = first_date(text, base, end)
            for pattern in NOTE_AUTHOR:
                match = pattern.search(line)
                if match:
                    got.offer("note_author", _span(text, base, match))
                    break
    mention = header_date or note_date
    if mention is None:
        for i in header[:3]:
            base, end = lines.span(i)
            if not cues.SIGNATURE.search(text[base:end]) and (mention := first_date(text, base, end)):
                break
    if mention:
        out.encounter_date = (mention.value, Span(mention.start, mention.end, text[mention.start : mention.end]))
    if "encounter_type" in got.found:
        span = got.found["encounter_type"]
        out.encounter_type = (classify_type(span.text), span)
        out.type_printed = True
    else:
        out.encounter_type = _inferred_type(text, lines, header)
    out.provider = got.found.get("provider") or got.found.get("note_author")
    out.facility = got.found.get("facility")


def _inferred_type(text: str, lines: LineIndex, header: list[int]) -> tuple[EncounterType, Span] | None:
    """A type implied, not printed: an admission-date header means a stay; a note title such as
    "Discharge Summary" or "Operative Report" implies its kind. The cue itself is the evidence."""
    admission = cues.ENCOUNTER_HEADERS["admission_date"]
    for i in header[:4]:
        base, end = lines.span(i)
        match = admission.search(text[base:end])
        if match:
            label = match.group(0).strip().rstrip(":").strip()
            start = text.index(label, base)
            return EncounterType.inpatient, Span(start, start + len(label), label)
    titles = cues.title_cues([lines.line(i) for i in header[:4]])
    for i, found in zip(header[:4], titles, strict=False):
        if "note_title" in found:
            base, end = lines.span(i)
            stripped = text[base:end].strip(" *#-=")
            kind = classify_type(stripped)
            if kind is not EncounterType.other:
                start = base + text[base:end].index(stripped)
                return kind, Span(start, start + len(stripped), stripped)
    return None


def _items(text: str, lines: LineIndex, first: int, last: int, section: re.Pattern[str], kind: str) -> list[Span]:
    """List items of every matching section: inline after the heading, or one per following line."""
    found: list[Span] = []
    i = first
    while i <= last and len(found) < MAX_ITEMS[kind]:
        base, end = lines.span(i)
        match = section.match(text, base, end)
        i += 1
        if not match:
            continue
        inline = match.group("v")
        vstart = match.start("v")
        if inline.strip():
            numbered = list(INLINE_NUMBERED.finditer(text, vstart, end))
            if numbered:
                found.extend(s for m in numbered if (s := _span(text, 0, m)))
            elif kind == "medication":
                pos = vstart
                for piece in re.split(r"[;,]", inline):
                    if piece.strip() and len(piece) < 80:
                        found.append(Span(pos + piece.index(piece.strip()), pos + piece.index(piece.strip()) + len(piece.strip()), piece.strip()))
                    pos += len(piece) + 1
            else:
                span = _span(text, 0, match)
                if span:
                    found.append(span)
        while i <= last:
            base, end = lines.span(i)
            item = LIST_ITEM.match(text, base, end)
            if not item:
                break
            span = _span(text, 0, item)
            if span:
                found.append(span)
            i += 1
    found = [_first_sentence(s) for s in found]
    if kind == "medication":
        found = [s for s in found if DOSE.search(s.text) or len(s.text.split()) <= 4]
    return [s for s in found if not NOT_AN_ITEM.match(s.text)][: MAX_ITEMS[kind]]


def _first_sentence(span: Span) -> Span:
    """An item up to its first sentence end, and at most ``MAX_ITEM_CHARS``."""
    match = SENTENCE_END.search(span.text)
    cut = match.start() + 1 if match else len(span.text)
    cut = min(cut, MAX_ITEM_CHARS)
    return Span(span.start, span.start + cut, span.text[:cut])


def _signature_provider(text: str, lines: LineIndex, first: int, last: int) -> Span | None:
    for i in range(first, last + 1):
        base, end = lines.span(i)
        line = text[base:end]
        if cues.SIGNATURE.search(line):
            match = SIGNATURE_NAME.search(line)
            if match:
                return _span(text, base, match)
    return None


def _discharge_date(text: str, lines: LineIndex, first: int, last: int, admitted: date | None) -> tuple[date, Span] | None:
    for i in range(first, last + 1):
        base, end = lines.span(i)
        for match in DISCHARGE_DATE.finditer(text, base, end):
            mention = first_date(text, match.end(), min(end, match.end() + 30))
            if mention and (admitted is None or mention.value >= admitted):
                return mention.value, Span(mention.start, mention.end, text[mention.start : mention.end])
    return None


def extract_fields(text: str, lines: LineIndex, start: int, end: int) -> ExtractedFields:
    """All fields of the encounter spanning ``text[start:end]``."""
    first = lines.line_of(start)
    last = lines.line_of(max(start, end - 1))
    out = ExtractedFields()
    _header_fields(text, lines, _header_lines(lines, first, last), out)
    if out.provider is None:
        out.provider = _signature_provider(text, lines, first, last)
    admitted = out.encounter_date[0] if out.encounter_date else None
    out.end_date = _discharge_date(text, lines, first, last, admitted)
    for i in range(first, last + 1):
        base, line_end = lines.span(i)
        match = CHIEF_COMPLAINT.match(text, base, line_end)
        if match:
            out.chief_complaint = _span(text, 0, match)
            if out.chief_complaint is None and i + 1 <= last:
                next_base, next_end = lines.span(i + 1)
                stripped = text[next_base:next_end].strip()
                if stripped and not SECTION_HEADING.match(stripped):
                    s = next_base + text[next_base:next_end].index(stripped)
                    out.chief_complaint = Span(s, s + min(len(stripped), MAX_VALUE_CHARS), text[s : s + min(len(stripped), MAX_VALUE_CHARS)])
            break
    out.diagnoses = _items(text, lines, first, last, DIAGNOSIS_SECTION, "diagnosis")
    out.medications = _items(text, lines, first, last, MEDICATION_SECTION, "medication")
    return out
