"""Line cues shared by the rules detector and the rules extractor.

Each cue is a named, explained pattern over one line. Header labels are matched OCR-tolerantly
(``o``/``0``, ``l``/``1``/``i``, ``e``/``c``, ``a``/``o``, ``u``/``v``, ``h``/``b``, ``t``/``f``, ``g``/``q`` and ``rn``/``m``
confusions, dropped spaces), because scanned charts garble labels as readily as prose. Note-type titles and
opening section headings are spaCy ``PhraseMatcher`` vocabularies, matched on the OCR-folded tokens of
candidate lines; a short title-only line ending in a document head noun ("report", "note", "visit", ...)
is a title too.
"""

from __future__ import annotations

import re
from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from pipeline.dates import DateMention, first_date, parse_match
from pipeline.text import LineIndex, line_memo

_OCR = {"o": "[o0]", "l": "[l1i|]", "i": "[il1|]", "e": "[ec]", "c": "[ce]", "s": "[s5]", "m": "(?:m|rn)", "n": "[nr]", "t": "[tf]", "a": "[ao]", "u": "[uv]", "h": "[hb]", "g": "[gq]"}


def fuzzy(label: str) -> str:
    """A regex for ``label`` that tolerates OCR swaps and dropped spaces."""
    out = []
    for ch in label.lower():
        if ch == " ":
            out.append(r"\s*")
        elif ch in _OCR:
            out.append(_OCR[ch])
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _labels(*labels: str) -> str:
    return "(?:" + "|".join(fuzzy(x) for x in labels) + ")"


# A printed date. Dates outside the gold fields are not protected from OCR noise, so a digit may read as
# O/o/l/I/S (the first digit of each group must be a real one).
_D = r"[\dOolIS]"
_DATEISH = (
    r"(?:\d" + _D + r"{0,3}[/-]" + _D + r"{1,2}[/-]" + _D + r"{2,4}|\d" + _D + r"?[- ][A-Za-z]{3,9}[- ,]+" + _D + r"{4}"
    r"|[A-Za-z]{3,9}\.? " + _D + r"{1,2},? " + _D + r"{4}|(?:19|20)\d{6})"
)
# A clock time as notes stamp it: 14:07, 4:36 PM, 1629 (four digits only right after a date). Times are not
# protected from OCR noise, so l/I/O/S may stand for digits.
_TIMEISH = r"(?:[\dlIOS]{1,2}:[\dlIOS]{2}(?::\d{2})?(?:\s*[AP]\.?M\.?)?|[0-2lO][\dlIOS][0-5lO][\dlIOS]\b)"

# Encounter-level header lines: they open a visit or a stay (weight: strong).
ENCOUNTER_HEADERS: dict[str, re.Pattern[str]] = {
    "date_of_service": re.compile(r"^\s*" + _labels("date of service", "dos", "service date") + r"\s*[:#]", re.I),
    "visit_date": re.compile(r"^\s*" + _labels("visit date", "date of visit", "appointment date") + r"\s*:", re.I),
    "encounter_date": re.compile(r"^\s*" + _labels("encounter date", "date of encounter") + r"\s*:", re.I),
    "encounter_label": re.compile(r"^\s*" + _labels("encounter") + r"\s*:.{0,80}" + _labels("provider", "date", "location"), re.I),
    "encounter_banner": re.compile(r"^\s*" + _labels("encounter") + r"\s+" + _DATEISH, re.I),
    "admission_date": re.compile(r"^\s*" + _labels("admission date", "date of admission", "admit date", "admitted") + r"\s*:", re.I),
    "exam_date": re.compile(r"^\s*" + _labels("exam date", "date of exam", "study date", "collection date", "procedure date", "date of procedure", "date of surgery") + r"\s*:\s*" + _DATEISH, re.I),
    "date_clinic": re.compile(r"^\s*" + _labels("date") + r"\s*:\s*" + _DATEISH + r".{0,40}" + _labels("clinic", "facility", "location", "provider", "physician", "department"), re.I),
    # "** OFFICE VISIT **": stars set off by spaces; "**Chief Complaint**" is markdown's bold, a section heading
    "star_banner": re.compile(r"^\s*\*{2,}(?:\s+(?!" + _labels("end of") + r"\b)[A-Za-z][A-Za-z &/,-]{2,60}?\s*|(?!" + _labels("end of") + r"\b)[A-Za-z][A-Za-z &/,-]{1,60}?\s+)\*{2,}\s*$", re.I),
    "fax_cover": re.compile(r"^\s*" + _labels("fax") + r"\b.{0,20}" + _labels("from") + r"\s*:", re.I),
    "regarding": re.compile(r"^\s*" + _labels("re") + r"\s*:.{0,60}\b" + _labels("dos", "date") + r"\b", re.I),
    "pipe_line": re.compile(r"^\s*" + _DATEISH + r"\s*\|[^|]+\|"),
    "hl7_segment": re.compile(r"^\s*" + _labels("enc", "pv1", "evn") + r"\|", re.I),
    # "Patient seen on <date> at <facility> by <provider>", not "Seen in clinic on <date> for <reason>"
    "seen_on": re.compile(r"^\s*" + _labels("patient seen on", "patient was seen on", "seen in clinic on") + r"\s*" + _DATEISH + r"\s*(?:" + _labels("at", "by", "in") + r"|[,.]?\s*$)", re.I),
    "visit_line": re.compile(r"^\s*" + _labels("visit") + r"\s*:\s*.{2,60}\s" + _labels("on") + r"\s+" + _DATEISH, re.I),
    # A visit-date label later in a short line, as letterheads print it: "Phone Encounter    Date of Visit: ...".
    "visit_date_label": re.compile(r"^.{0,80}\s" + _labels("date of visit", "date of service", "visit date", "encounter date") + r"\s*:\s*" + _DATEISH, re.I),
}

# Note-level sub-headers: a new note, which may belong to the current encounter (weight: moderate).
NOTE_HEADERS: dict[str, re.Pattern[str]] = {
    "note_type_line": re.compile(r"^\s*" + _labels("note type", "document type") + r"\s*:", re.I),
    "dashed_note": re.compile(r"^\s*-{3,}\s*[^|]{3,80}\|[^|]+\|[^|]+-{3,}"),
    # "[2016-10-01 20:43] Emergency medicine Note (Name)", "[5/9/12 4:36 PM] ED Note - Name"
    "bracket_note": re.compile(r"^\s*\[\s*" + _DATEISH + r"[^\]]{0,12}\]\s*[A-Za-z].{2,120}$"),
    # "2017-04-16 14:07  OFFICE NOTE  Author: Name": a date-time stamp opening a short line
    "stamp_note": re.compile(r"^\s*" + _DATEISH + r"[ ,T]+" + _TIMEISH + r"\s+[A-Za-z].{2,120}$", re.I),
    # "Title (11/18/2009 16:37) by Name"
    "by_note": re.compile(r"^\s*[A-Za-z][^()]{2,80}\(\s*" + _DATEISH + r"[^)]{0,14}\)\s*" + _labels("by") + r"\s+[A-Z]", re.I),
    # cells around a dated cell: "Title — 12/01/2016 10:00 — Name", "Office Note | 2009-04-17 15:01 | Name",
    # "Follow-up Visit - Granite Falls Clinic - 2009-08-01"
    "dated_cells": re.compile(r"^\s*[A-Za-z0O][^|—–]{1,80}?(?:\s?[—–|]|\s-)\s*" + _DATEISH + r"(?:[ ,]*" + _TIMEISH + r")?\s*(?:(?:[—–|]|\s-)\s*\S.{1,60})?$", re.I),
    # a specimen stamp opening a lab report: "Collected: 01/02/2015 8:11 AM   Received: ..."
    "specimen_stamp": re.compile(r"^\s*" + _labels("collected", "date collected", "specimen collected") + r"\s*:\s*" + _DATEISH, re.I),
    "date_time_line": re.compile(r"^\s*" + _labels("date/time", "date and time", "note date", "date of note", "time of note") + r"\s*:", re.I),
    # "Date: 2012-04-05  Time: 16:23" or a lone "Date: 11/04/2012" under a title
    "date_line": re.compile(r"^\s*" + _labels("date") + r"\s*:\s*" + _DATEISH + r"(?:\s+(?:" + _labels("time") + r"\s*:\s*)?" + _TIMEISH + r")?\s*$", re.I),
    # a note that opens with its own date line ("2013-10-21"), as exported narrative notes do
    "bare_date": re.compile(r"^\s*" + _DATEISH + r"(?:[ ,T]+" + _TIMEISH + r")?\s*$", re.I),
}

SIGNATURE = re.compile(
    r"^\s*(?:" + _labels("electronically signed", "electronically authenticated", "signed", "dictated by", "transcribed by", "authenticated by", "this document has been electronically signed", "attending physician signature", "e-signed", "cosigned", "reviewed and electronically signed", "reviewed and signed", "signed electronically") + r"|d:\s*(?:\d|[A-Za-z]{3}\.? \d).*\bt:\s*(?:\d|[A-Za-z]{3}\.? \d)|_{5,}\s*$"
    r"|[A-Z][A-Za-z.'-]+(?:\s+[A-Z][A-Za-z.'-]+){1,3},?(?:\s+[A-Z][A-Za-z-]{1,5})?\s+" + _labels("signed", "electronically signed") + r"\b.{0,40}$)",
    re.I,
)
CLOSING = re.compile(r"^\s*" + _labels("next visit", "follow-up", "follow up", "return to clinic", "rtc", "discharged home", "disposition") + r"\b", re.I)
# A plan that books the next visit closes this one as surely as a signature does.
NEXT_VISIT = re.compile(r"^\s*" + _labels("next visit", "return to clinic", "rtc", "return visit", "next appointment") + r"\b", re.I)
FALSE_CUE = re.compile(
    r"\b" + _labels("last seen", "was seen on", "previously seen", "seen on", "prior visit", "carried forward", "copied from prior", "as of") + r"\b",
    re.I,
)
# Words that give a date to another day than the visit's: "DOB", "Printed", "Next visit", "Prior study".
ELSEWHEN_WORDS = ("dob", "birth", "born", "printed", "print", "fax", "faxed", "sent", "request", "requested", "last", "prior",
                  "previous", "previously", "next", "due", "expires", "age", "lmp", "onset", "injury", "dod", "comparison")
# ... standing right before a date, in its own cell (no wide gap or bar between): "Prior study 07/22/2011".
OTHER_DAY = re.compile(r"\b" + _labels(*ELSEWHEN_WORDS) + r"\b(?:[^\d\n|;¦\t ]| (?! )){0,25}$", re.I)
FURNITURE = re.compile(
    r"(?:\b" + fuzzy("page") + r"\s*[\dlIO|]+\s*(?:" + fuzzy("of") + r"|/)\s*[\dlIO|]+"
    r"|\b" + fuzzy("printed") + r"\b.{0,40}\d"
    r"|(?:\bMRN\b|\b" + fuzzy("name") + r"\s*:|\b" + fuzzy("patient") + r"\s*:|\|).{0,80}\bD[O0]B\b"
    r"|\bD[O0]B\b.{0,40}\bMRN\b"
    r"|\bMRN\b.{0,40}\bD[O0]B\b"
    r"|^[^:]{0,50}\bMRN\b\s*[:#]?\s*\d{5,}\)?\s*$"
    r"|\b" + fuzzy("fax") + r"\b.{0,80}\bP\.?\s*\d{1,3}\s*/\s*\d{1,3}\s*$"
    r"|^\s*" + fuzzy("confidential") + r"\b"
    r"|^\s*(?:=|-){3,}\s*" + fuzzy("fax") + r")",
    re.I,
)
# Every page-furniture line holds one of these (a cheap pre-check: FURNITURE itself is slow on prose).
FURNITURE_HINT = re.compile(r"p[ao][gq][ec]|pr[il1|][nr]|d[o0]b|c[o0]nf|f[ao]x|mrn", re.I)


def set_aside(lines: LineIndex, i: int, line: str) -> bool:
    """Whether line ``i`` (text ``line``) is page furniture: found by the record's layout (see
    ``LineIndex.with_furniture``) or named by the vocabulary below."""
    return i in lines.furniture or is_furniture(line)


@line_memo
def is_furniture(line: str) -> bool:
    """A page header or footer line (page n of m, print stamp, patient banner with MRN/DOB)."""
    return len(line) < 160 and bool(FURNITURE_HINT.search(line)) and bool(FURNITURE.search(line))


# A closing marker: the end of the record, never the start of an encounter.
END_MARKER = re.compile(r"^\W*" + _labels("end of record", "end of report", "end of document", "end of chart", "end of file", "end of transmission", "end of the record") + r"\W*$", re.I)
# A short "Label: value" line, as header blocks print their fields.
LABEL_LINE = re.compile(r"^\s*[A-Za-z][A-Za-z0-9 /&'()#.-]{0,40}:\s*\S.{0,100}$")
# A separator rule: "-----", "=====", "_____", "* * *".
RULE_LINE = re.compile(r"^\s*(?:[=_\-*~#]\s*){3,}$")
# Letterhead furniture above a header line: a telephone/address line.
LETTERHEAD = re.compile(r"\b(?:" + _labels("tel", "phone", "fax") + r")\b\.?\s*:?\s*\(?" + _D + r"{3}\)?[\s.-]*" + _D + r"{3}[\s.-]" + _D + r"{4}", re.I)
STAY_OPEN = re.compile(
    r"^\s*" + _labels("admission date", "date of admission", "admit date") + r"\s*:"
    r"|\b" + _labels("hospital admission", "inpatient", "admission history and physical", "history and physical", "admission h&p", "admission note", "hospital day") + r"\b"
    r"|(?:^|\|)\s*" + _labels("h&p") + r"(?:\s*$|\s*[|(\-—])"
    r"|\|\s*" + _labels("admission") + r"\b",
    re.I | re.M,
)
HOSPITAL_DAY = re.compile(
    r"\b" + fuzzy("hospital day") + r"\s*#?\s*(?:[2-9]|\d\d)\b"
    r"|\b" + _labels("post-operative day", "postoperative day", "pod") + r"\s*#?\s*[1-9]"
    r"|\b" + fuzzy("day") + r"\s*\d+\s*/\s*" + fuzzy("los") + r"\b"
    r"|\b" + _labels("nursing shift note", "shift note") + r"\b",
    re.I,
)
# An addendum or late entry amends the note before it: it stays in that note's encounter.
ADDENDUM = re.compile(r"(?:^|[\]|)—–:-]\s*)" + _labels("addendum", "late entry") + r"\b", re.I)
DISCHARGE_NOTE = re.compile(r"\b" + _labels("discharge summary", "death summary") + r"\b", re.I)
ADMISSION_DATE = re.compile(r"\b" + _labels("admission date", "date of admission", "admit date", "admitted") + r"\s*:?\s*", re.I)
DISCHARGE_DATE = re.compile(r"\b" + _labels("discharge date", "date of discharge") + r"\s*:?\s*", re.I)

NOTE_TITLES = (
    "progress note", "office visit", "clinic note", "soap note", "follow-up visit", "follow up visit",
    "history and physical", "h&p", "admission note", "admission history and physical", "discharge summary",
    "consultation", "consult note", "consultation note", "operative report", "operative note",
    "procedure note", "emergency department note", "ed note", "er note", "emergency room report",
    "radiology report", "imaging report", "diagnostic imaging study report", "laboratory report",
    "lab report", "pathology report", "telephone encounter", "telephone note", "telehealth visit",
    "nurse note", "nursing note", "nursing admission note", "transfer note", "death summary",
    "echocardiogram report", "colonoscopy report", "endoscopy report", "physical therapy note",
    "annual physical", "well visit", "preoperative evaluation", "summary of episode note",
    "discharge summary note", "history and physical note", "emergency medicine note",
)
# The head noun that ends a document title ("ED Physician Documentation", "Nurse Triage Call",
# "LAB RESULTS REPORT"): a short title-only line ending in one of these is a note title.
TITLE_HEADS = (
    "note", "notes", "report", "summary", "visit", "encounter", "consult", "consultation", "h&p",
    "documentation", "evaluation", "call", "study", "result", "results", "admission", "physical",
    "procedure", "examination", "exam", "assessment", "letter", "triage", "addendum", "checkup", "check-up", "stay",
)
# Heads that are also plain section headings when alone on a line.
SECTION_LIKE_HEADS = frozenset({"procedure", "examination", "exam", "assessment", "physical", "results", "result", "study", "notes", "note", "admission", "summary", "evaluation", "triage"})
# Headings that usually open a note, and headings that also recur inside one.
STRONG_OPENINGS = (
    "chief complaint", "cc", "reason for visit", "reason for consultation", "reason for consult",
    "reason for referral", "reason for admission", "reason for exam", "reason for examination",
    "reason for the test", "reason for call", "reason for the consult", "reason for the consultation",
    "preoperative diagnosis", "preoperative diagnoses", "pre-operative diagnosis",
    "preop diagnosis", "title of operation", "operation performed", "procedure performed", "procedures performed",
    "admission diagnosis", "admission diagnoses", "admitting diagnosis", "diagnosis at admission",
    "principal diagnosis", "identifying data", "identification", "presenting complaint", "presentation",
    "type of consultation", "exam", "examination", "clinical history", "chief reason for consultation",
)
WEAK_OPENINGS = (
    "history of present illness", "hpi", "hx", "subjective", "history", "procedure", "operation",
    "postoperative diagnosis", "s", "diagnosis", "present illness",
)
CLOSING_SECTION = re.compile(
    r"^\s*" + _labels("plan", "disposition", "followup", "follow-up", "follow up", "recommendations", "recommendation",
                      "activity", "diet", "condition on discharge", "discharge instructions", "discharge condition",
                      "estimated blood loss", "complications", "assessment and plan", "next visit", "return visit",
                      "prognosis", "patient instructions", "addendum") + r"\b",
    re.I,
)


_OCR_FOLD = str.maketrans({"0": "o", "1": "i", "l": "i", "|": "i", "5": "s", "c": "e", "a": "o", "v": "u", "b": "h", "f": "t"})


def ocr_fold(word: str) -> str:
    """One spelling for the glyphs OCR confuses (0/o, 1/l/i/|, 5/s, c/e, a/o, v/u, b/h, f/t, rn/m), lower-cased."""
    return word.lower().replace("rn", "m").translate(_OCR_FOLD)


@Language.component("ocr_norm")
def ocr_norm(doc: Doc) -> Doc:
    """Sets ``token.norm_`` to the OCR-folded form, so a NORM PhraseMatcher reads "PR0CEDURE" as "procedure"."""
    for token in doc:
        token.norm_ = ocr_fold(token.text)
    return doc


TITLE_HEADS_FOLDED = frozenset(ocr_fold(h) for h in TITLE_HEADS)
SECTION_LIKE_HEADS_FOLDED = frozenset(ocr_fold(h) for h in SECTION_LIKE_HEADS)
_NOTE_TITLES_FOLDED = tuple(ocr_fold(t) for t in NOTE_TITLES)
# "Physical Examination", "Laboratory Results": a qualifier that makes a section heading, not a title.
SECTION_QUALIFIERS_FOLDED = frozenset(ocr_fold(w) for w in ("physical", "the", "laboratory", "lab", "mental", "neurological", "neurologic", "pertinent", "initial", "functional"))


@lru_cache(maxsize=1)
def phrase_matchers() -> tuple[Language, PhraseMatcher]:
    """A tokenizer + ``ocr_norm`` pipeline and one PhraseMatcher (attr NORM) for titles and opening sections."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ocr_norm")
    matcher = PhraseMatcher(nlp.vocab, attr="NORM")
    matcher.add("NOTE_TITLE", list(nlp.pipe(NOTE_TITLES)))
    # OCR drops spaces: "CHIEFCOMPLAINT" is one token, so each heading is also listed run together.
    matcher.add("STRONG_OPENING", list(nlp.pipe(_with_joined(STRONG_OPENINGS))))
    matcher.add("WEAK_OPENING", list(nlp.pipe(_with_joined(WEAK_OPENINGS))))
    return nlp, matcher


def _with_joined(phrases: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys([*phrases, *(p.replace(" ", "") for p in phrases if " " in p)]))


def title_cues(lines: list[str]) -> list[set[str]]:
    """For each line: {"note_title"} when the line is (mostly) a note-type title, either a listed title or a
    short title-only line ending in a document head noun ("ED Physician Documentation"); {"strong_opening"}
    or {"weak_opening"} when it starts with a section heading followed by a colon or the line end (an
    upper-case or markdown "#" heading)."""
    todo = list(dict.fromkeys(line for line in lines if line not in _TITLE_CACHE and _may_hold_title(line)))
    if len(_TITLE_CACHE) + len(todo) > 100_000:
        _TITLE_CACHE.clear()  # bounded: the cache only saves re-tokenising recurring headings
        todo = list(dict.fromkeys(line for line in lines if _may_hold_title(line)))
    for line, found in zip(todo, _title_cues(todo) if todo else (), strict=True):
        _TITLE_CACHE[line] = frozenset(found)
    return [set(_TITLE_CACHE.get(line, ())) for line in lines]


def _squeezed(text: str) -> str:
    return ocr_fold(text).replace(" ", "")


# What a line must hold before the tokenizer and the matcher read it (about four lines in five hold none
# of it): an opening heading at its start, a listed title anywhere, or a title's head noun in a
# capitalised line with no colon or sentence end. Compared OCR-folded with the spaces squeezed out, so
# that every token sequence the matcher can match passes.
_OPENING_KEYS = tuple(dict.fromkeys(_squeezed(p) for p in STRONG_OPENINGS + WEAK_OPENINGS))
_TITLE_KEYS = tuple(dict.fromkeys(_squeezed(p) for p in NOTE_TITLES))
_HEAD_KEYS = tuple(dict.fromkeys(_squeezed(p) for p in TITLE_HEADS))


@line_memo
def _may_hold_title(line: str) -> bool:
    line = line[:TITLE_LINE_CHARS]
    squeezed = _squeezed(line)
    if _squeezed(line.lstrip(" *#-=[](")).startswith(_OPENING_KEYS) or any(key in squeezed for key in _TITLE_KEYS):
        return True
    stripped = line.strip()
    return (
        ":" not in stripped
        and not stripped.endswith((".", ",", ";"))
        and stripped.lstrip("*#=-[ ")[:1].isupper()
        and any(key in squeezed for key in _HEAD_KEYS)
    )


_TITLE_CACHE: dict[str, frozenset[str]] = {}
# Characters of a line that the title matcher reads.
TITLE_LINE_CHARS = 200


@line_memo
def maybe_title(line: str) -> bool:
    """A cheap pre-check for :func:`title_cues` "note_title" on a short line: it ends in a head noun or
    holds a listed title."""
    folded = ocr_fold(line)
    words = _WORD.findall(folded)
    if not words:
        return False
    return words[-1] in TITLE_HEADS_FOLDED or any(title in folded for title in _NOTE_TITLES_FOLDED)


_WORD = re.compile(r"[a-z&]+")


def _title_cues(lines: list[str]) -> list[set[str]]:
    nlp, matcher = phrase_matchers()
    strings = nlp.vocab.strings
    labels = {strings[name]: name.lower() for name in ("NOTE_TITLE", "STRONG_OPENING", "WEAK_OPENING")}
    out: list[set[str]] = []
    for line, doc in zip(lines, nlp.pipe(line[:TITLE_LINE_CHARS] for line in lines), strict=True):
        found: set[str] = set()
        stripped = line.strip()
        heading_line = stripped.isupper() or stripped.startswith("#")
        for match_id, start, end in matcher(doc):
            kind = labels[match_id]
            span = doc[start:end]
            if kind == "note_title":
                # A short line that is the title, possibly qualified ("Nurse Discharge summary", "ED Note").
                lead = doc[:start].text.strip(" *#-=[](")
                if len(lead.split()) <= 2 and len(stripped) <= len(span.text) + 30 and ":" not in stripped:
                    found.add(kind)
                continue
            if doc[:start].text.strip(" *#-=[]("):
                continue  # a heading starts its line
            rest = line[span.end_char :].lstrip()
            if rest.startswith(":") or (not rest and heading_line):
                found.add(kind)
        if "note_title" not in found and _headed_title(doc, stripped):
            found.add("note_title")
        if "strong_opening" in found:
            found.discard("weak_opening")
        out.append(found)
    return out


def _headed_title(doc: Doc, stripped: str) -> bool:
    """A title-only line: 1-7 words, no colon or sentence end, capitalised, ending in a head noun."""
    words = [t for t in doc if not t.is_space and t.text not in ("*", "#", "=", "-", "[", "]")]
    if not 1 <= len(words) <= 7 or ":" in stripped or stripped.endswith((".", ",", ";")):
        return False
    if not stripped.lstrip("*#=-[ ")[:1].isupper():
        return False
    head = words[-1].norm_
    if head not in TITLE_HEADS_FOLDED:
        return False
    if len(words) == 1 or (len(words) == 2 and words[0].norm_ in SECTION_QUALIFIERS_FOLDED):
        return head not in SECTION_LIKE_HEADS_FOLDED
    # every word capitalised (a title), or the whole line in capitals
    return all(w.text[:1].isupper() or not w.text[:1].isalpha() or w.text in ("and", "of", "for", "with", "to", "the") for w in words)


# First words of the opening headings (STRONG_OPENINGS): a cheap pre-check for a heading run into the text.
OPENING_LEAD = re.compile(r"^\s*(?:" + _labels("chief", "cc", "reason", "preoperative", "pre-operative", "preop", "exam", "examination", "admission", "admitting", "principal", "identifying", "identification", "presenting", "presentation", "type of", "clinical history", "final diagnos", "discharge diagnos", "title of", "operation performed", "procedures performed", "procedure performed") + r")[A-Za-z /&'()-]{0,40}:", re.I)


# Dates that OCR glued to their neighbours, which pipeline.dates rightly refuses in running text:
# "02/21/197510:29" (date run into its time), "seen onMarch 1, 2016" (word run into the month).
_GLUED_DATES = (
    re.compile(r"(?<![\d/])(?P<m>\d\d?)/(?P<d>\d\d?)/(?P<y>(?:19|20)\d\d)(?=[\dOlIS]{1,2}:[\dOlIS]{2})"),
    re.compile(r"(?<!\d)(?P<y>(?:19|20)\d\d)-(?P<m>\d\d)-(?P<d>\d\d)(?=[\dOlIS]{1,2}:[\dOlIS]{2})"),
    re.compile(r"(?<=[a-z])(?P<mon>(?-i:[A-Z])[a-z]{2,8})\.? (?P<d>\d\d?),? (?P<y>(?:19|20)\d\d)(?!\d)"),
    re.compile(r"(?P<mon>[A-Za-z]{3,9})\.? (?P<d>\d\d?),? (?P<y>(?:19|20)\d\d)(?=[\dOlIS]{1,2}:[\dOlIS]{2})"),
    re.compile(r"(?<![\w-])(?P<d>\d\d?)-(?P<mon>[A-Za-z]{3,9})-(?P<y>(?:19|20)\d\d)(?=[\dOlIS]{1,2}:[\dOlIS]{2})"),
)


def date_in(text: str, start: int = 0, end: int | None = None, compact: bool = False) -> DateMention | None:
    """The first date in ``text[start:end]``: as pipeline.dates reads it, or else glued to its
    neighbour by OCR (see _GLUED_DATES). Spans stay exact."""
    mention = first_date(text, start, end, compact)
    if mention:
        return mention
    end = len(text) if end is None else end
    found = []
    for pattern in _GLUED_DATES:
        for match in pattern.finditer(text, start, end):
            groups = match.groupdict()
            if groups.get("mon") and groups["mon"].lower().rstrip(".") not in _MONTH_NAMES:
                continue
            value = parse_match(match)
            if value:
                found.append(DateMention(match.start(), match.end(), value, "glued"))
                break
    return min(found, key=lambda m: m.start) if found else None


_MONTH_NAMES = frozenset(
    "jan january feb february mar march apr april may jun june jul july aug august sep sept september "
    "oct october nov november dec december".split()
)


@line_memo
def encounter_header(line: str) -> str | None:
    for name, pattern in ENCOUNTER_HEADERS.items():
        if pattern.search(line):
            return name
    return None


@line_memo
def note_header(line: str) -> str | None:
    for name, pattern in NOTE_HEADERS.items():
        if pattern.search(line):
            return name
    return None
