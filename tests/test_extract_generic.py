"""The extractor on hand-built encounters: list items that are no items, values cut to what they are,
types inferred from content (and marked so), header blocks read by structure whatever their labels,
and every span a slice of the text."""

from __future__ import annotations

import pytest

from pipeline.extract import ExtractedFields, Span, extract_fields
from pipeline.text import LineIndex


def fields_of(text: str) -> ExtractedFields:
    fields = extract_fields(text, LineIndex(text), 0, len(text))
    assert_grounded(text, fields)
    return fields


def spans_of(fields: ExtractedFields) -> list[Span]:
    spans = [fields.provider, fields.facility, fields.chief_complaint, *fields.diagnoses, *fields.medications]
    spans += [pair[1] for pair in (fields.encounter_date, fields.end_date, fields.encounter_type) if pair]
    return [s for s in spans if s is not None]


def assert_grounded(text: str, fields: ExtractedFields) -> None:
    for span in spans_of(fields):
        assert text[span.start : span.end] == span.text, span


def value(span: Span | None) -> str | None:
    return span.text if span else None


# -- list items ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "anaphor",
    ["Same", "Same as above", "Same as preoperative diagnosis", "As above", "See above", "See HPI", "Unchanged",
     "Deferred", "Pending", "Noncontributory", "Non-contributory", "None", "N/A", "As previously noted."],
)
def test_anaphoric_and_empty_values_are_not_items(anaphor: str) -> None:
    text = f"OPERATIVE REPORT\nPreoperative Diagnosis: Torn medial meniscus, right knee\nPostoperative Diagnosis: {anaphor}\n"
    fields = fields_of(text)
    assert [d.text for d in fields.diagnoses] == ["Torn medial meniscus, right knee"]


def test_a_list_intro_or_copy_forward_marker_is_no_item_but_its_items_are() -> None:
    text = (
        "PROGRESS NOTE\n"
        "Problem list (carried forward from 6/21/08):\n"
        "- Hyperlipidemia (E78.5)\n"
        "- Hypothyroidism (E03.9)\n"
        "Medication list carried forward from 04-JAN-2015:\n"
        "1. Atorvastatin 40 mg PO nightly\n"
        "--- Copied from prior encounter ---\n"
        "Medications: (copied forward from 2014-12-02)\n"
        "2. Levothyroxine 50 mcg PO daily\n"
        "Diagnoses: Active problems:\n"
        "Assessment: # Gout\n"
        "home medications.\n"
    )
    fields = fields_of(text)
    assert [d.text for d in fields.diagnoses] == ["Hyperlipidemia (E78.5)", "Hypothyroidism (E03.9)", "Gout"]
    assert [m.text for m in fields.medications] == ["Atorvastatin 40 mg PO nightly", "Levothyroxine 50 mcg PO daily"]


def test_items_lose_what_a_line_merge_ran_into_them() -> None:
    text = (
        "Diagnoses:\n"
        "1. Non-ST elevation myocardial infarctionPostoperative Diagnosis: Same\n"
        "2. Iron deficiency anemia (D50.9) Records from 2014-05-18 (cough) were reviewed today\n"
        "3. Hospitalized for pneumonia on 03/04/2012\n"
    )
    fields = fields_of(text)
    assert [d.text for d in fields.diagnoses] == [
        "Non-ST elevation myocardial infarction",
        "Iron deficiency anemia (D50.9)",
        "Hospitalized for pneumonia on 03/04/2012",
    ]
