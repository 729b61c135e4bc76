"""Who a record is about, read from identity lines in any layout, grounded, and keyed across records."""

from __future__ import annotations

import pytest

from pipeline.patient import read_identity

BANNERS = [
    # (banner, name, birth date, mrn)
    ("Patient: DAVIS, BRIAN   MRN: POP-000123   DOB: 01/02/1950", "DAVIS, BRIAN", "1950-01-02", "POP-000123"),
    ("Barbara Anderson | MRN 1234567 | DOB 1950-02-03 | Health Information Management", "Barbara Anderson", "1950-02-03", "1234567"),
    ("NAME: SMITH, AMANDA          DOB: 03/04/1983          ACCT#: 12345678", "SMITH, AMANDA", "1983-03-04", None),
    ("Patient Name: Jane Q. Public\nDate of Birth: March 4, 1961    Medical Record #: A-99812", "Jane Q. Public", "1961-03-04", "A-99812"),
    ("PT ID=Z4471902 :: Ngozi Adeyemi-Clarke :: born 1979-11-30", None, "1979-11-30", "Z4471902"),
    ("[ Okonkwo, Chidi | D.O.B. 7/8/1944 | Chart # 55-1203 ]", "Okonkwo, Chidi", "1944-07-08", "55-1203"),
]


@pytest.mark.parametrize("banner, name, born, mrn", BANNERS)
def test_an_identity_line_in_any_layout_gives_name_birth_date_and_mrn_at_their_offsets(banner, name, born, mrn) -> None:
    text = "Fax cover page 1 of 3\n" + banner + "\n\nVisit Date: 05/06/2020\nThe patient is a 70-year-old man.\n"
    found = read_identity(text)
    assert (found.name.text if found.name else None) == name
    assert (found.birth_date[0].isoformat() if found.birth_date else None) == born
    assert (found.mrn.text if found.mrn else None) == mrn
    for span in (found.name, found.mrn, found.birth_date[1] if found.birth_date else None):
        if span is not None:
            assert text[span.start : span.end] == span.text
    assert found.patient_key == (f"mrn:{mrn}" if mrn else found.patient_key) and found.patient_key


def test_repeated_banners_outvote_their_ocr_misprints_and_ground_a_clean_copy() -> None:
    pages = ["Helen Lindqvist    MRN: 8595l986    DOB: 01/28/1936"] + ["Helen Lindqvist    MRN: 85951986    DOB: 01/28/1936"] * 3
    text = "\n\nProgress note. Stable.\n\n".join(pages) + "\n"
    found = read_identity(text)
    assert found.mrn.text == "85951986" and text[found.mrn.start : found.mrn.end] == "85951986"
    assert found.identities_seen == 1 and found.patient_key == "mrn:85951986"


def test_one_patient_printed_two_ways_without_an_mrn_has_one_key() -> None:
    one = read_identity("NAME: HADDAD, TOMAS D    DOB: 12/28/1974\nNote.\n")
    two = read_identity("Patient: Tomas D. Haddad    Date of Birth: 1974-12-28\nNote.\n")
    other = read_identity("Patient: Tomas D. Haddad    Date of Birth: 1974-12-29\nNote.\n")
    assert one.patient_key == two.patient_key and one.patient_key.startswith("nd:")
    assert other.patient_key != one.patient_key


def test_pages_of_another_patient_are_counted_and_the_majority_wins() -> None:
    text = "\n".join(["Patient: Ana Ruiz   MRN: 1002003"] * 3 + ["Patient: Ben Okafor   MRN: 7007007"]) + "\n"
    found = read_identity(text)
    assert found.mrn.text == "1002003" and found.name.text == "Ana Ruiz" and found.identities_seen == 2


@pytest.mark.parametrize("text", [
    "Patient agrees with plan. Patient Name was verified.\nDOB verified.\n",
    "MRN pending\nThe patient is a 40-year-old woman.\n",
    "Lab Results: Hemoglobin 12.1 (ref 12-16)\nDate of Service: 01/05/2020\n",
])
def test_prose_and_labels_without_values_identify_nobody(text: str) -> None:
    found = read_identity(text)
    assert (found.name, found.birth_date, found.mrn, found.patient_key) == (None, None, None, None)
