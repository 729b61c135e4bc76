"""An encounter's header block read by structure, whatever its labels say.

Every source system prints an encounter's header from its own template: "Label: value" lines with any
labels and separators (``:``, ``::``, ``=``, dotted leaders, ``[Label] value``, ``Label - value``),
boxes, one-line stamps, account banners, markdown, or a bare stack of title, date, name and place. What
does not vary is the *shape* of the values: a date is a date, a clinician is a name with a credential, a
place is an organisation name, and a visit type is a short phrase naming a kind of visit. This module
cuts the block into cells, finds those shapes in them, and picks one value per field:

* date: the first date of the block (the admission date of an admission / discharge pair), unless its
  label names another date (birth, print, fax, a prior or next visit);
* end date: a later date of the block whose label names the discharge ("Discharge", "DSC", "D/C");
* provider: the person-shaped value, preferably one next to a label (not a referring or copied person);
* facility: the organisation-shaped value (a place label vouches for a department such as "Oncology");
* type: the phrase that names a kind of visit ("Office Visit", "Telehealth Encounter"), not a note title.

The words used here name clinical meaning (visit kinds, roles, discharge), never one format's labels.
Offsets are kept throughout: every value is a slice of the stored text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline import cues, layout
from pipeline.dates import DateMention
from pipeline.text import LineIndex

MAX_BLOCK_LINES = 12

# Words that name a kind of visit or stay.
VISIT_WORD = re.compile(
    r"\b(?:visits?|encounters?|consult\w*|admission|admit|follow[- ]?up|check[- ]?up|appointment|appt|"
    r"tele(?:health|medicine|phone|visit)\w*|phone(?: call)?|video|virtual|e-?visit|emergency|urgent care|walk-in|"
    r"procedure|surgery|surgical|operation|endoscopy|colonoscopy|inpatient|outpatient|observation|"
    r"imaging|radiology|x-?ray|mri|ultrasound|mammogra\w*|lab|labs|laboratory|pathology|specimen|infusion|"
    r"stay|hospitali[sz]ation|physical|wellness|well[- ]child|exam|examination|screening|immuni[sz]ation|"
    r"vaccination|house call|home visit|(?-i:ED|ER))\b",
    re.I,
)
# A lone generic word is no kind: "Encounter 2019-03-04" is a banner, not a type.
_GENERIC = frozenset({"visit", "visits", "encounter", "encounters", "appointment", "appt", "stay", "exam", "lab", "labs"})
# A phrase ending in a document head names a note, not a visit ("Admission H&P", "Consult Note").
DOCUMENT_HEAD = re.compile(
    r"(?:\b" + cues._labels("note", "notes", "report", "summary", "documentation", "letter", "addendum", "h&p", "result", "results",
                            "transmittal", "order", "orders", "request", "form", "sheet", "record", "flowsheet", "instructions",
                            "log", "message", "history and physical") + r")\W*$",
    re.I,
)
# Head words that end a place's name (and not a visit kind's): "Harbor Clinic", "Emergency Department".
PLACE_HEAD = re.compile(
    r"\b(?:clinics?|hospital|cent(?:er|re)s?|partners|associates|group|practice|physicians|specialists|institute|"
    r"pavilion|campus|department|dept|unit|services|laboratories|labs|system|network|infirmary|foundation|"
    r"university|ward|office|offices|llc|inc|pc|pllc|ltd|health|healthcare|medical)\.?\W*$",
    re.I,
)
# A specialty names a department: "Oncology", "Internal Medicine", "Pediatrics", "Ward 4W".
SPECIALTY = re.compile(r"\b(?:\w+olog(?:y|ie)|\w+iatrics|\w+(?:pedics|paedics)|medicine|surgery|(?:primary|urgent) care|ward\s+\w+|unit\s+\w+)\b", re.I)

# Label roles, by clinical meaning.
# (OCR-tolerant: "Requcst date", "Rcported")
# Labels of dates that are not the visit's: another day (cues.ELSEWHEN_WORDS), or the day the record was
# written, on or soon after the visit: the visit's date when the block prints no other ("Dictated
# 28-Nov-10 16:20 / transcribed 29-Nov-10 12:33")
_RECORDED_WORDS = ("signed", "dictated", "transcribed", "received", "reported", "resulted")
_DATE_ELSEWHEN = re.compile(r"\b(?:d\.o\.b|" + cues._labels(*cues.ELSEWHEN_WORDS) + r")\b", re.I)
_DATE_RECORDED = re.compile(r"\b" + cues._labels(*_RECORDED_WORDS) + r"\b", re.I)
_DATE_NOT_VISIT = re.compile(r"\b(?:d\.o\.b|" + cues._labels(*cues.ELSEWHEN_WORDS, *_RECORDED_WORDS) + r")\b", re.I)
_DISCHARGE = re.compile(r"\b(?:dis?ch\w*|dsc|dc|d/c|disch|end|to|thru|through|until|out|departure|depart\w*|left)\b", re.I)
_OTHER_PERSON = re.compile(
    r"\b(?:referr\w*|refer\w*|ref|requesting|req|pcp|primary care|cc|copy|copies|patient|pt|guarantor|contact|"
    r"emergency contact|guardian|parent|spouse|transcri\w*|scribe|last|prior|previous|family|insured|subscriber|sent|from)\b",
    re.I,
)
_PLACE_LABEL = re.compile(r"\b(?:location|loc|facility|fac|site|clinic|dept|department|hospital|unit|ward|practice|org\w*|place|where|from|performing|service)\b", re.I)
_TYPE_LABEL = re.compile(r"\b(?:typ|type|kind|class|cat|category|status|visit|encounter|enc|appointment|appt|service|title|re|subject)\b", re.I)
_CONTENT_LABEL = re.compile(
    r"\b(?:reason|complaint|cc|indication|diagnos\w*|dx|history|hpi|plan|assessment|impression|procedures?|findings?|"
    r"problem\w*|medications?|allerg\w*|result\w*|order\w*|test|exam|study|specimen|comment\w*|note|notes)\b",
    re.I,
)


@dataclass(frozen=True)
class Value:
    """A value found in the block: ``text[start:end]``, with the label printed before it (if any)."""

    start: int
    end: int
    text: str
    label: str
    order: int  # position in the block, for "first" choices


@dataclass
class HeaderValues:
    date: DateMention | None = None
    end_date: DateMention | None = None
    provider: Value | None = None
    facility: Value | None = None
    encounter_type: Value | None = None


# -- the block -------------------------------------------------------------------------------------


def blocks(text: str, lines: LineIndex, first: int, last: int, most: int = 3) -> list[list[int]]:
    """The encounter's first blocks (see :func:`block`), each starting after the one before."""
    out: list[list[int]] = []
    while len(out) < most and first <= last:
        rows = block(text, lines, first, last)
        if not rows:
            break
        out.append(rows)
        first = rows[-1] + 1
    return out


def block(text: str, lines: LineIndex, first: int, last: int) -> list[int]:
    """The encounter's first block: its first lines up to a blank line, a section heading or prose
    (box borders, rules and page furniture are skipped, not ends). A sentence that opens the encounter
    ("Evaluated on <date> by <name> at <place>.") is a block of its own."""
    out: list[int] = []
    i = first
    while i <= last and len(out) < MAX_BLOCK_LINES:
        line = lines.line(i)
        i += 1
        if not line.strip():
            if out:
                break
            continue
        if layout.is_rule(line) or cues.set_aside(lines, i - 1, line):
            continue
        inner = layout.unbox(line)
        if not inner or layout.is_rule(inner):
            continue
        if not out and _sentence(inner) and _header_sentence(inner):
            out.append(i - 1)
            break
        if _body_line(inner):
            break
        out.append(i - 1)
    return out


def _sentence(line: str) -> bool:
    """Running text, not a row of cells: six words or more, some of them lower-case words, no wide gaps,
    bars or labels."""
    stripped = line.strip()
    words = stripped.split()
    return (
        len(words) >= 6 and sum(1 for w in words if w[:1].islower()) >= 3
        and not _WIDE_GAP.search(stripped) and layout.label_value_pairs(stripped) == 0
    )


def _header_sentence(line: str) -> bool:
    """A sentence that states a visit: short, with a date and a person or a place in it."""
    return len(line) <= 300 and bool(cues.date_in(line)) and bool(person_matches(line) or layout.ORGANISATION.search(line))


def _body_line(line: str) -> bool:
    """A line that opens a note's body: a section heading ("Chief Complaint:", "HPI"), or prose."""
    stripped = line.strip()
    if len(stripped) > 160:
        return len(stripped) > 400 or layout.label_value_pairs(stripped) < 3
    if cues.OPENING_LEAD.match(stripped) or {"strong_opening", "weak_opening"} & cues.title_cues([stripped])[0]:
        return True
    words = stripped.split()
    lower = sum(1 for w in words if w[:1].islower())
    if len(words) >= 5 and _INNER_SENTENCE.search(stripped):
        return True  # two sentences on one line
    return len(words) >= 8 and lower >= len(words) / 2 and layout.ends_sentence(stripped)


# -- cells -----------------------------------------------------------------------------------------

# Decoration that is no part of any value, blanked in a same-length copy of the line so that offsets hold:
# box sides and corners, markdown heading / quote / bullet marks, emphasis.
_DECORATION = re.compile(
    r"^\s*(?:#{1,6}(?=\s)|>|[-*+•](?=\s))|\s[#*+|│║┃¦╎]\s*$|\*{1,3}|(?<![A-Za-z0-9])_{1,3}|_{1,3}(?![A-Za-z0-9])|`|[~=#]{2,}|-{3,}"
    r"|[─━═┌┐└┘╔╗╚╝╭╮╰╯├┤╠╣┬┴╦╩┼╬]"
)
_CELL_SEP = re.compile(
    r"\s*[|│┃║¦╎]\s*|\t+|\s{2,}|\s*[—–]+\s*|\s+-{1,2}(?=[^\s>])\s*|(?<=[A-Za-z)])-{1,2}\s+|\s+-{1,2}\s+|;\s+|\s*[·•]\s*"
)
_WIDE_GAP = re.compile(r"\s{2,}|\t|[|│]")
_PAREN = re.compile(r"\(([^()]{2,80})\)|\[([^\[\]]{2,80})\]")
# "Label: value", "LABEL :: value", "label = value", "Label...... value", "[Label] value": a label of at most
# four words that ends in a letter (so "10:15" is no label).
_LEADING_LABEL = re.compile(
    r"\s*(?:\[(?P<bracket>[A-Za-z][^\]\d]{0,30})\]\s*|(?P<label>[A-Za-z][A-Za-z0-9_#/&().'’ -]{0,30}?[A-Za-z)#])\s*(?::{1,2}|=>?|-+>|→|\.{3,}|…)\s*)"
)
# A further label inside a value when a line lost its wide gaps: "Date: 03/04/2019 Provider: Jane Roe, MD".
_INNER_LABEL = re.compile(r"(?<=\s)(?P<label>[A-Za-z][A-Za-z_/&'’-]*(?:\s(?:of|by|for|to|in|at|and|&)\s[A-Za-z][A-Za-z_/&'’-]*)?)\s*(?::{1,2}|=>?|-+>|→)(?=\s|[^\s:=/])")


@dataclass
class _Cell:
    start: int  # offsets into the line
    end: int
    label: str


def plain(line: str) -> str:
    """``line`` with decoration blanked (same length): box sides, markdown marks, box-drawing characters."""
    chars = list(line)
    if layout.boxed(line):
        left = len(line) - len(line.lstrip())
        chars[left] = " "
        right = len(line.rstrip()) - 1
        if right > left and line[right] in layout.BOX_EDGE:
            chars[right] = " "
    for match in _DECORATION.finditer(line):
        for k in range(match.start(), match.end()):
            if not chars[k].isspace():
                chars[k] = " "
    return "".join(chars)


def cells(line: str, shapeless_labels: bool = True) -> list[_Cell]:
    """The cells of one line, each with the label printed before it ("" when none). With
    ``shapeless_labels``, a cell of a few words that holds no value shape labels the next cell."""
    text = plain(line)
    pieces: list[tuple[int, int]] = []
    pos = 0
    for match in [*_CELL_SEP.finditer(text), None]:
        stop = match.start() if match else len(text)
        if stop > pos:
            pieces.append((pos, stop))
        pos = match.end() if match else len(text)
    out: list[_Cell] = []
    pending = ""
    for a, b in pieces:
        a, b = _strip(text, a, b)
        if a >= b:
            continue
        label = ""
        match = _LEADING_LABEL.match(text, a, b)
        if match and len((match.group("label") or match.group("bracket") or "").split()) <= 4:
            label = (match.group("label") or match.group("bracket")).strip()
            a = match.end()
        if a >= b:
            pending = label  # "Provider:" with its value in the next cell
            continue
        label = label or pending
        pending = ""
        # further labels inside the cell
        segment_start, segment_label = a, label
        for inner in _INNER_LABEL.finditer(text, a, b):
            if inner.start() > segment_start:
                out.extend(_split_parentheticals(text, *_strip(text, segment_start, inner.start()), segment_label))
                segment_start, segment_label = inner.end(), inner.group("label")
        out.extend(_split_parentheticals(text, *_strip(text, segment_start, b), segment_label))
    # A shapeless cell of a few words before another cell labels it: "Provider - Jane Roe, MD", "ADM | 03/04/2019".
    if shapeless_labels and len(out) == 2 and not out[0].label and not out[1].label and _column_label(text[out[0].start : out[0].end], text[out[1].start : out[1].end]):
        return [_Cell(out[1].start, out[1].end, text[out[0].start : out[0].end])]  # "POINT OF CARE      Harbor Clinic"
    merged: list[_Cell] = []
    label_next = None
    for k, cell in enumerate(out):
        if label_next is not None and not cell.label:
            cell = _Cell(cell.start, cell.end, label_next)
        label_next = None
        if shapeless_labels and not cell.label and k + 1 < len(out) and not out[k + 1].label and _label_like(text[cell.start : cell.end]):
            label_next = text[cell.start : cell.end]
            continue
        merged.append(cell)
    return merged


def _column_label(left: str, right: str) -> bool:
    """A row of two cells whose first is a label in capitals and whose second is a value in another case."""
    return left.isupper() and not any(ch.isdigit() for ch in left) and len(left.split()) <= 4 and any(ch.islower() for ch in right)


def _label_like(value: str) -> bool:
    words = value.split()
    return (
        1 <= len(words) <= 3
        and not any(ch.isdigit() for ch in value)
        and not VISIT_WORD.search(value)
        and not layout.PERSON.search(value)
        and not _org_like(value)
        and all(w[:1].isalpha() for w in words)
    )


def _split_parentheticals(text: str, a: int, b: int, label: str) -> list[_Cell]:
    """A parenthetical is its own cell: "OFFICE VISIT (J. Roe, NP)", "ENCOUNTER 2019-03-04 (Inpatient Stay)"."""
    if a >= b:
        return []
    out, pos = [], a
    for match in _PAREN.finditer(text, a, b):
        if match.start() > pos:
            out.append(_Cell(*_strip(text, pos, match.start()), label))
        group = 1 if match.group(1) is not None else 2
        out.append(_Cell(*_strip(text, match.start(group), match.end(group)), ""))
        pos = match.end()
    if pos < b:
        out.append(_Cell(*_strip(text, pos, b), label))
    return [c for c in out if c.end > c.start]


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a] in " \t,;:.-=":
        a += 1
    while b > a and text[b - 1] in " \t,;:-=":
        b -= 1
    return a, b


# -- shapes ----------------------------------------------------------------------------------------


def _org_like(value: str) -> bool:
    """An organisation or department name: 1-8 capitalised words (connectors, "&" and unit codes
    allowed) with an organisation head or a specialty, neither a person, a note title nor a sentence."""
    stripped = value.strip()
    words = stripped.split()
    if not 1 <= len(words) <= 8 or len(re.sub(r"[^A-Za-z]", "", stripped)) < 4 or stripped[-1:] in ".!?:" and not stripped.endswith(("Inc.", "Ltd.", "Co.")):
        return False
    if not stripped[:1].isupper() or DOCUMENT_HEAD.search(stripped) or layout.PERSON.fullmatch(stripped):
        return False
    if not all(w[:1].isupper() or w[:1].isdigit() or w.lower() in ("of", "and", "&", "at", "the", "for", "on", "de", "la") for w in words):
        return False
    return bool(layout.ORGANISATION.search(stripped) or SPECIALTY.search(stripped))


# The head word of a visit's kind, not of a service that a place may be named after ("Lab Visit" vs "Reference Lab").
_VISIT_HEAD = re.compile(r"\b(?:visits?|encounters?|consult\w*|admission|stay|appointment|call|check[- ]?up|follow[- ]?up|session|evaluation)\W*$", re.I)
_FUNCTION_END = re.compile(r"\b(?:on|of|at|by|for|to|in|with|from|and|the|a|dt|date|time|no|number|id|type)\W*$", re.I)
_INNER_SENTENCE = re.compile(r"[a-z]{2}[.!?]\s+\S")


def visit_phrase(value: str) -> bool:
    """A short phrase that names a kind of visit ("Office Visit", "TELEHEALTH ENCOUNTER", "Diagnostic
    Imaging"): a visit word, capitalised, at most six words, no digits, no note title, no sentence."""
    stripped = value.strip()
    words = stripped.split()
    if not 1 <= len(words) <= 6 or len(stripped) > 60 or any(ch.isdigit() for ch in stripped):
        return False
    if not stripped[:1].isupper() or layout.ends_sentence(stripped) or ":" in stripped or _INNER_SENTENCE.search(stripped):
        return False
    if DOCUMENT_HEAD.search(stripped) or not VISIT_WORD.search(stripped) or _FUNCTION_END.search(stripped):
        return False
    return not generic_word(stripped)


def generic_word(value: str) -> bool:
    """A lone word that names no kind of visit: "Encounter", "Appt", "Visit"."""
    return value.strip(" .:").lower() in _GENERIC


def place_not_kind(value: str) -> bool:
    """A phrase that is both ("Emergency Department", "Harbor Imaging Center" vs "Diagnostic Imaging"):
    a place when it ends in a place's head word."""
    return bool(PLACE_HEAD.search(value.strip()))


# -- reading ---------------------------------------------------------------------------------------


def read(text: str, lines: LineIndex, rows: list[int]) -> HeaderValues:
    """The header values of a block (see the module docstring)."""
    dates: list[tuple[DateMention, str]] = []
    persons: list[Value] = []
    places: list[Value] = []
    kinds: list[Value] = []
    order = 0
    for i in rows:
        base, _ = lines.span(i)
        line = lines.line(i)
        flat = plain(line)
        sentence = _sentence(flat)
        for cell in _sentence_cells(flat) if sentence else cells(line):
            order += 1
            label = cell.label
            pos, taken = cell.start, []
            # dates (a date's own label may be the words before it: "ADM 03/04/2019")
            while pos < cell.end and (mention := cues.date_in(flat, pos, cell.end)):
                lead = flat[cell.start : mention.start].strip(" :=-#")
                own = label if not lead else lead if len(lead.split()) <= 3 and not any(ch.isdigit() for ch in lead) else label
                # the words printed before the date on its line also name it ("Wt 220 lb Date of last visit: ...")
                near = _WIDE_GAP.split(flat[max(0, mention.start - 40) : mention.start])[-1]
                own = own + " " + near if _DATE_NOT_VISIT.search(near) or sentence else own
                dates.append((DateMention(base + mention.start, base + mention.end, mention.value, mention.style), own))
                taken.append((mention.start, mention.end))
                pos = mention.end
            # people
            for a, b in person_matches(flat, cell.start, cell.end):
                if any(x < b and a < y for x, y in taken):
                    continue
                lead = flat[cell.start : a].strip(" :=-#(")
                own = label or (lead if lead and len(lead.split()) <= 3 else "")
                if sentence:
                    own = _WIDE_GAP.split(flat[max(0, a - 30) : a])[-1]
                span = trim_person(text, base + a, base + b)
                if span:
                    persons.append(Value(*span, own, order))
                    taken.append((a, b))
            # a cell holding a date or a name may print the kind or the place beside it ("Office Visit with
            # Dr. Roe", "Inpatient Stay — 03/04/2019"); a sentence's runs are cells of their own already
            pieces = [(cell.start, cell.end)] if not taken else [] if sentence else _leftovers(flat, cell.start, cell.end, taken)
            if not taken and not sentence and _kind_at_place(flat[cell.start : cell.end]):
                pieces = _leftovers(flat, cell.start, cell.end, [])  # "Walk-in Visit at Harbor Clinic"
            for start, end in pieces:
                if (lead := _CAPS_LEAD.match(flat, start, end) or _KIND_LEAD.match(flat, start, end)) and not sentence and not generic_word(flat[lead.end() : end]):
                    label = (label + " " + lead.group().strip()).strip()  # "PT TYPE Telehealth Visit", "POS Oak Ridge Clinic"
                    start = lead.end()
                value = flat[start:end]
                start, end = base + start, base + end
                if _CONTENT_LABEL.search(label) and not _TYPE_LABEL.search(label) and not _PLACE_LABEL.search(label):
                    continue
                is_kind = visit_phrase(value)
                is_place = _org_like(value) or (bool(_PLACE_LABEL.search(label)) and facility_like(value))
                if is_kind and is_place:
                    if _PLACE_LABEL.search(label) and not _TYPE_LABEL.search(label):
                        is_kind = False
                    elif _TYPE_LABEL.search(label) or not place_not_kind(value):
                        is_place = False
                    else:
                        is_kind = False
                if is_kind:
                    kinds.append(Value(start, end, text[start:end], label, order))
                elif is_place:
                    span = trim_facility(text, start, end)
                    if span:
                        places.append(Value(*span, label, order))
                elif not taken and label and _person_label(label) and (span := _bare_name(text, start, end)):
                    persons.append(Value(*span, label, order))
    out = HeaderValues()
    visit_dates = [(m, lab) for m, lab in dates if not _DATE_NOT_VISIT.search(lab) and not _DISCHARGE.search(lab)]
    if not visit_dates:
        recorded = [(m, lab) for m, lab in dates if _DATE_RECORDED.search(lab) and not _DATE_ELSEWHEN.search(lab)]
        visit_dates = sorted(recorded, key=lambda pair: pair[0].value)[:1]
    if visit_dates:
        out.date = visit_dates[0][0]
        later = [m for m, lab in dates if _DISCHARGE.search(lab) and not _DATE_NOT_VISIT.search(lab) and m.start > out.date.start]
        if later and later[0].value >= out.date.value:
            out.end_date = later[0]
    persons = [p for p in persons if not _OTHER_PERSON.search(p.label)]
    if persons:
        out.provider = min(persons, key=lambda p: (not p.label, p.order))
    if places:
        out.facility = min(places, key=lambda p: (not _PLACE_LABEL.search(p.label), not p.label, p.order))
    if kinds:
        out.encounter_type = min(kinds, key=lambda k: (not _TYPE_LABEL.search(k.label), not _VISIT_HEAD.search(k.text), k.order))
    return out


# What joins a name or a date to the words beside it in one cell: "Office Visit with Dr. Roe", "Stay — 03/04".
_JOINS = r"(?:with|by|at|on|for|from|seen|in|to|of|and|under)"
_JOIN_LEAD = re.compile(rf"(?:[\W_]+|(?i:{_JOINS})\s+)+")
_JOIN_TRAIL = re.compile(rf"(?:[\W_]+|\s(?i:{_JOINS}))+$")
_JOIN_INSIDE = re.compile(r"\s+(?:at|with|by)\s+|\s+[—–·|]\s+", re.I)


def _leftovers(flat: str, start: int, end: int, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The stretches of ``flat[start:end]`` outside the ``taken`` spans, without the words that join them
    to those spans or to each other ("Walk-in Visit at Harbor Clinic"); only stretches with a word of two
    letters are kept."""
    out, pos = [], start
    for a, b in sorted(taken) + [(end, end)]:
        if a > pos:
            lead = _JOIN_LEAD.match(flat, pos, a)
            lo = lead.end() if lead else pos
            trail = _JOIN_TRAIL.search(flat, lo, a)
            hi = trail.start() if trail else a
            cut = lo
            for join in [*_JOIN_INSIDE.finditer(flat, lo, hi), None]:
                stop = join.start() if join else hi
                if stop > cut and re.search(r"[A-Za-z]{2}", flat[cut:stop]):
                    out.append((cut, stop))
                cut = join.end() if join else hi
        pos = max(pos, b)
    return out


def _kind_at_place(value: str) -> bool:
    """A kind and a place joined in one cell: "Walk-in Visit at Harbor Clinic"."""
    return bool(_JOIN_INSIDE.search(value)) and visit_phrase(value) and _org_like(value)


# Abbreviated labels in capitals before a value in mixed case: "PT TYPE Telehealth Visit", "POS Harbor Clinic".
_CAPS_LEAD = re.compile(r"(?:[A-Z][A-Z0-9/#&]{1,6}\s+){1,3}(?=[A-Z][a-z])")
# ... or, all in capitals, abbreviated words ending in a word for "kind": "PT TYPE INPATIENT STAY", "ENC TYP ED VISIT".
_KIND_LEAD = re.compile(r"(?:[A-Z]{1,4}\s+){0,2}(?:TYPE|TYP|KIND|CLASS|CAT|CATEGORY|STATUS|STAT)\s+(?=[A-Z])")
# In a sentence, the runs of capitalised words are its names: "This Lab Visit took place on <date> at Summit
# County Internal Medicine with <name>." (a determiner before a run is no part of it).
_RUN = re.compile(r"(?:[A-Z][\w'’.&-]*)(?:\s+(?:(?:of|and|the|for|de|la)\s+)?(?:[A-Z][\w'’.&-]*|&))*")
_DETERMINER = re.compile(r"^(?:This|That|The|A|An|Our|Your|His|Her|Their|Patient)\s+")


def _sentence_cells(flat: str) -> list[_Cell]:
    """The cells of a sentence: its parentheticals, its dates and names, and its runs of capitalised words."""
    out = [_Cell(m.start(1 if m.group(1) is not None else 2), m.end(1 if m.group(1) is not None else 2), "") for m in _PAREN.finditer(flat)]
    inside = [(c.start, c.end) for c in out]
    out.insert(0, _Cell(0, len(flat), ""))  # dates and names are read from the whole sentence
    for match in _RUN.finditer(flat):
        if any(a <= match.start() < b for a, b in inside):
            continue
        a = match.start() + (len(d.group()) if (d := _DETERMINER.match(match.group())) else 0)
        a, b = _strip(flat, a, match.end())
        b = len(flat[:b].rstrip(" .,;"))
        if b > a:
            out.append(_Cell(a, b, ""))
    return out


_CAPS_NAME = re.compile(
    r"\b[A-Z][A-Z'’-]+(?:\s+[A-Z]\.?)?(?:\s+[A-Z][A-Z'’-]+){1,2},?\s+(?-i:MD|DO|NP|PA-C|PA|RN|DPM|DDS|FNP-C|FNP|APRN|CRNP|DNP|CNM|MBBS)"
    r"(?:,\s*(?:FACS|FACP|FACC|FAAP|PHD|MPH))*(?![A-Za-z])(?![ \t]*\d{5}(?!\d))"
)
# Role words that lead a name on a stamp or signature line ("Scribe Fatima Osei, MD", "Documented by ...").
_ROLE_LEAD = re.compile(r"(?:(?:scribe|staff|doc|attending|provider|physician|clinician|author|documented|written|recorded|signed|"
                        r"countersigned|cosigned|co-signed|sealed|approved|auth|authenticated|verified|electronically|"
                        r"dictated|reviewed|entered|seen|treating|by|with)\w*\s*[:.-]?\s*)+", re.I)


def person_matches(flat: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Where clinicians' names stand in ``flat[start:end]``: ``layout.PERSON`` ("Jane M. Roe, MD", "Dr. Roe",
    "ROE, JANE MD") and names in capitals with a credential ("JANE M. ROE, MD"), without a role word
    glued before them ("Scribe", "Documented by")."""
    end = len(flat) if end is None else end
    found: list[tuple[int, int]] = []
    for pattern in (layout.PERSON, _CAPS_NAME):
        for match in pattern.finditer(flat, start, end):
            a, b = match.start(), match.end()
            if any(x < b and a < y for x, y in found):
                continue
            a = glued_start(flat, a)
            if lead := _ROLE_LEAD.match(flat, a, b):
                a = lead.end()
            if b > a:
                found.append((max(start, a), b))
    return sorted(found)


_ROLE = re.compile(r"\b(?:provider|physician|clinician|doctor|dr|attending|att|author|seen by|by|surgeon|practitioner|rendering|signed|md|np|pa|prv|with)\b", re.I)


def _person_label(label: str) -> bool:
    return bool(_ROLE.search(label)) and not _OTHER_PERSON.search(label)


_GLUED_WORD = re.compile(r"(?<![A-Za-z])(?:by|with|per|from|to|at|and|signed)(?P<name>[A-Z][a-z]+)\s$", re.I)


def glued_start(line: str, start: int) -> int:
    """Where a name starts when OCR glued its first word to the word before ("byAisha C. Roe, DO"): a
    person pattern only finds "C. Roe, DO" there."""
    match = _GLUED_WORD.search(line, max(0, start - 20), start)
    return match.start("name") if match and match.end() == start else start


_BARE_NAME = re.compile(
    r"(?:[A-Z][A-Za-z'’-]*[a-z]|[A-Z]\.)(?:,?\s+(?:[A-Z][A-Za-z'’-]*[a-z]|[A-Z]\.)){1,3}"
    # a surname first in capitals, as registration systems print it: "ROE,JANE M", "ROE, JANE"
    r"|[A-Z][A-Z'’-]+,\s*[A-Z][A-Z'’-]+(?:\s+[A-Z]\.?)?"
)


def _bare_name(text: str, start: int, end: int) -> tuple[int, int, str] | None:
    """A name without credentials next to a clinician's label ("Attending: Jane Roe")."""
    match = _BARE_NAME.match(text, start, end)
    if not match or match.end() != end or _org_like(match.group()) or VISIT_WORD.search(match.group()):
        return None
    return start, end, text[start:end]


# -- trimming values read by any pattern ----------------------------------------------------------

_CREDENTIAL_RUN = re.compile(
    r"(?-i:[ ,]\s*(?:M\.D\.|D\.O\.|MD|DO|NP|PA-C|PA|RN|BSN|LPN|LVN|MSN|APRN|CRNP|CRNA|DNP|FNP-C|FNP|ANP|AGNP|MBBS|MBChB|"
    r"PhD|FACP|FACS|FACC|FAAP|DPM|CNM|DDS|DMD|PharmD|DPT|LCSW|MPH)(?:,?\s*(?:FACP|FACS|FACC|FAAP|PhD|MPH|RN|BSN|MSN|FNP-C|FNP|"
    r"APRN|MD|DO|NP|PA-C|CRNP|DNP|MBA|MS|MA)(?![A-Za-z]))*)(?![A-Z])"
)
_GLUED_CAPS_CREDENTIAL = re.compile(r"(?-i:[A-Z][a-z'’-]+\.?(?:\s+[A-Z][A-Za-z'’.-]*){1,3},\s*(?:MD|DO|NP|PA-C|PA|RN|DPM|FNP-C|FNP|APRN|CRNP|DNP|CNM)(?=[A-Z]{5,}))")
# A label glued to or following the value: "MD Location:", "HospitalAttending:".
_TRAILING_LABEL = re.compile(r"(?:(?<=[a-z.])(?=[A-Z][A-Za-z]*(?:\s+[A-Za-z]+){0,2}\s*:)|\s+(?=[A-Za-z]+(?:\s+[A-Za-z]+){0,2}\s*:(?!\d)))")
_SENTENCE_AFTER = re.compile(r"\s+(?=[A-Z][a-z]+\s+(?:[a-z]+\b|on\b|\d))")


def trim_person(text: str, start: int, end: int) -> tuple[int, int, str] | None:
    """A clinician's name with its credentials, nothing after: "Jane Roe, MDon 3/4" -> "Jane Roe, MD",
    "Jane Roe, MD Previously evaluated on ..." -> "Jane Roe, MD"."""
    value = text[start:end]
    if (lead := _ROLE_LEAD.match(value)) and lead.end() < len(value) and value[lead.end()].isupper():
        start, value = start + lead.end(), value[lead.end() :]  # "Scribe Jane Roe, MD", "Countersigned Jane Roe, MD"
    cut = len(value)
    credentials = _CREDENTIAL_RUN.search(value)
    if credentials and credentials.start() > 0:
        cut = credentials.end()
    elif glued := _GLUED_CAPS_CREDENTIAL.match(value):
        cut = glued.end()  # "Jane R. Roe, DOURINALYSIS": a mixed-case name, its credential, the next line's capitals
    else:
        for pattern in (_TRAILING_LABEL, _SENTENCE_AFTER):
            match = pattern.search(value)
            if match and match.start() > 0 and len(value[: match.start()].split()) >= 2:
                cut = min(cut, match.start())
        date = cues.date_in(value)
        if date and date.start > 0:
            cut = min(cut, date.start)
    value = value[:cut].rstrip(" ,;:-(")
    if not value or not value[:1].isupper():
        return None
    return start, start + len(value), value


_ALLCAPS_RUN = re.compile(r"\s+(?=[A-Z0-9]{3,}[A-Z0-9'’-]*(?:\s+[A-Z0-9][A-Z0-9'’-]+)+\s*$|[A-Z0-9]{4,}(?:\s|$))")
# A full stop, not the dot of an initial or a short abbreviation ("St.", "ST.", "Mt.", "Inc.").
_STOP = re.compile(r"(?<!\b[A-Za-z])(?<!\b[A-Za-z]{2})(?<!\b[A-Za-z]{3})\.\s+(?=[A-Z])")
_DANGLING = re.compile(r"(?:\s+(?:of|and|&|at|the|for|on|-))+$", re.I)


def trim_facility(text: str, start: int, end: int) -> tuple[int, int, str] | None:
    """An organisation's name, nothing after: no next label glued on ("HospitalAttending: ..."), no run of
    capitals from the next line ("Lab Services THYROID STIMULATING HORMONE"), no sentence after it."""
    value = text[start:end]
    cut = len(value)
    colon = re.search(r":(?!\d)", value)
    if colon:
        head = value[: colon.start()]
        cut = _label_start(head)
    if (match := _STOP.search(value[:cut])) is not None:
        cut = match.start()
    if any(ch.islower() for ch in value[:cut]):
        for match in _ALLCAPS_RUN.finditer(value[:cut]):
            if any(ch.islower() for ch in value[: match.start()]):
                cut = match.start()
                break
    date = cues.date_in(value, 0, cut)
    if date:
        cut = min(cut, date.start)
    value = _DANGLING.sub("", value[:cut].rstrip(" ,;:-(|"))
    if not facility_like(value):
        return None
    return start, start + len(value), value


def _label_start(head: str) -> int:
    """Where the label before a colon starts in ``head``: right after the organisation's head word when
    there is one ("Riverside General Hospital Admitting Diagnosis"), else at the case change of a glued
    label ("HospitalAttending"), else at its last word."""
    glued = list(re.finditer(r"(?<=[a-z.])(?=[A-Z])", head))
    if glued:
        return glued[-1].start()
    for match in re.finditer(r"\s+", head):
        if PLACE_HEAD.search(head[: match.start()]):
            return match.start()
    words = list(re.finditer(r"\s+", head))
    return words[-1].start() if words else 0


def facility_like(value: str) -> bool:
    """A place's name, not a fragment or another kind of text: starts with a capital or digit, has a
    word of four letters or two words, is no note title, person, date or sentence."""
    stripped = value.strip()
    words = stripped.split()
    letters = re.sub(r"[^A-Za-z]", "", stripped)
    if not words or len(stripped) > 100 or len(letters) < 3:
        return False
    if not (stripped[:1].isupper() or stripped[:1].isdigit()):
        return False
    if len(words) == 1 and (len(letters) < 4 or not stripped[:1].isupper()):
        return False
    if DOCUMENT_HEAD.search(stripped) or "note_title" in cues.title_cues([stripped])[0]:
        return False
    if layout.PERSON.fullmatch(stripped) or cues.date_in(stripped):
        return False
    return not (len(words) > 8 or (len(words) >= 4 and sum(1 for w in words if w[:1].islower() and w not in ("of", "and", "at", "the", "for", "on", "de", "la")) >= 2))


_TYPE_CUT = re.compile(r"\s+[-—–]\s*|\s*[—–]\s+|(?<=[A-Za-z)])-\s+|\s*\(|\s*\[|\s{2,}|\s*\|")


def trim_type(text: str, start: int, end: int) -> tuple[int, int, str] | None:
    """The printed visit type only: "OFFICE VISIT (J. Roe)" -> "OFFICE VISIT", "Follow-up Visit -Office
    Note" -> "Follow-up Visit"."""
    value = text[start:end]
    match = _TYPE_CUT.search(value)
    if match and match.start() > 0:
        value = value[: match.start()]
    value = value.rstrip(" ,;:-.")
    if not value:
        return None
    return start, start + len(value), value
