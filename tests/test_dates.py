"""Dates in the styles records print them: the exact span and the day it names, and look-alikes left alone."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.dates import find_dates


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
    ],
)
def test_dates_in_common_styles_are_read_with_exact_spans(text: str, printed: str, when: date) -> None:
    found = list(find_dates(text))
    assert [(text[m.start : m.end], m.value) for m in found] == [(printed, when)]


@pytest.mark.parametrize("text", ["v2019.1.2.3", "v1.2.2019", "12-Mar-19:30", "ratio 2019/13/45", "Version 2019.03.04.1", "Mar 4, 19"])
def test_date_lookalikes_stay_unread(text: str) -> None:
    assert list(find_dates(text)) == []
