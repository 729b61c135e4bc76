"""The rules extractor: encounter metadata, each value with the exact span it was read from.

Values come from the encounter's header block and first note sub-header (labelled fields, pipe and
HL7-like segments, letterheads, dash- or bar-separated title lines, prose such as "Patient seen on
<date> at <facility> by <provider>"), ranked: the encounter's own header read by its labels beats the
header block read by the shape of its values (``pipeline.header``: any labels, boxes, stamps, banners,
markdown, title blocks), which beats a note's sub-header, which beats a signature. When the header
block names no provider or place, the signer of the first signed note (a physician rather than the
nurse who roomed the patient), the encounter's "Attending:" / "Hospital:" lines and the authors of its
note sub-headers fill in; when it prints no date, the first dated sub-header, signature or stamp line
does. Never from free text, where dates and names of other visits live.

Provider, facility and type values are cut to the value itself (a name with its credentials, an
organisation's name, the printed phrase) and dropped when what is left is not one. A type printed
nowhere is inferred from the encounter's content (note titles, an admission/discharge pair, opening
headings) and marked as inferred (``type_printed`` is False). List items that only point elsewhere
("Same", "See above") or introduce a list are not items.
Every value is a slice of the stored text, so its evidence holds by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from schemas import EncounterType

from pipeline import cues, layout
from pipeline import header as hdr
from pipeline.text import LineIndex

HEADER_LINES = 8
MAX_ITEMS = {"diagnosis": 10, "medication": 20}
MAX_VALUE_CHARS = 200
MAX_ITEM_CHARS = 120
SENTENCE_END = re.compile(r"[.;](?=\s+[A-Z(])")
DOSE = re.compile(r"\d+(?:\.\d+)?\s*(?:mg|mcg|g|ml|mL|units?|%|meq|mEq|puffs?|tabs?)\b", re.I)

# A person's name as charts print it: 2-4 capitalised words or initials ("Ana M. Ruiz", "Kenneth O'Brien",
# "Ruiz, Ana"), then optional credentials ("MD", ", MD, FACP", "BSN, RN"). Case-sensitive even inside
# case-insensitive patterns, so "... MD at Oak Ridge" stops at the credential.
_NAME_WORD = r"(?:[A-Z](?![A-Z][a-z])[A-Za-z'\-]*[a-z]|[A-Z]\.|[A-Z](?![A-Za-z]))"
_CREDENTIAL = r"(?:MD|DO|NP|PA-C|PA|RN|BSN|LPN|MSN|APRN|CRNP|DNP|FNP-C|FNP|MBBS|PhD|FACP|FACS|FACC|DPM|CNM|MLS\(ASCP\)|MLS)"
_NAME = (
    r"(?-i:(?P<v>" + _NAME_WORD + r"(?:,?\s+" + _NAME_WORD + r"){1,3}"
    r"(?:,?\s+" + _CREDENTIAL + r"(?:,\s*" + _CREDENTIAL + r")*(?![A-Z]))?))"
)
# A labelled value runs to two spaces, a bar, a tab, the line end or the next "Label:" (OCR may have
# dropped one of the two spaces between fields).
_NEXT_LABEL = (
    r"\s" + cues._labels("provider", "physician", "attending", "location", "department", "dept", "clinic", "facility",
                         "date", "time", "author", "encounter type", "visit type", "note type", "seen by") + r"\s*:"
)
_VALUE = r"(?P<v>\S(?:[^|\t]*?\S)??)(?=\s{2,}|\s*\||\t|\s*$|" + _NEXT_LABEL + r")"

LABELLED: dict[str, tuple[re.Pattern[str], ...]] = {
    "provider": (
        # at the line start or after a field gap: "Requesting physician:" or "Referring provider:" name someone else
        re.compile(r"(?:^|\s{2,}|\|)\s*" + cues._labels("ordering physician", "ordering provider", "attending physician", "attending", "provider", "physician", "seen by", "rendering provider", "clinician", "surgeon") + r"\s*:\s*" + _VALUE, re.I),
        re.compile(r"^\s*" + cues._labels("prv", "rol") + r"\|(?P<v>[^|]{2,80})\|", re.I),
    ),
    "facility": (
        re.compile(r"\b" + cues._labels("performing site", "performing lab", "facility", "location", "department", "dept", "clinic", "site", "hospital") + r"\s*:\s*" + _VALUE, re.I),
        re.compile(r"\b" + cues._labels("fax") + r"\b.{0,20}?" + cues._labels("from") + r"\s*:\s*" + _VALUE, re.I),
    ),
    "encounter_type": (
        re.compile(r"\b" + cues._labels("encounter type", "visit type", "type of visit") + r"\s*:\s*" + _VALUE, re.I),
        re.compile(r"^\s*" + cues._labels("encounter") + r"\s*:\s*" + _VALUE, re.I),
        re.compile(r"^\s*" + cues._labels("encounter") + r"\s+\S+\s+\((?P<v>[^)]{2,60})\)", re.I),
        re.compile(r"^\s*\*{2,}\s*(?P<v>[A-Za-z][A-Za-z &/,-]{2,60}?)\s*\*{2,}\s*$"),
        re.compile(r"(?:^|\s)" + cues._labels("re") + r"\s*:\s*(?P<v>[^:|]{2,60}?)\s+" + cues._labels("dos") + r"\b", re.I),
    ),
}
# Any character but a sentence's full stop: the dot of an initial or a short abbreviation ("St.", "Mt.") stays.
_NO_STOP = r"(?:[^.]|(?<=\b[A-Z])\.|(?<=\b[A-Z][A-Za-z])\.)"
PROSE = (
    # OCR drops the spaces around the little words ("seen onApr 11", "atRiverside", "Hospitalby").
    re.compile(
        r"(?<!" + cues.fuzzy("last") + r" )" + cues._labels("seen on") + r"\s*(?P<date>.{5,19}?[\dOlIS])\s*" + cues._labels("at") + r"\s*(?P<facility>" + _NO_STOP + r"{2,80}?)"
        r"(?:\s*" + cues._labels("by") + r"\s*" + _NAME.replace("?P<v>", "?P<provider>") + r"|\.?\s*$|(?<!\b[A-Z])(?<!\b[A-Z][A-Za-z])\.\s)",
        re.I,
    ),
    re.compile(r"^\s*visit\s*:\s*(?P<type>.{2,60}?)\s+on\s*(?P<date>(?=\d|[A-Za-z]{3,9}\.?\s*\d).{6,20}?)\s*with\s*" + _NAME.replace("?P<v>", "?P<provider>") + r"(?:\s*at\s*(?P<facility>" + _NO_STOP + r"{2,80}))?", re.I),
)
SIGNATURE_NAME = re.compile(
    r"(?i:" + cues._labels("signed by", "dictated by", "signed", "transcribed by", "authenticated by") + r")\s*:?\s*" + _NAME
)
# "Ryan White MD Signed 14-APR-2021": the name before the word signed.
NAME_BEFORE_SIGNED = re.compile(r"^\s*" + _NAME + r"\s+(?i:" + cues._labels("signed", "electronically signed") + r")\b")
# A line that is only a name: the signer's line above "Signed <date>" or "Electronically authenticated ...".
NAME_LINE = re.compile(r"^\s*" + _NAME + r"\s*$")
NOTE_AUTHOR = (
    re.compile(r"[—–]\s*[^—–]+?\s[—–]\s*" + _NAME + r"\s*$"),
    re.compile(r"\|\s*" + _NAME + r"\s*(?:-{3,}\s*)?$"),
    re.compile(r"\(\s*" + _NAME + r"\s*\)\s*$"),
    re.compile(r"\)\s*(?i:by)\s+" + _NAME + r"\s*$"),
    re.compile(r"\s-\s+" + _NAME + r"\s*$"),
)
AUTHOR_LABEL = re.compile(r"\b(?i:" + cues._labels("author", "authored by", "written by") + r")\s*:\s*" + _NAME + r"(?=\s{2,}|\s*\||\s*$)")
# A letterhead: the facility's name in capitals above an address / telephone line.
LETTERHEAD_NAME = re.compile(r"^\s*(?P<v>[A-Z][A-Z&.,'\- ]{3,70}[A-Z.])\s*$")
# "<Type>    Date of Visit: <date>": the visit type printed before a visit-date label.
TYPE_BEFORE_DATE = re.compile(
    r"^\s*(?P<v>[A-Za-z][A-Za-z &/'-]{2,50}?)\s{2,}" + cues._labels("date of visit", "date of service", "visit date", "dos") + r"\s*:", re.I
)
DISCHARGE_DATE = re.compile(r"\b" + cues._labels("discharge date", "date of discharge", "discharged on", "discharged") + r"\s*:?\s*", re.I)
CHIEF_COMPLAINT = re.compile(
    r"^\s*" + cues._labels("chief complaint", "cc", "reason for visit", "reason for consultation", "reason for admission", "reason for referral", "presenting complaint") + r"\s*:\s*(?P<v>.*)$",
    re.I | re.M,
)
SECTION_HEADING = re.compile(r"^\s*[A-Za-z][A-Za-z /&'-]{1,50}:")
DIAGNOSIS_SECTION = re.compile(
    r"^\s*(?:" + cues._labels("assessment and plan", "assessment", "impression", "diagnoses", "diagnosis", "preoperative diagnoses", "preoperative diagnosis", "postoperative diagnoses", "postoperative diagnosis", "discharge diagnoses", "discharge diagnosis", "admission diagnoses", "admission diagnosis", "final diagnoses", "final diagnosis", "problem list", "active problems") + r")(?:\s*:\s*(?P<v>.*)|[ \t]{2,}(?P<v2>\S.*)|\s+\S.{0,60}:|\s*)$",
    re.I | re.M,
)
MEDICATION_SECTION = re.compile(
    r"^\s*(?:" + cues._labels("current medications", "discharge medications", "medications at home", "home medications", "medications", "medication list", "medication", "meds", "today's prescription") + r")(?:\s*:\s*(?P<v>.*)|[ \t]{2,}(?P<v2>\S.*)|\s+\S.{0,60}:|\s*)$",
    re.I | re.M,
)
# A list line: numbered, bulleted ("-", "•", "*", "#"), or led by an ICD-10 code ("D50.9  Iron deficiency anemia").
LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]\s+|[-•*#]\s+|(?=[A-TV-Z]\d{2}(?:\.[\dA-Z]{1,4})?\s))(?P<v>\S.*?)\s*$", re.M)
INLINE_NUMBERED = re.compile(r"(?:^|\s)\d{1,2}[.)]\s+(?P<v>[^.;]*?[^\s.;])(?=\s*(?:\.|;)?\s*(?:\d{1,2}[.)]\s|$))")
# Values that stand for no item: an empty list ("None", "NKDA"), or a pointer to another list ("Same", "Same as
# above", "See HPI", "Unchanged", "Deferred", "Pending") whose items, if any, are read where they are printed.
NOT_AN_ITEM = re.compile(
    r"^(?:none(?: known| reported)?|nkda|nka|n/?a|nil|not applicable|no known.*|no (?:changes?|new \w+)"
    r"|(?:same|as|see|per|refer to)\b.{0,40}(?:above|below|before|previously|prior|noted|listed|hpi|note|chart|diagnos[ie]s|dx)"
    r"|same(?: as (?:pre-?\s*op\w*|post-?\s*op\w*|admission|admitting|before|prior|previous)\w*(?: diagnos[ie]s)?)?"
    r"|unchanged|deferred|pending(?: .{0,30})?|noncontributory|non-contributory|not assessed|to be determined|tbd)\W*$",
    re.I,
)
# A line that introduces a list or marks copied text ("Problem list (carried forward from 6/21/08):",
# "--- Copied from prior encounter ---"): never an item itself, though the lines under it may be.
COPY_FORWARD = re.compile(
    r"\b" + cues._labels("carried forward", "carried over", "copied from", "copied forward", "copy forward", "brought forward", "pulled forward", "pulled from", "imported from") + r"\b",
    re.I,
)
BULLET = re.compile(r"^(?:[-•*#>]+\s*)+")

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
        if line.strip() and not cues.set_aside(lines, i, line):
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
    for raw in line.split("|"):
        cell = raw
        if cut := re.search(_NEXT_LABEL, cell, re.I):
            cell = cell[: cut.start()]  # a merged line: the next note's "Note Type: ..." is no part of the cell
        stripped = cell.strip()
        offset = pos + (cell.index(stripped) if stripped else 0)
        cells.append((offset, offset + len(stripped)))
        pos += len(raw) + 1
    return cells


# Ranks of evidence, best first: the encounter's own header read by its labels, the header block read by
# the shape of its values (pipeline.header), a note's sub-header, then a signature.
HEADER, STRUCTURE, SUBHEADER, SIGNED = 0, 1, 2, 3


class _Collector:
    """Per field, the best-ranked value wins; among equals, the first one in the order consulted."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.found: dict[str, tuple[int, Span]] = {}

    def offer(self, name: str, span: Span | None, rank: int = HEADER) -> None:
        span = clean_value(name, self.text, span)
        if span and span.text.strip() and (name not in self.found or rank < self.found[name][0]):
            self.found[name] = (rank, span)

    def rank(self, name: str) -> int | None:
        return self.found[name][0] if name in self.found else None

    def cell(self, name: str, base: int, cell: tuple[int, int], rank: int = HEADER) -> None:
        if cell[1] > cell[0]:
            self.offer(name, Span(base + cell[0], base + cell[1], self.text[base + cell[0] : base + cell[1]]), rank)

    def get(self, name: str) -> Span | None:
        return self.found[name][1] if name in self.found else None


_TRIMMERS = {"provider": hdr.trim_person, "facility": hdr.trim_facility, "encounter_type": hdr.trim_type}


def clean_value(name: str, text: str, span: Span | None) -> Span | None:
    """A provider, facility or type value cut to the value itself (a name with its credentials, an
    organisation's name, the printed phrase), or None when what is left is no such value."""
    if span is None or name not in _TRIMMERS:
        return span
    trimmed = _TRIMMERS[name](text, span.start, span.end)
    return Span(*trimmed) if trimmed else None


def _header_fields(text: str, lines: LineIndex, header: list[int], out: ExtractedFields, first: int, last: int) -> hdr.HeaderValues:
    got = _Collector(text)
    header_date = None
    note_date = None
    for k, i in enumerate(header):
        base, end = lines.span(i)
        line = text[base:end]
        is_header = cues.encounter_header(line)
        is_note = cues.note_header(line)
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
        if match := TYPE_BEFORE_DATE.match(line):
            got.offer("encounter_type", _span(text, base, match))
        if k + 1 < len(header) and (match := LETTERHEAD_NAME.match(line)) and cues.LETTERHEAD.search(lines.line(header[k + 1])):
            got.offer("facility", _span(text, base, match))
        if k == 0 and k + 1 < len(header) and _title_line(line) and cues.NOTE_HEADERS["date_line"].match(lines.line(header[k + 1])):
            # "Clinic Visit / Date: 11/04/2012 / Seen by: ...": a title line over a date line
            stripped = line.strip(" *#=-")
            start = base + line.index(stripped)
            got.offer("encounter_type", Span(start, start + len(stripped), stripped), SUBHEADER)
        if match := AUTHOR_LABEL.search(line):
            got.offer("provider", _span(text, base, match), SUBHEADER)
        if not cells and (dated := _dated_cells(line)):
            _offer_dated_cells(got, text, base, line, dated, facility_line=lines.line(header[k + 1]) if k + 1 < len(header) else "")
        if is_header and header_date is None:
            header_date = cues.date_in(text, base, end, compact=bool(cells))
        if is_note:
            if note_date is None:
                note_date = cues.date_in(text, base, end)
            for pattern in NOTE_AUTHOR:
                match = pattern.search(line)
                if match:
                    got.offer("provider", _span(text, base, match), SUBHEADER)
                    break
            if (match := LABELLED["encounter_type"][0].search(line)) is None and (match := NOTE_TYPE.search(line)):
                got.offer("encounter_type", _span(text, base, match), SIGNED)
    # The header block read by the shape of its values, whatever its labels: it fills what no label named.
    complete = header_date is not None and all(got.rank(name) == HEADER for name in ("provider", "facility", "encounter_type"))
    found = hdr.HeaderValues() if complete else _read_blocks(text, lines, first, last)
    for name, value in (("provider", found.provider), ("facility", found.facility), ("encounter_type", found.encounter_type)):
        if value is not None:
            got.offer(name, Span(value.start, value.end, value.text), STRUCTURE)
    mention = header_date or found.date or note_date
    if mention is None:
        for i in header[:3]:
            base, end = lines.span(i)
            line = text[base:end]
            if _dating_line(line) and (mention := cues.date_in(text, base, end)):
                break
    if mention:
        out.encounter_date = (mention.value, Span(mention.start, mention.end, text[mention.start : mention.end]))
    printed = got.get("encounter_type")
    if printed is not None and found.encounter_type is not None and not hdr.visit_phrase(printed.text):
        # a banner's title ("** SERVICE EXTRACT **") gives way to the phrase the header prints as the visit's kind
        printed = Span(found.encounter_type.start, found.encounter_type.end, found.encounter_type.text)
    if printed is not None and got.rank("encounter_type") > STRUCTURE and not hdr.visit_phrase(printed.text):
        # a note's title ("Admission H&P") is no visit type when a note sub-header of the encounter prints
        # one, and a lone generic word ("Appt", "Encounter") is a label, not a type
        printed = _subheader_type(text, lines, first, last) or (None if hdr.generic_word(printed.text) else printed)
    elif printed is None:
        printed = _subheader_type(text, lines, first, last)
    if printed is not None:
        out.encounter_type = (classify_type(printed.text), printed)
        out.type_printed = True
    else:
        out.encounter_type = _inferred_type(text, lines, header, first, last)
    out.provider = got.get("provider")
    out.facility = got.get("facility")
    return found


def _read_blocks(text: str, lines: LineIndex, first: int, last: int) -> hdr.HeaderValues:
    """The first block of the encounter read by structure; when it names nothing (a records-request cover
    sheet, a patient banner), the next block, and the one after."""
    banner = None
    for rows in hdr.blocks(text, lines, first, min(last, first + 30)):
        found = hdr.read(text, lines, rows)
        if found.provider or found.facility or found.encounter_type:
            return found
        if found.date:
            if not _IDENTIFIER.search("\n".join(lines.line(i) for i in rows)):
                return found
            banner = banner or found  # a date beside a record number: a patient banner's birth date, likely
    return banner or hdr.HeaderValues()


_IDENTIFIER = re.compile(r"(?<![\d/.-])\d{6,}(?![\d/.-])")


# Lines worth reading as a note sub-header: short, with a digit (a date).
_SUBHEADER_HINT = re.compile(r"\d")


def _subheader_lines(text: str, lines: LineIndex, first: int, last: int):
    """Note sub-headers of the encounter ("Follow-up Visit - Office Note - 2013-04-09 12:23 - Name",
    "[5/9/12 4:36 PM] ED Note - Name", "2017-04-16 14:07  OFFICE NOTE  Author: Name"), in text order."""
    for i in range(first, last + 1):
        base, end = lines.span(i)
        if end - base > 200 or end == base:
            continue
        line = text[base:end]
        if _SUBHEADER_HINT.search(line) and cues.note_header(line) and not cues.set_aside(lines, i, line):
            yield i, base, line


def _subheader_type(text: str, lines: LineIndex, first: int, last: int) -> Span | None:
    """The first visit type a note sub-header of the encounter prints as one of its cells."""
    for _, base, line in _subheader_lines(text, lines, first, last):
        for cell in hdr.cells(line):
            value = line[cell.start : cell.end]
            if hdr.visit_phrase(value) and not hdr.place_not_kind(value):
                return clean_value("encounter_type", text, Span(base + cell.start, base + cell.end, text[base + cell.start : base + cell.end]))
    return None


def _subheader_author(text: str, lines: LineIndex, first: int, last: int) -> Span | None:
    """The first clinician (not nursing staff) a note of the encounter names as its author: in an
    "Author:" line or a note sub-header ("Follow-up Visit - Provider Note - <date> - Leon Novak, MD")."""
    for i in range(first, last + 1):
        base, end = lines.span(i)
        if end - base > 200 or end == base:
            continue
        line = text[base:end]
        if match := AUTHOR_LABEL.search(line):
            found = [(match.start("v"), match.end("v"))]
        elif _SUBHEADER_HINT.search(line) and cues.note_header(line) and not cues.set_aside(lines, i, line):
            found = hdr.person_matches(line)
        else:
            continue
        for a, b in found:
            span = clean_value("provider", text, Span(base + a, base + b, text[base + a : base + b]))
            if span is not None and not _nursing(span):
                return span
    return None


def _dating_line(line: str) -> bool:
    """A line whose date may date the encounter: a header-like line (a title with a date, a "Date:" label),
    not a signature, page furniture, cover-sheet request stamp or a sentence citing another visit."""
    if len(line) > 100 or cues.SIGNATURE.search(line) or cues.is_furniture(line) or cues.FALSE_CUE.search(line) or NOT_VISIT_DATE.search(line):
        return False
    if ":" in line:
        return bool(re.match(r"[^:]*\b" + cues.fuzzy("date"), line, re.I))  # "Date: ...", "Visit date: ..."
    return not line.rstrip().endswith(".")  # a title or stamp, not a sentence


# A line whose date is another date than the visit's: a request, print or copy stamp, a birth date.
NOT_VISIT_DATE = re.compile(
    r"\b(?:d\.o\.b\.?|" + cues._labels("request date", "requested", "printed", "print", "copy", "copied", "dob", "birth", "born", "faxed") + r")(?!\w)",
    re.I,
)
NOTE_TYPE = re.compile(r"\b" + cues._labels("note type", "document type") + r"\s*:\s*" + _VALUE, re.I)
_CELL_SPLIT = re.compile(r"\s+[—–-]\s+|\s*[|—–]\s*")


def _dated_cells(line: str) -> list[tuple[int, int]] | None:
    """Cell spans of a dash- or bar-separated line with a date cell ("Type - Facility - date",
    "Type - Title - date time - Author"), or None."""
    if not (cues.NOTE_HEADERS["dated_cells"].match(line) or cues.NOTE_HEADERS["dashed_note"].match(line)):
        return None
    cells, pos = [], 0
    for match in [*_CELL_SPLIT.finditer(line), None]:
        stop = match.start() if match else len(line)
        piece = line[pos:stop]
        stripped = piece.strip(" -")
        if stripped:
            offset = pos + piece.index(stripped)
            cells.append((offset, offset + len(stripped)))
        pos = match.end() if match else len(line)
    return cells if len(cells) >= 2 else None


def _offer_dated_cells(got: _Collector, text: str, base: int, line: str, cells: list[tuple[int, int]], facility_line: str) -> None:
    dated = next((k for k, (a, b) in enumerate(cells) if cues.date_in(line, a, b)), None)
    if dated is None or dated == 0:
        return
    before, after = cells[:dated], cells[dated + 1 :]
    got.cell("encounter_type", base, before[0], SUBHEADER)
    if len(before) >= 2 and not after:
        got.cell("facility", base, before[1], SUBHEADER)  # "Type - Facility - date"
    if after and NAME_LINE.match(line[after[-1][0] : after[-1][1]]):
        got.cell("provider", base, after[-1], SUBHEADER)  # "... - date time - Author"
    if len(before) == 1 and not after and _name_like(facility_line):
        start = base + len(line) + 1 + facility_line.index(facility_line.strip())
        got.offer("facility", Span(start, start + len(facility_line.strip()), facility_line.strip()), SUBHEADER)


def _name_like(line: str) -> bool:
    """A facility name on a line of its own: capitalised words, no label, digits or sentence end."""
    stripped = line.strip()
    words = stripped.split()
    return (
        1 < len(words) <= 8
        and ":" not in stripped
        and not any(ch.isdigit() for ch in stripped)
        and not stripped.endswith(".")
        and all(w[:1].isupper() or w in ("of", "and", "&", "at", "the") for w in words)
        and not cues.title_cues([stripped])[0]
    )


def _title_line(line: str) -> bool:
    stripped = line.strip(" *#=-")
    return bool(stripped) and len(stripped) <= 60 and ":" not in stripped and not any(ch.isdigit() for ch in stripped) and stripped[:1].isupper()


def _cue(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"\b" + cues._labels(*phrases) + r"\b", re.I)


# What a note's title or the encounter's content implies about the kind of encounter, by clinical meaning.
# Checked in this order on one title (a "Surgical Pathology Report" is a lab result, not a procedure).
KIND_CUES: tuple[tuple[EncounterType, re.Pattern[str]], ...] = (
    (EncounterType.inpatient, _cue("discharge summary", "death summary", "admission h&p", "admission history", "history and physical",
                                   "h&p", "admission note", "nursing admission", "hospital day", "inpatient", "hospital admission",
                                   "hospital course", "shift note", "transfer note", "daily progress note")),
    (EncounterType.emergency, re.compile(r"\b" + cues._labels("triage", "emergency", "emergency room", "urgent care") + r"\b|(?-i:\b(?:ED|ER)\b)", re.I)),
    (EncounterType.telehealth, _cue("telehealth", "telemedicine", "video visit", "virtual visit", "two-way video", "video")),
    (EncounterType.telephone, _cue("telephone", "phone call", "phone note", "phone encounter", "telephone call")),
    (EncounterType.lab, _cue("pathology", "specimen", "laboratory", "lab report", "lab results", "chemistry", "hematology", "labs", "lab")),
    (EncounterType.imaging, _cue("radiology", "imaging", "x-ray", "xray", "ct", "mri", "ultrasound", "echocardiogram", "mammogram", "dexa", "scan")),
    (EncounterType.procedure, _cue("operative", "operation", "procedure", "op note", "anesthesia", "endoscopy", "colonoscopy", "surgery", "surgical")),
    (EncounterType.consult, _cue("consult", "consultation")),
    (EncounterType.office_visit, _cue("progress note", "office", "clinic note", "clinic visit", "rooming", "soap note", "follow-up",
                                      "follow up", "annual physical", "wellness", "well visit", "check-up", "checkup", "visit")),
)
# A stay's kind or an emergency visit's holds whatever other notes the encounter has (a stay's imaging
# reports and consults, an ED visit's labs); otherwise the first note says what kind of visit it was.
_DOMINANT = (EncounterType.inpatient, EncounterType.emergency, EncounterType.telehealth)
# A telehealth visit says so in its first lines even under a plain "Progress Note" title.
TELEHEALTH_BODY = _cue("telehealth", "telemedicine", "video visit", "virtual visit", "virtual care", "two-way video", "via video", "secure video", "audio-video")
BODY_LINES = 40
# Opening section headings that imply a kind when no title does ("Reason for Call:" opens a telephone
# note, "Preoperative Diagnosis:" an operative note, "Collected:" a lab report); "Chief Complaint:" or
# "Subjective:" alone means an ordinary visit note.
_MODALITY = r"(?-i:XR|CT|MRI?|US|NM|PET|DEXA|X-RAY|XRAY|MAMMO\w*|ULTRASOUND|ECHO\w*|FLUORO\w*)\b"
BODY_CUES: tuple[tuple[EncounterType, re.Pattern[str]], ...] = (
    (EncounterType.inpatient, re.compile(r"^\W*" + cues._labels("admission date", "date of admission", "admit date", "hospital course", "admitting diagnosis", "reason for admission") + r"\s*:", re.I)),
    (EncounterType.emergency, re.compile(r"^\W*" + cues._labels("triage", "esi level", "esi", "mode of arrival", "arrived via", "arrival mode") + r"\b", re.I)),
    (EncounterType.telephone, re.compile(r"^\W*" + cues._labels("reason for call", "call details", "caller", "call back number", "patient called", "called patient", "returned call", "phone call") + r"\b", re.I)),
    (EncounterType.consult, re.compile(r"^\W*" + cues._labels("reason for consult", "reason for consultation", "requesting physician", "requesting provider", "consulting physician") + r"\s*:", re.I)),
    (EncounterType.procedure, re.compile(r"^\W*" + cues._labels("preoperative diagnosis", "preoperative diagnoses", "pre-operative diagnosis", "preop diagnosis", "procedure performed", "procedures performed", "operation performed", "title of operation", "name of procedure", "estimated blood loss") + r"\s*:", re.I)),
    (EncounterType.lab, re.compile(r"^\W*" + cues._labels("collected", "collection date", "date collected", "specimen", "specimen type", "performing lab", "reference range") + r"\s*:", re.I)),
    (EncounterType.imaging, re.compile(r"^\W*(?:" + cues._labels("exam date", "study date", "date of exam", "technique", "comparison") + r"\s*:|(?:" + cues._labels("exam", "study", "examination") + r"\s*:\s*)?" + _MODALITY + r")", re.I)),
    (EncounterType.office_visit, re.compile(r"^\W*" + cues._labels("chief complaint", "reason for visit", "subjective", "history of present illness", "hpi") + r"\s*:?", re.I)),
)


def _inferred_type(text: str, lines: LineIndex, header: list[int], first: int, last: int) -> tuple[EncounterType, Span] | None:
    """A type implied, not printed: an admission/discharge pair or a discharge summary means a stay,
    triage or an ED note an emergency visit, a video visit telehealth; otherwise the first note title
    ("Operative Report", "Radiology Report", "Progress Note") implies its kind, or else the headings the
    encounter opens with ("Reason for Call:", "Preoperative Diagnosis:", "Collected:", "Chief Complaint:").
    The cue is the evidence."""
    admission = cues.ENCOUNTER_HEADERS["admission_date"]
    for i in header[:4]:
        base, end = lines.span(i)
        match = admission.search(text[base:end])
        if match:
            label = match.group(0).strip().rstrip(":").strip()
            start = text.index(label, base)
            return EncounterType.inpatient, Span(start, start + len(label), label)
    titles: list[tuple[EncounterType, Span]] = []
    for _, start, value in _title_cells(text, lines, first, last):
        for kind, pattern in KIND_CUES:
            if pattern.search(value):
                titles.append((kind, Span(start, start + len(value), value)))
                break
    body: list[tuple[EncounterType, Span]] = []
    for i in range(first, min(last, first + BODY_LINES) + 1):
        base, end = lines.span(i)
        line = text[base:end]
        if match := TELEHEALTH_BODY.search(line):
            body.append((EncounterType.telehealth, Span(base + match.start(), base + match.end(), match.group())))
        for kind, pattern in BODY_CUES:
            if match := pattern.match(line):
                cue = match.group().strip(" :*#-=[]")
                if cue:
                    start = base + line.index(cue)
                    body.append((kind, Span(start, start + len(cue), cue)))
                break
    for kind in _DOMINANT:
        for k, span in sorted(titles + body, key=lambda f: f[1].start):
            if k is kind:
                return k, span
    if titles:
        return titles[0]
    specific = [b for b in body if b[0] is not EncounterType.office_visit]
    return (specific or body or [None])[0]


def _titleish(line: str) -> bool:
    """A short title-only line; OCR may have put digits inside its words ("0PERATIVE REPORT", "CON5ULT NOTE")."""
    stripped = line.strip(" *#=-")
    return (
        bool(stripped) and len(stripped) <= 60 and ":" not in stripped and stripped[:1].isalnum()
        and not re.search(r"\d{2}|(?<![A-Za-z])\d(?![A-Za-z])", stripped)
    )


def _title_cells(text: str, lines: LineIndex, first: int, last: int):
    """(line, start, text) of every note title of the encounter: title lines ("DISCHARGE SUMMARY"), and the
    title cells of note sub-headers ("Radiology Report" in "[date] Radiology Report - Name")."""
    titles = [i for i in range(first, last + 1) if _titleish(lines.line(i)) and cues.maybe_title(lines.line(i))]
    flags = cues.title_cues([lines.line(i) for i in titles])
    rows: dict[int, list[tuple[int, str]]] = {}
    for i, found in zip(titles, flags, strict=True):
        if "note_title" in found:
            base, end = lines.span(i)
            stripped = text[base:end].strip(" *#-=")
            rows[i] = [(base + text[base:end].index(stripped), stripped)]
    for i, base, line in _subheader_lines(text, lines, first, last):
        rows.setdefault(i, [])
        for cell in hdr.cells(line, shapeless_labels=False):
            value = line[cell.start : cell.end]
            if not cues.date_in(value) and not layout.PERSON.search(value) and len(value) <= 80:
                rows[i].append((base + cell.start, value))
    for i in sorted(rows):
        for start, value in rows[i]:
            yield i, start, value


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
        # the value after "Heading:" or a wide gap; a heading word opening a sentence is no heading
        group = "v" if match.group("v") is not None else "v2" if match.group("v2") is not None else None
        inline = match.group(group) if group else ""
        vstart = match.start(group) if group else end
        if inline.strip():
            numbered = list(INLINE_NUMBERED.finditer(text, vstart, end))
            if numbered:
                found.extend(s for m in numbered if (s := _span(text, 0, m)))
            elif kind == "medication":
                # A prose line can follow the heading ("as previously noted. Changes include ..."):
                # keep only pieces that read like a drug with a dose, or a bare drug name.
                pos = vstart
                for piece in re.split(r"[;,]", inline):
                    stripped = piece.strip()
                    if stripped and len(piece) < 80 and (DOSE.search(stripped) or len(stripped.split()) <= 4):
                        start = pos + piece.index(stripped)
                        found.append(Span(start, start + len(stripped), stripped))
                    pos += len(piece) + 1
            else:
                span = _span(text, 0, match, group)
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
    found = [_first_sentence(_run_on_cut(s)) for s in (_unbulleted(s) for s in found) if s is not None]
    return [s for s in found if _is_item(s.text)][: MAX_ITEMS[kind]]


_TWO_ALNUM = re.compile(r"[^\W_].*?[^\W_]")


def _is_item(value: str) -> bool:
    """Whether a list value names an item: not an empty-list or anaphoric value ("None", "Same as above"),
    not a line that introduces a list (it ends with a colon) and not a copy-forward marker."""
    stripped = value.strip()
    if not _TWO_ALNUM.search(stripped) or (stripped.startswith("(") and ")" not in stripped):
        return False  # a stray mark, or a parenthesis cut off by a page break
    return not stripped.endswith(":") and not NOT_AN_ITEM.match(stripped) and not COPY_FORWARD.search(stripped)


_GLUED_LABEL = re.compile(r"(?<=[a-z)])(?=[A-Z][a-z]+(?:\s[A-Za-z]+){0,2}\s*:)")
_REMARK_HINT = re.compile(r"\s[A-Z][a-z]{2,}\s+[a-z].*\d")
_CLAUSE_START = re.compile(r"(?<=[\s)a-z])(?=[A-Z][a-z]{2,}(?:\s+[a-z][a-z'-]*)*\s+$)")


def _run_on_cut(span: Span) -> Span:
    """An item without the text a line merge ran into it: the next heading glued on ("...infarction
    Postoperative Diagnosis: Same"), or a dated remark ("Gout Records from 2014-05-18 were reviewed")."""
    value = span.text
    cut = len(value)
    if match := _GLUED_LABEL.search(value):
        cut = match.start()
    date = cues.date_in(value, 0, cut, compact=True) if _REMARK_HINT.search(value, 0, cut) else None
    if date and date.start > 0 and (match := _CLAUSE_START.search(value[: date.start])) and match.start() > 0:
        cut = min(cut, match.start())
    if cut == len(value):
        return span
    value = value[:cut].rstrip(" ,;:-")
    return Span(span.start, span.start + len(value), value) if value else span


def _unbulleted(span: Span) -> Span | None:
    """The item without bullet marks that a line merge left in front of it ("Diagnoses: # Gout")."""
    match = BULLET.match(span.text)
    if not match:
        return span
    if match.end() >= len(span.text):
        return None
    return Span(span.start + match.end(), span.end, span.text[match.end() :])


def _first_sentence(span: Span) -> Span:
    """An item up to its first sentence end, and at most ``MAX_ITEM_CHARS``."""
    match = SENTENCE_END.search(span.text)
    cut = match.start() + 1 if match else len(span.text)
    cut = min(cut, MAX_ITEM_CHARS)
    return Span(span.start, span.start + cut, span.text[:cut])


def _signature_provider(text: str, lines: LineIndex, first: int, last: int) -> Span | None:
    """The signer of the encounter's first signed note (the first one who is not nursing staff, when
    there is one): "Electronically signed by <name>", "<name> MD Signed <date>", or a name line right
    above "Signed <date>" / "Electronically authenticated ..."."""
    previous = None
    nurse = None
    for i in range(first, last + 1):
        base, end = lines.span(i)
        line = text[base:end]
        if cues.SIGNATURE.search(line):
            span = None
            match = SIGNATURE_NAME.search(line) or NAME_BEFORE_SIGNED.search(line)
            if match:
                span = _span(text, base, match)
            elif previous is not None:
                pbase, pend = lines.span(previous)
                if match := NAME_LINE.match(text[pbase:pend]):
                    span = _span(text, pbase, match)
            if span is not None:
                if not _nursing(span):
                    return span
                nurse = nurse or span
        if line.strip():
            previous = i
    return nurse


NURSING = re.compile(r"\b(?:RN|LPN|LVN|BSN|CNA|CMA|MA|MLS(?:\(ASCP\))?|RT|RRT)\s*$")


def _nursing(span: Span) -> bool:
    """A name signed with nursing or technician credentials only ("Leah Brennan, BSN, RN")."""
    return bool(NURSING.search(span.text)) and not re.search(r"\b(?:MD|DO|NP|PA-C|PA|FNP-C|FNP|APRN|CRNP|DNP)\b", span.text)


# Labels that name the encounter's own provider or place wherever they stand (a discharge summary's
# "Attending:" and "Hospital:" lines), unlike "Location:" or "Site:", which body text uses for anatomy.
LATER_LABELS = {
    "provider": re.compile(r"^\s*" + cues._labels("attending physician", "attending") + r"\s*:\s*" + _VALUE, re.I),
    "facility": re.compile(r"^\s*" + cues._labels("hospital", "facility", "performing site", "performing lab") + r"\s*:\s*" + _VALUE, re.I),
}


def _labelled_later(text: str, lines: LineIndex, first: int, last: int, name: str) -> Span | None:
    pattern = LATER_LABELS[name]
    for i in range(first, last + 1):
        base, end = lines.span(i)
        if (match := pattern.match(text[base:end])) and (span := _span(text, base, match)):
            return span
    return None


def _later_date(text: str, lines: LineIndex, first: int, last: int) -> tuple[date, Span] | None:
    """When the header block prints no date: the first dated note sub-header or signature / dictation
    line of the encounter ("Electronically signed by ... on <date>", "D: <date>"), whichever comes
    first. A signature may postdate the visit, so this is the last resort."""
    for i in range(first, last + 1):
        base, end = lines.span(i)
        line = text[base:end]
        if cues.set_aside(lines, i, line):
            continue
        if (cues.SIGNATURE.search(line) or cues.note_header(line) or _stamp_line(line)) and (mention := cues.date_in(text, base, end)):
            return mention.value, Span(mention.start, mention.end, text[mention.start : mention.end])
    return None


# Labels before a name that make it someone else's: a referral's source, a copy's recipient, the patient's doctor.
_OTHER_PERSON = re.compile(r"\b(?:referr\w*|referred|requesting|pcp|primary care|cc|copy|copies|patient|family|guardian|last|prior|previous)\b", re.I)


def _stamp_line(line: str) -> bool:
    """A short line that names a clinician and a date, whatever its words ("Sealed 10/8/13 19:56 Jane Roe,
    MD", "Approved by Jane Roe, MD on 07-Dec-2015"): a note's stamp or signature, not a sentence citing
    another visit or another person."""
    if len(line) > 140 or not any(ch.isdigit() for ch in line) or cues.FALSE_CUE.search(line) or NOT_VISIT_DATE.search(line):
        return False
    people = hdr.person_matches(line)
    return bool(people) and not _OTHER_PERSON.search(line[: people[0][0]]) and not _prose(line)


def _prose(line: str) -> bool:
    words = line.split()
    return len(words) >= 8 and sum(1 for w in words if w[:1].islower()) >= len(words) / 2


def _any_clinician(text: str, lines: LineIndex, first: int, last: int) -> Span | None:
    """The last resort for a provider: the first clinician (not nursing staff) named with a credential on
    a short line of the encounter that is no sentence and names no one else's role."""
    for i in range(first, last + 1):
        base, end = lines.span(i)
        if end - base > 120 or end == base:
            continue
        line = text[base:end]
        if cues.set_aside(lines, i, line) or _prose(line):
            continue
        for a, b in hdr.person_matches(line):
            if _OTHER_PERSON.search(line[:a]):
                break
            span = clean_value("provider", text, Span(base + a, base + b, text[base + a : base + b]))
            if span is not None and not _nursing(span):
                return span
    return None


def _discharge_date(text: str, lines: LineIndex, first: int, last: int, admitted: date | None) -> tuple[date, Span] | None:
    for i in range(first, last + 1):
        base, end = lines.span(i)
        for match in DISCHARGE_DATE.finditer(text, base, end):
            mention = cues.date_in(text, match.end(), min(end, match.end() + 30))
            if mention and (admitted is None or mention.value >= admitted):
                return mention.value, Span(mention.start, mention.end, text[mention.start : mention.end])
    return None


def extract_fields(text: str, lines: LineIndex, start: int, end: int) -> ExtractedFields:
    """All fields of the encounter spanning ``text[start:end]``."""
    first = lines.line_of(start)
    last = lines.line_of(max(start, end - 1))
    out = ExtractedFields()
    found = _header_fields(text, lines, _header_lines(lines, first, last), out, first, last)
    if out.provider is None or _nursing(out.provider):
        # A nurse's rooming, triage or pre-procedure note opens many visits; the visit's provider signs
        # the main note.
        signer = clean_value("provider", text, _signature_provider(text, lines, first, last))
        later = clean_value("provider", text, _labelled_later(text, lines, first, last, "provider"))
        choices = [p for p in (signer, later) if p is not None]
        if not any(not _nursing(p) for p in choices) and (author := _subheader_author(text, lines, first, last)):
            choices.append(author)
        if not any(not _nursing(p) for p in choices) and (anyone := _any_clinician(text, lines, first, last)):
            choices.append(anyone)
        out.provider = next((p for p in choices if not _nursing(p)), out.provider or (choices[0] if choices else None))
    if out.facility is None:
        out.facility = clean_value("facility", text, _labelled_later(text, lines, first, last, "facility"))
    if out.encounter_date is None:
        out.encounter_date = _later_date(text, lines, first, last)
    admitted = out.encounter_date[0] if out.encounter_date else None
    out.end_date = _discharge_date(text, lines, first, last, admitted)
    if out.end_date is None and found.end_date is not None and admitted is not None and found.end_date.value >= admitted:
        end = found.end_date
        out.end_date = (end.value, Span(end.start, end.end, text[end.start : end.end]))
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
