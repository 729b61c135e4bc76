"""The layout of one record, read from the record itself: line shapes, rules, boxes, page furniture.

Why: every source system prints its encounter starts, page breaks and signatures from a template, and a
template repeats inside one record whatever words it uses. Masking what varies between two prints of one
template (digits, dates, times, the words of names) turns each line into a *shape*. A shape that recurs
with a page counter, or right beside one, is page furniture; a shape that recurs as the last line before a
gap closes notes; a header-like block whose shape recurs with a different date each time is a header
template. Structure predicates (label-value lines, boxes, person names with credentials, organisation
names) work the same way: by form, not by a list of one format's labels.
"""

from __future__ import annotations

import difflib
import re
import statistics
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from pipeline.text import LineIndex, line_memo

# OCR reads digits next to digits as letters: "2O23-O7-l5" is a date, "Page l2" a counter. (The pattern
# opens with a character class so the scan skips most of the text at C speed.)
_OCR_DIGIT = re.compile(r"[OolIS|](?:(?<=\d[OolIS|])(?![A-Za-z])|(?<![A-Za-z][OolIS|])(?=\d))")
_DIGIT_OF = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1", "|": "1", "S": "5"})


def ocr_digits(text: str) -> str:
    """``text`` with OCR letters that stand next to digits read as digits; the length is kept, so
    offsets into the result are offsets into ``text``."""
    return _OCR_DIGIT.sub(lambda m: m.group().translate(_DIGIT_OF), text)


_CLOCK = r"(?:[ \t,T@]*\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:[ \t]*[apAP]\.?[mM]\.?)?)?"
_MONTH = (
    r"(?:(?<=[Jj])(?:an|AN|u[nl]|U[NL])|(?<=[Ff])(?:eb|EB)|(?<=[Mm])(?:a[ry]|A[RY])|(?<=[Aa])(?:pr|PR|ug|UG)"
    r"|(?<=[Ss])(?:ep|EP)|(?<=[Oo])(?:ct|CT)|(?<=[Nn])(?:ov|OV)|(?<=[Dd])(?:ec|EC))[a-zA-Z]{0,6}\.?"
)
# (Patterns here open with a character class and check what stands before it from there: a scan for a
# leading class skips text at C speed, a leading look-behind or \b tries every position.)
# Any printed date with its clock time, loosely: shapes only need to know that a date stands here. Two
# patterns, each opening with a character class (digits; a month's first letter) for speed.
_DATE_NUMERIC = re.compile(
    r"\d(?<![\w.]\d)(?:\d{0,3}[/.-]\d{1,2}[/.-]\d{2,4}(?!\d)|\d?(?:st|nd|rd|th)?[ \t-]+[A-Za-z]" + _MONTH
    + r"[ \t,-]+\d{2,4}(?!\d)|(?:(?<=1)9|(?<=2)0)\d{6}(?!\d))" + _CLOCK
)
_DATE_MONTH_FIRST = re.compile(
    r"[JFMASONDjfmasond](?<![A-Za-z].)" + _MONTH + r"[ \t-]+\d{1,2}(?:st|nd|rd|th)?,?[ \t]+\d{4}(?!\d)" + _CLOCK
)
_WEEKDAY = re.compile(
    r"[MTWFSmtwfs](?<!\w.)(?:(?<=[Mm])on|(?<=[Tt])ue|(?<=[Ww])ed|(?<=[Tt])hu|(?<=[Ff])ri|(?<=[Ss])at|(?<=[Ss])un|(?<=M)ON|(?<=T)UE|"
    r"(?<=W)ED|(?<=T)HU|(?<=F)RI|(?<=S)AT|(?<=S)UN)[a-zA-Z]{0,6}\.?,?[ \t]+(?=\x01)"
)
_TIME = re.compile(r"\d(?<!\w\d)(?:\d?:\d{2}(?::\d{2})?(?:[ \t]*[apAP]\.?[mM]\.?\b)?|(?<=[0-2])\d[0-5]\d[ \t]*(?:hrs?|h)\b)")
_WORD_UPPER = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z'’&.-]*[A-Z]\b\.?")
_WORD_CAP = re.compile(r"[A-Z](?<!\w[A-Z])[A-Za-z'’-]*\.?")
_WORD_LOWER = re.compile(r"[a-z](?<!\w[a-z])[A-Za-z'’-]*\.?")
_DIGITS = re.compile(r"\d+")
_WIDE = re.compile(r"[ \t]{2,}|\t")
_REPEAT = re.compile(r"(.)\1+")
_SHAPE_CLASSES = str.maketrans({"\x01": "D", "\x02": "T", "\x03": "U", "\x04": "C", "\x05": "l"})


def shape_text(text: str) -> str:
    """The shape of every line of ``text`` at once (lines are kept: no pattern crosses a newline).

    Dates (with their clock time) become ``D``, other times ``T``, digit runs ``9``, words ``U``
    (capitals), ``C`` (capitalised) or ``l`` (lower case); a wide gap (2+ spaces or a tab) is ``_``,
    single spaces vanish and runs of one symbol collapse, so "Provider:  Jane M. Roe, MD" and
    "Provider:  Al Li, NP" share ``C:_C,U``.
    """
    t = ocr_digits(text)
    t = _DATE_MONTH_FIRST.sub("\x01", _DATE_NUMERIC.sub("\x01", t))
    t = _TIME.sub("\x02", _WEEKDAY.sub("", t))
    t = _DIGITS.sub("9", t)
    t = _WORD_UPPER.sub("\x03", t)
    t = _WORD_CAP.sub("\x04", t)
    t = _WORD_LOWER.sub("\x05", t)
    t = _WIDE.sub("_", t).replace(" ", "")
    return _REPEAT.sub(r"\1", t).translate(_SHAPE_CLASSES)


def line_shape(line: str) -> str:
    return shape_text(line)


def shapes_of(lines: list[str]) -> list[str]:
    """The shapes of several lines in one pass (one regex scan per class instead of one per line)."""
    return shape_text("\n".join(lines)).split("\n") if lines else []


# Letters OCR confuses folded to one spelling, for recurrence keys that survive scan noise; applied in
# this order ("b" before "8" -> "b"), as replacements (a translate table leaves its fast path on the
# first non-ASCII character, and records print box drawing and typographic quotes).
_FOLD = (("0", "o"), ("1", "i"), ("l", "i"), ("|", "i"), ("5", "s"), ("c", "e"), ("a", "o"), ("v", "u"), ("b", "h"), ("f", "t"), ("q", "g"), ("8", "b"))


_SPACES = re.compile(r"[^\S\n]+")


def recurrence_keys(text: str) -> list[str]:
    """For every line of ``text``, a key shared by reprints of that line: digits masked, OCR confusions
    folded, spacing dropped (computed over the whole text at once)."""
    t = _SPACES.sub("", _DIGITS.sub("9", ocr_digits(text)).lower().replace("rn", "m"))
    for glyph, letter in _FOLD:
        t = t.replace(glyph, letter)
    return t.split("\n")


# -- structure predicates ---------------------------------------------------------------------

# A separator or a box border: no letter or digit, at least three marks ("-----", "+----+", "┌──┐", "* * *").
_RULE = re.compile(r"^[\s\W_]*$")
BOX_EDGE = "|│║┃¦╎+*#"
_BOX_SIDES = re.compile(r"^\s*[|│║┃¦╎](?P<inner>.*?)[|│║┃¦╎]?\s*$")


@line_memo
def is_rule(line: str) -> bool:
    stripped = line.strip()
    return len(stripped.replace(" ", "")) >= 3 and bool(_RULE.match(stripped))


_RULE_CHARS = r"[-=_~*#+─━═┄┈┌┐└┘╔╗╚╝╭╮╰╯╒╕╘╛]"
_TITLED_RULE = re.compile(rf"^\s*{_RULE_CHARS}{{2,}}.*?[^\W_].*?{_RULE_CHARS}{{2,}}\s*$")  # a letter or digit inside


@line_memo
def titled_rule(line: str) -> bool:
    """A rule with words inside it ("┌── VISIT ──┐", "*** SUMMARY ***"): the top edge of a titled box,
    or a note's own banner."""
    return bool(_TITLED_RULE.match(line))


@line_memo
def unbox(line: str) -> str:
    """The content of a boxed line ("| Date: 03/04/2019     |" -> "Date: 03/04/2019")."""
    match = _BOX_SIDES.match(line)
    return match.group("inner").strip() if match else line.strip()


@line_memo
def boxed(line: str) -> bool:
    """A line framed by box sides: it starts with a box edge and has text inside."""
    stripped = line.strip()
    return len(stripped) > 2 and stripped[0] in "|│║┃¦╎" and any(ch.isalnum() for ch in stripped)


# A label then a value: "Label: value", "LABEL :: value", "label = value", "Label -> value", "Label..... value",
# "[Label] value", "Label - value"; a label is a few words, any words.
_PAIR = re.compile(
    r"(?:^|[ \t]{2,}|[|│;,\t]\s*)\[?\s*(?P<label>[A-Za-z][A-Za-z0-9#/&().'’ -]{0,30}?)\s*"
    r"(?::{1,2}|=>?|-+>|[→⇒»]|\.{3,}|\]|\s[-–—]\s)\s*(?=\S)"
)
# A label in a column of its own, its value aligned after a wide gap: "POINT OF CARE     Oak Clinic".
_ALIGNED_PAIR = re.compile(r"^\s*(?P<label>[A-Za-z][A-Za-z0-9#/&()'’ -]{0,30}?[A-Za-z)])(?:[ \t]{3,}|\t)(?=\S)")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?\s*$")


@line_memo
def label_value_pairs(line: str) -> int:
    """How many label-value pairs a line prints (0 for prose: a pair's label is at most four words); a
    line that only aligns its value in a column after its label prints one."""
    text = unbox(line)
    found = sum(1 for m in _PAIR.finditer(text) if len(m.group("label").split()) <= 4)
    if found:
        return found
    aligned = _ALIGNED_PAIR.match(text)
    return int(aligned is not None and len(aligned.group("label").split()) <= 4)


def _bars(text: str) -> int:
    return text.count("|") + text.count("│")


@line_memo
def table_row(line: str) -> bool:
    """A row of a table drawn with bars ("| 17:31 | 09.09.2013 | Clinic |"), not its rule."""
    return _bars(line) >= 2 and any(ch.isalnum() for ch in line) and not is_rule(line)


@line_memo
def cells(line: str) -> int:
    """How many cells a line has when it is cut by bars, or by wide gaps (a table row or columns)."""
    text = unbox(line)
    bars = _bars(text)
    if bars >= 2:
        return bars + 1
    return len([c for c in _WIDE.split(text.strip()) if c])


@line_memo
def ends_sentence(line: str) -> bool:
    return bool(_SENTENCE_END.search(line))


_CREDENTIAL = (
    r"(?:M\.?D\.?|D\.?O\.?|N\.?P\.?|PA-C|P\.?A\.?|R\.?N\.?|BSN|LPN|MSN|APRN|CRNP|DNP|FNP-C|FNP|ANP|AGNP|"
    r"MBBS|MBChB|Ph\.?D\.?|FACP|FACS|FACC|FAAP|DPM|CNM|CRNA|DDS|DMD|PharmD|OD|DC|LCSW|PT|DPT|OT|RD|MA|CMA|MPH)"
)
# Credentials that name nothing but a clinician: what an all-capitals name must end with ("LAB VISIT, PT" is
# no person).
_CLINICIAN_CREDENTIAL = r"(?:M\.?D\.?|D\.?O\.?|N\.?P\.?|PA-C|R\.?N\.?|APRN|CRNP|DNP|FNP-C|FNP|ANP|AGNP|MBBS|DPM|CNM|CRNA|DDS|DMD|LCSW)"
_NAME_WORD = r"(?:[A-Z][A-Za-z'’-]*[a-z]|[A-Z]\.|[A-Z](?![A-Za-z]))"
# "Jane M. Roe, MD", "ROE, JANE MD", "JANE M. ROE, MD", "Dr. Jane Roe", "J. Roe NP", "Roe, Jane (Attending)";
# an address's state before its ZIP code ("..., Millbrook, PA 17076") is no credential
PERSON = re.compile(
    r"(?:\b(?:Dr|Doctor)\.?\s+" + _NAME_WORD + r"(?:\s+" + _NAME_WORD + r"){0,3}"
    r"|\b" + _NAME_WORD + r"(?:,?\s+" + _NAME_WORD + r"){1,3},?\s+" + _CREDENTIAL + r"\b"
    r"|\b[A-Z][A-Z'’-]+,\s*[A-Z][A-Z'’-]+(?:\s+[A-Z]\.?)?,?\s+" + _CREDENTIAL + r"\b"
    r"|\b[A-Z][A-Z'’-]+(?:\s+[A-Z]\.)?(?:\s+[A-Z][A-Z'’-]+){1,2},\s*" + _CLINICIAN_CREDENTIAL + r"\b)"
    r"(?![ \t]*\d{5}(?!\d))"  # "Larkspur Ave, Millbrook, PA 17076": a state before its ZIP code, no credential
)
# Head words of organisation names ("Harbor Clinic", "ST. BRENDAN REGIONAL MEDICAL CENTER", "Oak Partners").
_ORG_HEADS = (
    "clinic", "clinics", "hospital", "medical", "center", "centre", "health", "healthcare", "partners",
    "associates", "group", "practice", "physicians", "specialists", "institute", "pavilion", "campus",
    "department", "dept", "unit", "services", "imaging", "radiology", "laboratory", "laboratories", "labs",
    "surgery", "surgical", "pediatrics", "medicine", "care", "wellness", "system", "network", "infirmary",
    "foundation", "university", "memorial", "regional", "community", "general", "ward", "office",
)
ORGANISATION = re.compile(
    r"\b(?:[A-Z][A-Za-z.'’&-]*\s+){1,5}(?i:" + "|".join(_ORG_HEADS) + r")\b"
    r"|\b(?i:" + "|".join(_ORG_HEADS[:12]) + r")\s+(?:of\s+|at\s+)?(?:[A-Z][A-Za-z.'’&-]*\s*){1,4}"
)


# What PERSON cannot match without: a title, or a credential after a space.
_PERSON_HINT = re.compile(r"\b(?:Dr|Doctor)|\s" + _CREDENTIAL + r"\b")


def names_person(text: str) -> bool:
    """Whether ``text`` names a clinician (``PERSON``)."""
    return person_in(text) is not None


@line_memo
def person_in(text: str) -> re.Match[str] | None:
    """The first clinician's name in ``text``; the pattern runs only where a title or a credential
    stands (most text has neither, and the pattern tries every word)."""
    return PERSON.search(text) if _PERSON_HINT.search(text) else None


@line_memo
def names_organisation(text: str) -> bool:
    """Whether ``text`` names an organisation (``ORGANISATION``); the pattern runs only where one of
    its head words stands."""
    folded = text.casefold()
    return any(head in folded for head in _ORG_HEADS) and bool(ORGANISATION.search(text))



# -- one record's layout ----------------------------------------------------------------------

# Page furniture recurs at least this often before its recurrence is trusted.
MIN_REPEATS = 3
# A counter line and the banner lines printed with it stand within this many lines of each other.
PAGE_CLUSTER = 4


@dataclass
class Layout:
    """Per-line facts of one record that every detector feature starts from. Shapes are computed on
    demand (in batches): only candidate blocks and paragraph ends need one."""

    lines: list[str]
    keys: list[str]  # recurrence keys (see recurrence_keys)
    blank: list[bool]
    rule: list[bool]
    furniture: list[bool]
    _shapes: dict[int, str] = field(default_factory=dict)

    @cached_property
    def content(self) -> list[int]:
        """Lines that carry text: neither blank, a rule nor page furniture."""
        return [i for i in range(len(self.lines)) if not (self.blank[i] or self.rule[i] or self.furniture[i])]

    def shapes(self, indices: list[int]) -> list[str]:
        missing = [i for i in dict.fromkeys(indices) if i not in self._shapes]
        self._shapes.update(zip(missing, shapes_of([self.lines[i] for i in missing]), strict=True))
        return [self._shapes[i] for i in indices]

    def shape(self, i: int) -> str:
        return self.shapes([i])[0]

    @cached_property
    def paragraph_ends(self) -> frozenset[int]:
        """Content lines followed by a blank line, a rule or the end of the record (furniture is
        transparent: a page break does not end a paragraph)."""
        content, n = self.content, len(self.lines)
        ends = set()
        for k, i in enumerate(content):
            nxt = content[k + 1] if k + 1 < len(content) else n
            if nxt == n or any(self.blank[j] or self.rule[j] for j in range(i + 1, nxt)):
                ends.add(i)
        return frozenset(ends)

    @cached_property
    def closers(self) -> frozenset[str]:
        """Shapes that close notes in this record: the last line of at least three paragraphs, with a
        date, a time or a capitals word (a credential) in it; and the shapes of its closing lines."""
        ends = [i for i in self.paragraph_ends if len(self.lines[i]) < 200]
        counts: dict[str, int] = defaultdict(int)
        for shape in self.shapes(ends):
            if len(shape) >= 4 and any(ch in shape for ch in "DTU"):
                counts[shape] += 1
        found = {shape for shape, count in counts.items() if count >= MIN_REPEATS}
        return frozenset(found | set(self.shapes(sorted(self.closing_lines))))

    @cached_property
    def closing_lines(self) -> frozenset[int]:
        """Lines a source system prints after its notes, whatever they say ("<<< end of transcribed report
        #5176736 >>>", "--- End of Note ---"): one decorated line, printed again (digits aside) as the last
        line of at least three paragraphs, most often under the note's signature. Decoration tells them from a
        sentence that many notes end with; the signature from a marker that closes copied text inside a note."""
        ends = [i for i in self.paragraph_ends if _decorated(self.lines[i])]
        counts: dict[str, int] = defaultdict(int)
        signed: dict[str, int] = defaultdict(int)
        for i in ends:
            counts[self.keys[i]] += 1
            signed[self.keys[i]] += self._signed_above(i)
        return frozenset(i for i in ends if counts[self.keys[i]] >= MIN_REPEATS and 2 * signed[self.keys[i]] >= counts[self.keys[i]])

    def _signed_above(self, i: int) -> bool:
        """Whether a clinician's name stands in one of the three content lines above line ``i`` (the note's
        signature: what a closing line follows, and a copy-forward marker or a box's side does not)."""
        k = bisect_left(self.content, i)
        return any(len(self.lines[j]) < 160 and person_in(self.lines[j]) for j in self.content[max(0, k - 3) : k])


_DECORATION = re.compile(r"[^\w\s.,:;'\"()/&%-]")
_BOX_SIDE_PADDED = re.compile(r"\s{3,}[" + re.escape(BOX_EDGE) + r"]$")  # a box's line: "* CHART ENTRY      *"


def _decorated(line: str) -> bool:
    """A short line of words set off by marks that no sentence prints ("<<< ... >>>", "--- ... ---", "[[ ... ]]"),
    not a table's row or a box's line."""
    stripped = line.strip()
    marks = len(_DECORATION.findall(stripped)) + 2 * len(re.findall(r"-{2,}", stripped))
    return (
        6 <= len(stripped) <= 120 and len(stripped.split()) <= 12 and marks >= 2 and any(ch.isalpha() for ch in stripped)
        and not (is_rule(stripped) or table_row(stripped) or boxed(stripped) or _BOX_SIDE_PADDED.search(stripped))
    )


def analyse(lines: LineIndex, known_furniture: list[bool] | None = None) -> Layout:
    """The layout of a record. ``known_furniture`` adds lines a vocabulary already recognised."""
    text_lines = lines.lines
    blank = [not line.strip() for line in text_lines]
    rule = [not blank[i] and is_rule(line) for i, line in enumerate(text_lines)]
    keys = recurrence_keys(lines.text)[: len(text_lines)]
    furniture = recurring_furniture(text_lines, blank, keys)
    if known_furniture:
        furniture = [a or b for a, b in zip(furniture, known_furniture, strict=True)]
    return Layout(text_lines, keys, blank, rule, furniture)


def recurring_furniture(lines: list[str], blank: list[bool], keys: list[str]) -> list[bool]:
    """Page headers and footers, found by recurrence whatever they say: a line that recurs with a page
    counter (a number that goes up by one from one print to the next, through the whole record), the
    lines that recur beside such counters, and lines that recur at a regular spacing through the record."""
    n = len(lines)
    out = [False] * n
    groups: dict[str, list[int]] = defaultdict(list)
    for i, line in enumerate(lines):
        if not blank[i] and len(line) < 160:
            groups[keys[i]].append(i)
    groups = {k: v for k, v in groups.items() if len(v) >= MIN_REPEATS and k}
    counters = [members for members in groups.values() if _counts_pages(lines, members, n)]
    counters = [m for m in counters if not any(_interleaved(m, other) for other in counters if other is not m)]
    counter_lines = sorted(i for members in counters for i in members)
    for i in counter_lines:
        out[i] = True
    if counter_lines:
        pages = max(len(members) for members in counters)
        for members in groups.values():
            near = sum(1 for i in members if _near(counter_lines, i, PAGE_CLUSTER))
            # printed on most pages, not a fragment that a page break happened to cut a few times
            if near >= 0.6 * len(members) and len(members) >= 0.4 * pages:
                for i in members:
                    out[i] = True
        # Reprints of a banner that scan noise made unique: short lines glued to a counter line by other
        # furniture only, that read like one of the recurring furniture lines (a page break can also
        # land right beside a note's own header, which must stay content).
        printed = {keys[i] for i in range(n) if out[i]}
        for i in counter_lines:
            for step in (-1, 1):
                j = i + step
                while 0 <= j < n and abs(j - i) <= PAGE_CLUSTER and not blank[j]:
                    if not out[j]:
                        if len(lines[j]) < 120 and not ends_sentence(lines[j]) and _banner_like(lines[j]) and _reprint(keys[j], printed):
                            out[j] = True
                        else:
                            break
                    j += step
    return out


# How alike a line's recurrence key must be to a recurring furniture line's to be its reprint.
REPRINT_SIMILARITY = 0.75


def _reprint(key: str, printed: set[str]) -> bool:
    """Whether ``key`` reads like one of the ``printed`` keys with a few characters misread."""
    for other in printed:
        matcher = difflib.SequenceMatcher(None, key, other, autojunk=False)
        if matcher.real_quick_ratio() >= REPRINT_SIMILARITY and matcher.quick_ratio() >= REPRINT_SIMILARITY and matcher.ratio() >= REPRINT_SIMILARITY:
            return True
    return False


def _counts_pages(lines: list[str], members: list[int], n: int) -> bool:
    """Whether a group of reprints carries a page counter: one number position that never goes back,
    mostly goes up by exactly one, starts at the first page, reaches about as high as there are prints
    (hospital-day titles restart with each stay) and advances at a steady rate per line of text (an age
    or a date that grows with the visits does not)."""
    if len(members) < 4 or members[-1] - members[0] < 0.4 * n or members[0] > 0.1 * n + 80:
        return False  # pages run through the record from its first page
    if len(set(filter(None, (_printed_date(lines[i]) for i in members)))) >= max(3, len(members) / 2):
        return False  # a new date at most prints: visit headers or signatures, not the pages of a print job
    numbers = [[int(x) for x in _DIGITS.findall(ocr_digits(lines[i]))] for i in members]
    width = min(len(x) for x in numbers)
    for k in range(width):
        values = [x[k] for x in numbers]
        pairs = list(zip(values, values[1:], members, members[1:]))
        if (
            min(values) > 2
            or max(values) < 0.8 * len(values)
            or sum(1 for a, b, _, _ in pairs if b <= a) > 0.1 * len(pairs)
            or sum(1 for a, b, _, _ in pairs if b == a + 1) < 0.5 * len(pairs)
        ):
            continue
        per_page = [(j - i) / (b - a) for a, b, i, j in pairs if b > a]
        mean = statistics.fmean(per_page)
        if statistics.pstdev(per_page) <= 0.5 * mean:
            return True
    return False


_CLOCK_TAIL = re.compile(r"[ \t,T@]*\d{1,2}:\d{2}.*$", re.S)


def _printed_date(line: str) -> str | None:
    """The first date printed on a line, without its clock time."""
    match = _DATE_NUMERIC.search(line) or _DATE_MONTH_FIRST.search(line)
    return _CLOCK_TAIL.sub("", match.group()) if match else None


def _interleaved(members: list[int], other: list[int]) -> bool:
    """Two counted series printed alternately but never side by side: the day-by-day notes of a stay
    (a day-shift and a night-shift series), not a page's header and footer counters."""
    inside = [i for i in members if other[0] < i < other[-1]]
    if len(inside) < 0.5 * len(members):
        return False
    return sum(1 for i in inside if _near(other, i, PAGE_CLUSTER)) < 0.5 * len(inside)


def _near(sorted_lines: list[int], i: int, distance: int) -> bool:
    k = bisect_left(sorted_lines, i - distance)
    return k < len(sorted_lines) and sorted_lines[k] <= i + distance and sorted_lines[k] != i


def _banner_like(line: str) -> bool:
    """A short line of identifiers: digits and capitals, no sentence."""
    stripped = line.strip()
    return bool(stripped) and sum(ch.isdigit() for ch in stripped) >= 3 and not stripped[-1:] in ".?!"
