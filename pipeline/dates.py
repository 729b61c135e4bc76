"""Dates as clinical records print them, found with their character spans and parsed to ``date``.

One regular expression per printed style, tried in order, so a span is reported once, with the
style that parsed it. Slashes and dashes are read month first (US), dots day first (04.03.2019 is
4 March), a year first is always year-month-day.
Two-digit years pivot on the current year (``05`` is 2005, ``96`` is 1996).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from pipeline.text import line_memo

_MONTHS = {
    m: i
    for i, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for m in names
}
_MONTH = r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"

_ORDINAL = r"(?:st|nd|rd|th)?"
# Each pattern opens with what its match starts with (a digit, a century, a month's letter) and checks the
# character before it from there: a leading character lets the scan skip text at C speed, a leading
# look-behind tries every position.
DATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iso", re.compile(r"(?P<y>(?:19|20)(?<![\d/-]..)\d\d)-(?P<m>\d\d?)-(?P<d>\d\d?)(?![\d/-])")),
    ("us", re.compile(r"(?P<m>\d(?<![\d/.-]\d)\d?)/(?P<d>\d\d?)/(?P<y>\d{4}|\d\d)(?![\d/])")),
    ("us_dash", re.compile(r"(?P<m>\d(?<![\d/.-]\d)\d?)-(?P<d>\d\d?)-(?P<y>\d{4})(?![\d-])")),
    # 2019/03/04, 2019.03.04: year first is never day first
    ("ymd", re.compile(r"(?P<y>(?:19|20)(?<![\d/.-]..)\d\d)(?P<sep>[/.])(?P<m>\d\d?)(?P=sep)(?P<d>\d\d?)(?![\d/.]\d)")),
    # 04.03.2019: a dotted numeric date is day first, as the countries that print dots write it
    ("dmy_dot", re.compile(r"(?P<d>\d(?<![\w/.-]\d)\d?)\.(?P<m>\d\d?)\.(?P<y>(?:19|20)\d\d)(?![\d.]\d|\d)")),
    # 2019-Mar-04, 2019 MAR 04: a year first is year-month-day with a month's name too (a space between
    # them only with a two-digit day: "in 2019 May 4 patients" is prose)
    ("ymd_mon", re.compile(r"(?P<y>(?:19|20)(?<![\d/.-]..)\d\d)(?P<sep>[- ])" + _MONTH + r"(?P=sep)(?P<d>\d\d|(?<=-)\d)(?![\d:])", re.I)),
    # 4 March 2019, 04-MAR-2019, 4th March 2019, 04MAR2019
    ("dmy_mon", re.compile(r"(?P<d>\d(?<![\w-]\d)\d?)" + _ORDINAL + r"(?:[- ]|(?=[A-Za-z]{3}))" + _MONTH + r"[- ,]*(?P<y>\d{4})(?!\d)", re.I)),
    # 04-Mar-19: a two-digit year only between dashes, and not a clock time
    ("dmy_mon_yy", re.compile(r"(?P<d>\d(?<![\w-]\d)\d?)-" + _MONTH + r"-(?P<y>\d\d)(?![\d:])", re.I)),
    # March 4, 2019, March 4th 2019, Mar-04-2019
    ("mon_dy", re.compile(r"(?=[adfjmnos])(?<!\w)" + _MONTH + r"(?:\s+|-)(?P<d>\d\d?)" + _ORDINAL + r"(?:,?\s+|-)(?P<y>\d{4})(?!\d)", re.I)),
    # 20140506 as the whole value of a label ("posting_date: 20140506", "DOS=20140506"): a date field in
    # the ISO basic form, as record exports print it, wherever it stands
    ("compact_value", re.compile(r"(?P<y>(?:19|20)(?:(?<=[:=]..)|(?<=[:=]\s..))\d\d)(?P<m>[01]\d)(?P<d>[0-3]\d)(?=[ \t]*(?:\r?\n|$))")),
    ("compact", re.compile(r"(?P<y>(?:19|20)(?<!\d..)\d\d)(?P<m>[01]\d)(?P<d>[0-3]\d)(?!\d)")),
)


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    value: date
    style: str


def _year(text: str, today: date) -> int:
    year = int(text)
    if len(text) == 2:
        pivot = today.year % 100 + 1
        year += 2000 if year <= pivot else 1900
    return year


def parse_match(match: re.Match[str], today: date | None = None) -> date | None:
    today = today or date.today()
    groups = match.groupdict()
    month = _MONTHS[groups["mon"].lower().rstrip(".")] if groups.get("mon") else int(groups["m"])
    try:
        value = date(_year(groups["y"], today), month, int(groups["d"]))
    except ValueError:
        return None
    return value if date(1900, 1, 1) <= value <= date(today.year + 1, 12, 31) else None


# What a style's match cannot do without, checked before its pattern scans the text: most text holds
# no date, and a failed literal check costs a fraction of a failed pattern scan. Every style needs a
# digit; these need one of their marks, or a month's name; compact dates are asked for by the caller.
_ANY_DIGIT = re.compile(r"\d")
_MARKS = {"iso": "-", "us": "/", "us_dash": "-", "ymd": "/.", "dmy_dot": ".", "compact_value": ":="}
_NAMED_MONTH = frozenset({"ymd_mon", "dmy_mon", "dmy_mon_yy", "mon_dy"})
_MONTH_STEMS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def find_dates(text: str, start: int = 0, end: int | None = None, compact: bool = False) -> Iterator[DateMention]:
    """Every parseable date in ``text[start:end]``, in text order, without overlaps.

    ``compact`` (YYYYMMDD anywhere) is off by default: eight digits are too often an MRN or an order
    number; callers turn it on for fields known to hold a date, such as HL7-like segments. Eight digits
    that are a label's whole value are read either way.
    """
    end = len(text) if end is None else end
    if start == 0 and end == len(text):
        # a whole string (a line, a header block) is often asked again: its answer is kept
        return iter(_dates_of(text, compact, date.today().year))
    return iter(_scan(text, start, end, compact, date.today()))


@line_memo
def _dates_of(text: str, compact: bool, year: int) -> tuple[DateMention, ...]:
    return tuple(_scan(text, 0, len(text), compact, date(year, 1, 1)))


def _scan(text: str, start: int, end: int, compact: bool, today: date) -> list[DateMention]:
    """The dates of ``text[start:end]``; the patterns see the characters around the window (a date
    glued to a digit before it is none). Two-digit years pivot on ``today``'s year."""
    window = text if start == 0 and end == len(text) else text[start:end]
    if not _ANY_DIGIT.search(window):
        return []
    folded = window.casefold()
    months = any(stem in folded for stem in _MONTH_STEMS)
    found: list[DateMention] = []
    taken: list[tuple[int, int]] = []
    for style, pattern in DATE_PATTERNS:
        if (
            (style == "compact" and not compact)
            or (style in _NAMED_MONTH and not months)
            or (style in _MARKS and not any(mark in window for mark in _MARKS[style]))
        ):
            continue
        for match in pattern.finditer(text, start, end):
            if any(match.start() < e and s < match.end() for s, e in taken):
                continue
            value = parse_match(match, today)
            if value is not None:
                found.append(DateMention(match.start(), match.end(), value, style))
                taken.append((match.start(), match.end()))
    return sorted(found, key=lambda m: m.start)


def first_date(text: str, start: int = 0, end: int | None = None, compact: bool = False) -> DateMention | None:
    return next(find_dates(text, start, end, compact), None)
