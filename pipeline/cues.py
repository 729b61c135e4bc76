"""Line cues shared by the rules detector and the rules extractor.

Each cue is a named, explained pattern over one line. Header labels are matched OCR-tolerantly
(``o``/``0``, ``l``/``1``/``i``, ``e``/``c`` and ``rn``/``m`` confusions, dropped spaces), because
scanned charts garble labels as readily as prose. Note-type titles and opening section headings are
spaCy ``PhraseMatcher`` vocabularies, matched on the lower-cased tokens of candidate lines.
"""

from __future__ import annotations

import re
from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

_OCR = {"o": "[o0]", "l": "[l1i|]", "i": "[il1|]", "e": "[ec]", "s": "[s5]", "m": "(?:m|rn)", "n": "[nr]", "t": "[tf]"}


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


_DATEISH = r"(?:\d{1,4}[/-]\d{1,2}[/-]\d{2,4}|\d{1,2}[- ][A-Za-z]{3,9}[- ,]+\d{4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|(?:19|20)\d{6})"

# Encounter-level header lines: they open a visit or a stay (weight: strong).
ENCOUNTER_HEADERS: dict[str, re.Pattern[str]] = {
    "date_of_service": re.compile(r"^\s*" + _labels("date of service", "dos", "service date") + r"\s*[:#]", re.I),
    "visit_date": re.compile(r"^\s*" + _labels("visit date", "date of visit", "appointment date") + r"\s*:", re.I),
    "encounter_date": re.compile(r"^\s*" + _labels("encounter date", "date of encounter") + r"\s*:", re.I),
    "encounter_label": re.compile(r"^\s*" + _labels("encounter") + r"\s*:.{0,80}" + _labels("provider", "date", "location"), re.I),
    "encounter_banner": re.compile(r"^\s*" + _labels("encounter") + r"\s+" + _DATEISH, re.I),
    "admission_date": re.compile(r"^\s*" + _labels("admission date", "date of admission", "admit date", "admitted") + r"\s*:", re.I),
    "exam_date": re.compile(r"^\s*" + _labels("exam date", "date of exam", "study date", "collection date", "procedure date", "date of procedure", "date of surgery") + r"\s*:", re.I),
    "date_clinic": re.compile(r"^\s*" + _labels("date") + r"\s*:\s*" + _DATEISH + r".{0,40}" + _labels("clinic", "facility", "location", "provider", "physician"), re.I),
    "star_banner": re.compile(r"^\s*\*{2,}\s*[A-Za-z][A-Za-z &/,-]{2,60}?\s*\*{2,}\s*$"),
    "fax_cover": re.compile(r"^\s*" + _labels("fax") + r"\b.{0,20}" + _labels("from") + r"\s*:", re.I),
    "regarding": re.compile(r"^\s*" + _labels("re") + r"\s*:.{0,60}\b" + _labels("dos", "date") + r"\b", re.I),
    "pipe_line": re.compile(r"^\s*" + _DATEISH + r"\s*\|[^|]+\|"),
    "hl7_segment": re.compile(r"^\s*" + _labels("enc", "pv1", "evn") + r"\|", re.I),
    "seen_on": re.compile(r"^\s*" + _labels("patient seen on", "patient was seen on", "seen in clinic on") + r"\s+" + _DATEISH, re.I),
    "visit_line": re.compile(r"^\s*" + _labels("visit") + r"\s*:\s*.{2,60}\s" + _labels("on") + r"\s+" + _DATEISH, re.I),
}

# Note-level sub-headers: a new note, which may belong to the current stay (weight: moderate).
NOTE_HEADERS: dict[str, re.Pattern[str]] = {
    "note_type_line": re.compile(r"^\s*" + _labels("note type") + r"\s*:.{0,120}" + _labels("date", "author"), re.I),
    "dashed_note": re.compile(r"^\s*-{3,}\s*[^|]{3,80}\|[^|]+\|[^|]+-{3,}\s*$"),
    "bracket_note": re.compile(r"^\s*\[\s*" + _DATEISH + r"[^\]]{0,12}\]\s*\S.{2,80}\(.{2,60}\)\s*$"),
    "dash_note": re.compile(r"^\s*\S.{2,80}?\s[—–-]\s*" + _DATEISH + r"(?:\s+\d{1,2}:\d{2}(?:\s*[AP]M)?)?\s*[—–-]\s*\S.{1,60}$", re.I),
    "date_time_line": re.compile(r"^\s*" + _labels("date/time", "date and time", "note date") + r"\s*:", re.I),
}

SIGNATURE = re.compile(
    r"^\s*(?:" + _labels("electronically signed", "electronically authenticated", "signed", "dictated by", "transcribed by", "authenticated by", "this document has been electronically signed", "attending physician signature", "e-signed", "cosigned") + r"|d:\s*\d.*\bt:\s*\d|_{5,}\s*$)",
    re.I,
)
CLOSING = re.compile(r"^\s*" + _labels("next visit", "follow-up", "follow up", "return to clinic", "rtc", "discharged home", "disposition") + r"\b", re.I)
FALSE_CUE = re.compile(
    r"\b" + _labels("last seen", "was seen on", "previously seen", "seen on", "prior visit", "carried forward", "copied from prior", "as of") + r"\b",
    re.I,
)
FURNITURE = re.compile(
    r"(?:\b" + fuzzy("page") + r"\s*[\dlIO|]+\s*(?:" + fuzzy("of") + r"|/)\s*[\dlIO|]+"
    r"|\b" + fuzzy("printed") + r"\b.{0,40}\d"
    r"|(?:\bMRN\b|\b" + fuzzy("name") + r"\s*:|\b" + fuzzy("patient") + r"\s*:|\|).{0,80}\bD[O0]B\b"
    r"|\bD[O0]B\b.{0,40}\bMRN\b"
    r"|^\s*" + fuzzy("confidential") + r"\b"
    r"|^\s*(?:=|-){3,}\s*" + fuzzy("fax") + r")",
    re.I,
)
RULE_LINE = re.compile(r"^\s*[=_\-*~#]{5,}\s*$")
STAY_OPEN = re.compile(
    r"^\s*" + _labels("admission date", "date of admission", "admit date") + r"\s*:"
    r"|\b" + _labels("hospital admission", "inpatient", "admission history and physical", "history and physical", "admission note", "hospital day") + r"\b"
    r"|\|\s*" + _labels("admission") + r"\b",
    re.I | re.M,
)
HOSPITAL_DAY = re.compile(
    r"\b" + fuzzy("hospital day") + r"\s*(?:[2-9]|\d\d)\b"
    r"|\b" + _labels("post-operative day", "postoperative day", "pod") + r"\s*#?\s*[1-9]"
    r"|\b" + fuzzy("day") + r"\s*\d+\s*/\s*" + fuzzy("los") + r"\b"
    r"|\b" + _labels("nursing shift note", "shift note") + r"\b",
    re.I,
)
STAY_CLOSE = re.compile(r"\b" + _labels("discharge summary", "discharged", "discharge date", "date of discharge") + r"\b", re.I)

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
    "discharge summary note", "history and physical note", "emergency medicine note", "progress note",
)
# Headings that usually open a note, and headings that also recur inside one.
STRONG_OPENINGS = (
    "chief complaint", "cc", "reason for visit", "reason for consultation", "reason for consult",
    "reason for referral", "reason for admission", "reason for exam", "reason for examination",
    "reason for the test", "preoperative diagnosis", "preoperative diagnoses", "pre-operative diagnosis",
    "preop diagnosis", "title of operation", "operation performed", "procedure performed", "procedures performed",
    "admission diagnosis", "admission diagnoses", "admitting diagnosis", "diagnosis at admission",
    "principal diagnosis", "identifying data", "identification", "presenting complaint", "presentation",
    "type of consultation", "indication", "indications", "indications for procedure", "exam", "examination",
    "clinical history", "final diagnoses", "final diagnosis", "discharge diagnosis", "discharge diagnoses",
)
WEAK_OPENINGS = (
    "history of present illness", "hpi", "hx", "subjective", "history", "procedure", "operation",
    "postoperative diagnosis", "impression", "findings", "technique", "comparison", "s", "diagnosis",
)
CLOSING_SECTION = re.compile(
    r"^\s*" + _labels("plan", "disposition", "followup", "follow-up", "follow up", "recommendations", "recommendation",
                      "activity", "diet", "condition on discharge", "discharge instructions", "discharge condition",
                      "estimated blood loss", "complications", "assessment and plan", "next visit", "return visit",
                      "prognosis", "patient instructions", "addendum") + r"\b",
    re.I,
)


_OCR_FOLD = str.maketrans({"0": "o", "1": "i", "l": "i", "|": "i", "5": "s", "c": "e"})


def ocr_fold(word: str) -> str:
    """One spelling for the glyphs OCR confuses (0/o, 1/l/i/|, 5/s, c/e, rn/m), lower-cased."""
    return word.lower().replace("rn", "m").translate(_OCR_FOLD)


@Language.component("ocr_norm")
def ocr_norm(doc: Doc) -> Doc:
    """Sets ``token.norm_`` to the OCR-folded form, so a NORM PhraseMatcher reads "PR0CEDURE" as "procedure"."""
    for token in doc:
        token.norm_ = ocr_fold(token.text)
    return doc


@lru_cache(maxsize=1)
def phrase_matchers() -> tuple[Language, PhraseMatcher]:
    """A tokenizer + ``ocr_norm`` pipeline and one PhraseMatcher (attr NORM) for titles and opening sections."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ocr_norm")
    matcher = PhraseMatcher(nlp.vocab, attr="NORM")
    matcher.add("NOTE_TITLE", list(nlp.pipe(NOTE_TITLES)))
    matcher.add("STRONG_OPENING", list(nlp.pipe(STRONG_OPENINGS)))
    matcher.add("WEAK_OPENING", list(nlp.pipe(WEAK_OPENINGS)))
    return nlp, matcher


def title_cues(lines: list[str]) -> list[set[str]]:
    """For each line: {"note_title"} when the line is (mostly) a note-type title; {"strong_opening"} or
    {"weak_opening"} when it starts with a section heading followed by a colon or the line end."""
    nlp, matcher = phrase_matchers()
    strings = nlp.vocab.strings
    labels = {strings[name]: name.lower() for name in ("NOTE_TITLE", "STRONG_OPENING", "WEAK_OPENING")}
    out: list[set[str]] = []
    for line, doc in zip(lines, nlp.pipe(line[:200] for line in lines), strict=True):
        found: set[str] = set()
        stripped = line.strip()
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
            if rest.startswith(":") or (not rest and stripped.isupper()):
                found.add(kind)
        if "strong_opening" in found:
            found.discard("weak_opening")
        out.append(found)
    return out


def encounter_header(line: str) -> str | None:
    for name, pattern in ENCOUNTER_HEADERS.items():
        if pattern.search(line):
            return name
    return None


def note_header(line: str) -> str | None:
    for name, pattern in NOTE_HEADERS.items():
        if pattern.search(line):
            return name
    return None
