"""Who a record is about: the patient's name, birth date and MRN, as its banners and headers print them.

An identity line is found by its values, not by its layout: a birth date or a medical record number
after the label every source uses for it (DOB, Date of Birth, MRN, MR#, Patient ID, ...). The name is
the value of a patient or name label on such a line (or on the line before it), or else the first
cell of the line when it is shaped like a person's name ("HADDAD, TOMAS D | MRN: ..."). Page banners
repeat the identity on every page, OCR noise misprints some copies: each field is the value printed
most often (compared with OCR-confusable digits folded), grounded at its first clean occurrence.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date

from pipeline.dates import first_date
from pipeline.layout import ocr_digits
from pipeline.text import LineIndex

_DOB = re.compile(r"\b(?:D\.?\s?O\.?\s?B\.?|Date\s+of\s+Birth|Birth\s*date|Birth\s+Date|Born)\b\s*[:#=.-]?\s*", re.I)
_MRN = re.compile(
    r"\b(?:MRN|M\.R\.N\.|MR\s?#|MR\s+No\.?|Medical\s+Record(?:\s+(?:Number|No\.?|#))?|Patient\s+ID|Pt\.?\s+ID|Chart\s*(?:#|No\.?|Number))"
    r"\s*[:#=.-]?\s*",
    re.I,
)
_MRN_VALUE = re.compile(r"[A-Z0-9][A-Z0-9-]{3,19}(?![A-Za-z0-9])")
_NAME_LABEL = re.compile(r"(?:^|(?<=[\s|│:]))(?:Patient(?:\s+Name)?|Pt\.?\s+Name|Name)\s*[:=]\s*", re.I)
_WORD = r"[A-Z][A-Za-z'’-]+"
# "HADDAD, TOMAS D", "Nwosu, Renata C.", "Renata C. Nwosu", "Judith K. Thibodeaux", "Barbara Anderson"
_PERSON_NAME = re.compile(
    rf"{_WORD}(?:[ -]{_WORD})?,[ \t]*{_WORD}(?:[ \t]+[A-Z]\.?(?![A-Za-z]))?"
    rf"|{_WORD}(?:[ \t]+[A-Z]\.?(?![A-Za-z]))?(?:[ \t]+{_WORD}){{1,2}}"
)
_CELL_END = re.compile(r"[ \t]{2,}|[ \t]*[|│;][ \t]*|\t|$")
# Words that head a name-shaped cell without being a name ("Visit Note", "Page One").
_NOT_NAMES = frozenset(
    "patient name page date visit note report record medical confidential information dob mrn account acct "
    "admission discharge provider clinic hospital department".split()
)


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Identity:
    """The patient of one record; ``identities_seen`` counts the distinct MRNs (or names, without one) printed."""

    name: Found | None
    birth_date: tuple[date, Found] | None
    mrn: Found | None
    identities_seen: int

    @property
    def patient_key(self) -> str | None:
        """The MRN, else a hash of the normalised name and birth date; None when neither is known."""
        if self.mrn:
            return "mrn:" + self.mrn.text.upper()
        if self.name and self.birth_date:
            body = f"{_name_key(self.name.text)}|{self.birth_date[0].isoformat()}"
            return "nd:" + hashlib.sha256(body.encode("utf-8")).hexdigest()[:24]
        return None


# Glyphs OCR swaps for each other: an MRN printed "POP-0O0253-8ABY" is the same as "POP-000253-BABY".
_CONFUSABLE = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1", "S": "5", "B": "8", "Z": "2", "G": "6"})


_NAME_CONFUSABLE = str.maketrans({"l": "i", "1": "i", "|": "i", "0": "o", "5": "s", "c": "e"})


def _mrn_key(value: str) -> str:
    """Two printings of one MRN share this key, whatever OCR did to them."""
    return value.upper().translate(_CONFUSABLE)


def _name_key(value: str) -> str:
    """'HADDAD, TOMAS D' and 'Tomas D. Haddad' both read 'tomas haddad'."""
    if "," in value:
        last, first = value.split(",", 1)
        value = f"{first} {last}"
    words = [w for w in re.split(r"[\s.]+", value.casefold()) if len(w) > 1]
    return " ".join(words).replace("rn", "m").replace("cl", "d").translate(_NAME_CONFUSABLE)


def _cell_after(line: str, at: int) -> tuple[int, int]:
    end = _CELL_END.search(line, at)
    return at, end.start() if end else len(line)


def _name_in(line: str, start: int, end: int) -> tuple[int, int] | None:
    match = _PERSON_NAME.match(line, start, end)
    if match is None or match.end() != len(line[start:end].rstrip()) + start:
        return None
    words = {w.casefold().strip(".,") for w in re.split(r"[\s,]+", match.group())}
    if words & _NOT_NAMES:
        return None
    return match.start(), match.end()


def _found(line_start: int, line: str, start: int, end: int) -> Found:
    return Found(line_start + start, line_start + end, line[start:end])


def read_identity(text: str, lines: LineIndex | None = None) -> Identity:
    lines = lines or LineIndex(text)
    names: list[Found] = []
    births: list[tuple[date, Found]] = []
    mrns: list[Found] = []
    previous_name: Found | None = None
    for number in range(len(lines)):
        start, _ = lines.span(number)
        line = lines.line(number)
        labelled_name = None
        for label in _NAME_LABEL.finditer(line):
            span = _name_in(line, *_cell_after(line, label.end()))
            if span:
                labelled_name = _found(start, line, *span)
                break
        found_here = False
        for label in _DOB.finditer(line):
            mention = first_date(line, label.end(), min(len(line), label.end() + 24))
            if mention and mention.start == label.end():
                births.append((mention.value, _found(start, line, mention.start, mention.end)))
                found_here = True
        for label in _MRN.finditer(line):
            value = _MRN_VALUE.match(line, label.end())
            if value and sum(ch.isdigit() for ch in ocr_digits(value.group())) >= 3:
                mrns.append(_found(start, line, value.start(), value.end()))
                found_here = True
        if found_here:
            name = labelled_name or previous_name
            if name is None:
                first = next((i for i, ch in enumerate(line) if ch.isalnum()), len(line))  # past a box's side or a bracket
                span = _name_in(line, *_cell_after(line, first))
                name = _found(start, line, *span) if span else None
            if name is not None:
                names.append(name)
        previous_name = labelled_name
    return Identity(
        name=_most_printed(names, _name_key),
        birth_date=_most_printed_date(births),
        mrn=_most_printed(mrns, _mrn_key),
        identities_seen=len({_mrn_key(m.text) for m in mrns}) if mrns else len({_name_key(n.text) for n in names}),
    )


def _most_printed(found: list[Found], key) -> Found | None:
    """The value printed most often (ties: the first printed, as a Counter keeps first-seen order), at the
    first occurrence of its most common spelling that OCR did not touch (no digit misread as a letter)."""
    if not found:
        return None
    counts = Counter(key(f.text) for f in found)
    best = max(counts, key=counts.__getitem__)
    spellings = Counter(f.text for f in found if key(f.text) == best)
    printed = max(spellings, key=lambda text: (ocr_digits(text) == text, spellings[text]))
    return next(f for f in found if f.text == printed)


def _most_printed_date(found: list[tuple[date, Found]]) -> tuple[date, Found] | None:
    if not found:
        return None
    counts = Counter(value for value, _ in found)
    best = max(counts, key=counts.__getitem__)
    return next(item for item in found if item[0] == best)
