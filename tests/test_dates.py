"""Dates in the styles records print them: the exact span and the day it names, and look-alikes left alone."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.dates import find_dates, first_date


@pytest.mark.parametrize(
    ("text", "printed", "when"),
    [
        ("seen 2019/03/04 am", "2019/03/04", date(2019, 3, 4)),
        ("seen 2019.03.04", "2019.03.04", date(2019, 3, 4)),
        ("DOS 04-Mar-19 clinic", "04-Mar-19", date(2019, 3, 4)),
        ("on March 4th, 2019", "March 4th, 2019", date(2019, 3, 4)),
        ("on 4th March 2019", "4th March 2019", date(2019, 3, 4)),
        ("Monday, March 4, 2019", "March 4, 2019", date(2019, 3, 4)),
        ("Tue, 05 Mar 2019", "05 Mar 2019", date(2019, 3, 5)),
        ("Mar-04-2019", "Mar-04-2019", date(2019, 3, 4)),
        ("*** 04.03.2019 ***", "04.03.2019", date(2019, 3, 4)),
        ("04MAR2019 0800", "04MAR2019", date(2019, 3, 4)),
        ("Admit 2019-Mar-04 08:00", "2019-Mar-04", date(2019, 3, 4)),
        ("DOS 2019 MAR 04", "2019 MAR 04", date(2019, 3, 4)),
    ],
)
def test_dates_in_common_styles_are_read_with_exact_spans(text: str, printed: str, when: date) -> None:
    found = list(find_dates(text))
    assert [(text[m.start : m.end], m.value) for m in found] == [(printed, when)]


@pytest.mark.parametrize("text", ["v2019.1.2.3", "v1.2.2019", "12-Mar-19:30", "ratio 2019/13/45", "Version 2019.03.04.1", "Mar 4, 19", "in 2019 May 4 were seen"])
def test_date_lookalikes_stay_unread(text: str) -> None:
    assert list(find_dates(text)) == []


@pytest.mark.parametrize(("text", "found"), [
    ("posting_date: 20140506", date(2014, 5, 6)), ("DOS=20140506\nCough.", date(2014, 5, 6)),
    ("order 20140506", None), ("Order: ORD20140506", None), ("Ref: 20140506 (fax)", None), ("MRN: 20141399", None),
])
def test_eight_digits_are_a_date_when_they_are_a_labels_whole_value(text: str, found: date | None) -> None:
    mention = first_date(text)
    assert (mention.value if mention else None) == found


def test_each_style_matches_what_its_plain_look_behind_form_matches() -> None:
    """The patterns open with the character their match starts with (for speed) and check what stands
    before it from there; they must match exactly what the plain forms (a leading look-behind) match,
    here on text built to sit dates against every neighbour the look-behinds refuse."""
    import random
    import re

    from pipeline.dates import _MONTH, _ORDINAL, DATE_PATTERNS

    plain = {
        "iso": r"(?<![\d/-])(?P<y>(?:19|20)\d\d)-(?P<m>\d\d?)-(?P<d>\d\d?)(?![\d/-])",
        "us": r"(?<![\d/.-])(?P<m>\d\d?)/(?P<d>\d\d?)/(?P<y>\d{4}|\d\d)(?![\d/])",
        "us_dash": r"(?<![\d/.-])(?P<m>\d\d?)-(?P<d>\d\d?)-(?P<y>\d{4})(?![\d-])",
        "ymd": r"(?<![\d/.-])(?P<y>(?:19|20)\d\d)(?P<sep>[/.])(?P<m>\d\d?)(?P=sep)(?P<d>\d\d?)(?![\d/.]\d)",
        "dmy_dot": r"(?<![\w/.-])(?P<d>\d\d?)\.(?P<m>\d\d?)\.(?P<y>(?:19|20)\d\d)(?![\d.]\d|\d)",
        "ymd_mon": r"(?<![\d/.-])(?P<y>(?:19|20)\d\d)(?P<sep>[- ])" + _MONTH + r"(?P=sep)(?P<d>\d\d|(?<=-)\d)(?![\d:])",
        "dmy_mon": r"(?<![\w-])(?P<d>\d\d?)" + _ORDINAL + r"(?:[- ]|(?=[A-Za-z]{3}))" + _MONTH + r"[- ,]*(?P<y>\d{4})(?!\d)",
        "dmy_mon_yy": r"(?<![\w-])(?P<d>\d\d?)-" + _MONTH + r"-(?P<y>\d\d)(?![\d:])",
        "mon_dy": r"(?<!\w)" + _MONTH + r"(?:\s+|-)(?P<d>\d\d?)" + _ORDINAL + r"(?:,?\s+|-)(?P<y>\d{4})(?!\d)",
        "compact_value": r"(?:(?<=[:=])|(?<=[:=]\s))(?P<y>(?:19|20)\d\d)(?P<m>[01]\d)(?P<d>[0-3]\d)(?=[ \t]*(?:\r?\n|$))",
        "compact": r"(?<![\d])(?P<y>(?:19|20)\d\d)(?P<m>[01]\d)(?P<d>[0-3]\d)(?!\d)",
    }
    rng = random.Random(7)
    dates = ["2019-03-04", "3/4/2019", "03/04/19", "03-04-2019", "2019/03/04", "2019.3.4", "04.03.2019", "4 March 2019",
             "04-MAR-2019", "4th Mar 2019", "04MAR2019", "04-Mar-19", "March 4, 2019", "Sep-04-2019", "20190304", "1999-12-31", "2019-Mar-4", "2019 MAR 04"]
    neighbours = ["", " ", "x", "1", "/", "-", ".", "_", "é", "(", "a1", "20", "/1", ":", "\n", "Dr.", "= "]
    text = "".join(rng.choice(neighbours) + rng.choice(dates) + rng.choice(neighbours) for _ in range(4000))
    for style, pattern in DATE_PATTERNS:
        flags = re.I if _MONTH in plain[style] else 0
        expected = [m.span() for m in re.finditer(plain[style], text, flags)]
        assert [m.span() for m in pattern.finditer(text)] == expected, style
        assert expected, style  # the text holds dates of every style
