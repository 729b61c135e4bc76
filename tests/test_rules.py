"""The rules detector and extractor on small records whose answers are known by construction."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.detect import DetectionInput, available, create
from pipeline.errors import UsageError
from pipeline.extract import classify_type, extract_fields
from pipeline.text import LineIndex
from schemas import EncounterType

OFFICE = """Date of Service: 01/05/2020
Provider: Ana Ruiz, MD
Location: Riverside Clinic
Visit Type: Office Visit

CHIEF COMPLAINT:  Cough for two weeks.
HISTORY OF PRESENT ILLNESS:  Patient was last seen on 12/01/2019 for bronchitis.
MEDICATIONS:
1. Lisinopril 10 mg daily
2. Albuterol inhaler 2 puffs q4h PRN
ASSESSMENT:
1. Acute bronchitis.
2. Hypertension, controlled.
Electronically signed by Ana Ruiz, MD on 01/05/2020 at 4:12 PM



"""
PAGE_BREAK = """
Page 2 of 3   Printed 2021-01-01
DOE, JANE | MRN 123456 | DOB 01/01/1950

"""
STAY = """ADMISSION DATE: 02/10/2020    DISCHARGE DATE: 02/14/2020
ATTENDING: Ben Okafor, MD
FACILITY: Mercy General Hospital

History and Physical — 02/10/2020 09:00 — Ben Okafor
CHIEF COMPLAINT:  Shortness of breath.
PLAN:  Admit to telemetry.


Progress Note — 02/11/2020 08:00 — Ben Okafor
S: Hospital day 2. Breathing better.


Nurse Note — 02/12/2020 20:00 — Carla Diaz
Resting comfortably.


Discharge Summary — 02/14/2020 11:00 — Ben Okafor
DISCHARGE DIAGNOSES:
1. Community-acquired pneumonia.
Discharged home in stable condition.



"""
PHONE = """03/01/2020 | Telephone Encounter | Ana Ruiz, MD | Riverside Clinic
Patient called about refill. Refilled lisinopril.
"""


def detect(text: str):
    return create("rules").detect(DetectionInput("doc", text, LineIndex(text)))


def test_visit_stay_and_call_are_three_encounters_despite_page_furniture_and_notes() -> None:
    text = OFFICE + STAY[:400] + PAGE_BREAK + STAY[400:] + PHONE
    boundaries = detect(text)
    starts = [b.start_char for b in boundaries]
    assert starts == [0, len(OFFICE), text.index("03/01/2020 | Telephone")]
    assert boundaries[1].score >= 0.8 and any(c.startswith("header:") for c in boundaries[1].cues)  # a confident probability


def test_false_date_cue_and_copied_list_do_not_open_encounters() -> None:
    body = "\n\nPatient was last seen on 11/11/2019 for the same complaint.\n\n--- Copied from prior encounter ---\nMedication list:\n- aspirin 81 mg daily\n"
    text = OFFICE.rstrip() + body + "\n\n\n" + PHONE
    starts = [b.start_char for b in detect(text)]
    assert starts == [0, text.index("03/01/2020 | Telephone")]


def test_header_removed_visit_after_signature_and_gap_still_splits() -> None:
    text = OFFICE + "CHIEF COMPLAINT:  Knee pain.\nPLAN:  Ice.\n"
    assert [b.start_char for b in detect(text)] == [0, len(OFFICE)]


def test_fields_come_with_exact_evidence() -> None:
    text = OFFICE + STAY + PHONE
    lines = LineIndex(text)
    office = extract_fields(text, lines, 0, len(OFFICE))
    assert office.encounter_date[0] == date(2020, 1, 5)
    assert office.encounter_type[0] is EncounterType.office_visit
    assert (office.provider.text, office.facility.text) == ("Ana Ruiz, MD", "Riverside Clinic")
    assert office.chief_complaint.text == "Cough for two weeks"
    assert [d.text for d in office.diagnoses] == ["Acute bronchitis", "Hypertension, controlled"]
    assert [m.text for m in office.medications] == ["Lisinopril 10 mg daily", "Albuterol inhaler 2 puffs q4h PRN"]
    stay = extract_fields(text, lines, len(OFFICE), len(OFFICE) + len(STAY))
    assert (stay.encounter_date[0], stay.end_date[0]) == (date(2020, 2, 10), date(2020, 2, 14))
    assert stay.provider.text == "Ben Okafor, MD" and stay.facility.text == "Mercy General Hospital"
    phone = extract_fields(text, lines, len(OFFICE) + len(STAY), len(text))
    assert phone.encounter_type[0] is EncounterType.telephone
    assert (phone.provider.text, phone.facility.text) == ("Ana Ruiz, MD", "Riverside Clinic")
    for fields in (office, stay, phone):
        spans = [fields.provider, fields.facility, fields.encounter_type[1], fields.encounter_date[1]]
        spans += fields.diagnoses + fields.medications
        for span in spans:
            assert text[span.start : span.end] == span.text


def test_signature_date_is_only_the_last_resort_for_the_visit_date() -> None:
    # A signature may postdate the visit: a printed visit date always wins over it ...
    body = "CHIEF COMPLAINT:  Rash.\nPLAN:  Cream.\nSigned: Olga Lee MD 05/09/2011\n"
    text = "Date of Service: 05/02/2011\n" + body
    fields = extract_fields(text, LineIndex(text), 0, len(text))
    assert fields.encounter_date[0] == date(2011, 5, 2)
    assert fields.provider.text == "Olga Lee MD"
    # ... but when the header was lost, the signature or dictation date is the only evidence left.
    fields = extract_fields(body, LineIndex(body), 0, len(body))
    assert fields.encounter_date[0] == date(2011, 5, 9)
    assert body[fields.encounter_date[1].start : fields.encounter_date[1].end] == "05/09/2011"


@pytest.mark.parametrize(
    ("printed", "kind"),
    [
        ("Emergency Department Visit", EncounterType.emergency),
        ("Hospital Admission", EncounterType.inpatient),
        ("Telehealth Visit", EncounterType.telehealth),
        ("Surgical Procedure", EncounterType.procedure),
        ("Diagnostic Imaging", EncounterType.imaging),
        ("Laboratory", EncounterType.lab),
        ("Consultation", EncounterType.consult),
        ("Encounter for check-up", EncounterType.office_visit),
        ("Hospice", EncounterType.other),
    ],
)
def test_printed_types_map_to_the_closed_vocabulary(printed: str, kind: EncounterType) -> None:
    assert classify_type(printed) is kind


def test_registry_names_detectors_and_refuses_unknown_ones() -> None:
    assert "rules" in available()
    with pytest.raises(UsageError, match="unknown detector 'magic'; available: .*rules"):
        create("magic")
    assert create("rules", threshold=0.95).config()["threshold"] == 0.95
    with pytest.raises(UsageError, match="probabilities"):
        create("rules", threshold=5.0)
    with pytest.raises(UsageError, match="misread_threshold"):
        create("rules", misread_threshold=1.5)


LETTERHEAD_AND_SEPARATORS = """OFFICE NOTE
Date: 2012-04-05  Time: 16:23
CHIEF COMPLAINT: cough
PLAN:
Return to clinic in 6 months.
RIVERSIDE FAMILY MEDICINE
212 Elm St, Springdale   Tel (555) 019-1903
Telephone Encounter    Date of Visit: May 12, 2012
[5/12/12 10:44] PHONE NOTE - Shay Yilmaz, RN
REASON FOR CALL: refill
Signed: Ana Ruiz, MD 05/12/2012
* * *
Encounter: Follow-up Visit  Provider: Ana Ruiz, MD  Location: Riverside Family Medicine  Date: 2012-06-01
CHIEF COMPLAINT: back pain

========================================
ENCOUNTER 07/01/2012 (Office Visit)
========================================
CHIEF COMPLAINT: knee pain
"""


def test_headers_open_encounters_without_blank_lines_letterheads_and_banners_included() -> None:
    text = LETTERHEAD_AND_SEPARATORS
    lines = text.split("\n")
    starts = [b.line for b in detect(text)]
    # the letterhead above its header line; the header below a lone separator rule (the rule closes the
    # visit before it); the top rule of a boxed banner
    assert [lines[i] for i in starts[1:]] == [
        "RIVERSIDE FAMILY MEDICINE",
        lines[12],
        "=" * 40,
    ]
    index = LineIndex(text)
    call = extract_fields(text, index, index.starts[5], index.starts[12])
    assert call.encounter_date[0] == date(2012, 5, 12)
    assert (call.encounter_type[1].text, call.facility.text) == ("Telephone Encounter", "RIVERSIDE FAMILY MEDICINE")
    assert call.provider.text == "Ana Ruiz, MD"  # the signing provider, not the nurse who took the call


def test_notes_of_one_visit_stay_together_and_dated_notes_open_new_visits() -> None:
    text = """[2016-10-01 20:43] ED Triage Note (Virgil Cuevas)
Chief complaint: flank pain

[2016-10-01 21:10] Emergency medicine Note (Virgil Cuevas)
Chief complaint:
Severe flank pain

[2016-10-01 23:02] Radiology Report (Ana Ruiz)
Impression: stone.

[2016-10-20 10:00] Outpatient Progress note (Willie Lucas)
Subjective: follow-up.
"""
    boundaries = detect(text)
    assert [b.line for b in boundaries] == [0, 10]
    assert "new_date" in boundaries[1].cues


def test_a_note_that_opens_with_its_own_date_line_is_a_visit_even_on_the_same_day() -> None:
    note = "{}\n\n# Chief Complaint\n- Fatigue\n\n# Assessment and Plan\nPatient is presenting with anemia.\n\n"
    text = note.format("2013-10-21") + note.format("2013-10-21") + note.format("2014-02-03")
    assert [b.line for b in detect(text)] == [0, 8, 16]


def test_a_discharge_summary_pulls_the_notes_of_its_stay_together() -> None:
    text = """Chief Complaint: chest pain
History of Present Illness: presents to the emergency department.
Assessment and Plan: admit to telemetry.

OPERATIVE REPORT (2/22/16 0832) by Naomi Thibodeaux, MD
Procedure: cardiac catheterization.
Signed: Naomi Thibodeaux, MD 02/22/2016

DISCHARGE SUMMARY (2/23/16 0909) by Stanley Zeller, MD
Admission Date: 02/21/2016
Discharge Date: 02/23/2016
Discharge Diagnoses: NSTEMI
"""
    assert [b.line for b in detect(text)] == [0]


def test_a_stay_holds_only_notes_dated_from_its_admission_in_a_record_printed_newest_first() -> None:
    """The progress note inside the stay stays with it; the visit dated months before the admission,
    printed below the stay, is an earlier encounter (though its date is before the discharge date)."""
    text = """HOSPITAL ADMISSION
Admission Date: 03/10/2016
Discharge Date: 03/14/2016
Attending: Ann Bee, MD
History: chest pain.

Progress Note (03/12/2016 0800) by Ann Bee, MD
Stable overnight.
Signed: Ann Bee, MD

Seen: 11/02/2015
Clinician: Ann Bee, MD
Knee pain for a week.
"""
    decisions = {d.cues.line: d for d in create("rules", scorer="none").trace(DetectionInput("doc", text, LineIndex(text)))}
    assert not decisions[6].start
    assert decisions[10].start and "inside_stay" not in decisions[10].names


def test_a_stay_whose_admission_is_not_printed_is_bounded_below_by_its_first_date() -> None:
    """Newest first, with no admission date printed: the stay opens on its first dated note and its
    discharge summary prints only the discharge; a visit dated weeks before that, printed below it, is
    an earlier encounter (before the fix it stayed inside the stay: earlier than the discharge)."""
    text = """Hospital day 2 progress note
Date: 03/11/2016
Stable overnight, pain controlled.

DISCHARGE SUMMARY
Date: 03/14/2016
Discharge Date: 03/14/2016
Hospital course: chest pain, ruled out.
Electronically signed by Ann Bee, MD on 03/14/2016 at 10:00


Seen: 01/22/2016
Clinician: Ann Bee, MD
Knee pain for a week.
"""
    decisions = {d.cues.line: d for d in create("rules", scorer="none").trace(DetectionInput("doc", text, LineIndex(text)))}
    assert decisions[11].start and "inside_stay" not in decisions[11].names


def test_a_date_its_words_give_to_another_day_makes_no_header_by_form() -> None:
    """A short dated label-value line is a header by its form, unless the words before its date name
    another day: a prior study, a birth, the last or next visit."""
    from pipeline import cues
    from pipeline.detect.rules import _block_dates

    for line, dated in [
        ("Comparison: Prior study 07/22/2011.", False), ("DOB: 05/26/1937", False), ("Next visit: 04/02/2019", False),
        ("Date of last visit: 03/30/2013", False), ("Service date: 07/22/2011", True), ("Last Name: ROE   Seen: 03/04/2019", True),
    ]:
        assert bool(_block_dates([line], [0], False)) == dated, line
    assert cues.OTHER_DAY.search("Prior study ") and not cues.OTHER_DAY.search("DATE OF NOTE: ")


def test_a_discharge_summary_below_later_visits_does_not_pull_them_into_its_stay() -> None:
    """Newest first: the visits of March and June sit above a February stay's discharge summary. Its
    look back rejoins only notes dated inside the stay (from admission to discharge)."""
    text = (
        "Clinic Note\nDate: 06/08/2015\nProvider: Ann Bee, MD\nCough for a week.\n\n"
        "Clinic Note\nDate: 03/08/2015\nProvider: Ann Bee, MD\nKnee pain since a fall.\n\n"
        "Progress Note\nDate: 02/03/2015\nProvider: Ann Bee, MD\nImproving on antibiotics.\n\n"
        "DISCHARGE SUMMARY\nDate: 02/05/2015\nAdmission Date: 02/01/2015\nDischarge Date: 02/05/2015\nHospital course: pneumonia.\n"
    )
    decisions = {d.cues.line: d for d in create("rules", scorer="none").trace(DetectionInput("doc", text, LineIndex(text)))}
    assert decisions[5].start and "stay_reread" not in decisions[5].names
    assert "stay_reread" in decisions[10].names


def test_list_items_take_hash_bullets_icd_coded_lines_and_ocr_damaged_doses() -> None:
    text = (
        "PROBLEM LIST:\nD50.9  Iron deficiency anemia\nF33.0  Major depressive disorder, recurrent\n"
        "DIAGNOSES:\n# Right lower quadrant abdominal pain - acute\n"
        "MEDICATIONS:\n- ferrous sulfate 325 mgPO daily\n- buspirone 1O mg PO BID\n"
    )
    fields = extract_fields(text, LineIndex(text), 0, len(text))
    assert [d.text for d in fields.diagnoses] == [
        "D50.9  Iron deficiency anemia",
        "F33.0  Major depressive disorder, recurrent",
        "Right lower quadrant abdominal pain - acute",
    ]
    assert [m.text for m in fields.medications] == ["ferrous sulfate 325 mgPO daily", "buspirone 1O mg PO BID"]
    for span in fields.diagnoses + fields.medications:
        assert text[span.start : span.end] == span.text


def test_scorer_decisions_keep_the_cues_where_they_read_the_record(tmp_path) -> None:
    """With the shipped scorer on generated records of every family: a start the cues made falls only in
    a record where the scorer rejects at least ``veto_share`` of the cues' starts; in the other records
    the cues' starts all stand (but those resting on a header's form alone, which fall below
    ``keep_threshold`` anywhere) and a candidate they kept for a stated reason (stay, same day, addendum)
    is never opened; in a misread record a start of the cues that was not vetoed gave way to a likelier
    start only the scorer made right above it; every start only the scorer made leaves a body of
    MIN_BODY_LINES content lines above the next start and has at least ``threshold``, or
    ``misread_threshold`` in a misread record."""
    from bisect import bisect_left, bisect_right

    from pipeline.detect.features import KEEP_REASONS, candidate_table
    from pipeline.detect.rules import MIN_BODY_LINES, MIN_SCORED_CANDIDATES, _form_only, record_layout
    from pipeline.synth import generate_corpus, select_families

    detector = create("rules")
    # the legacy formats (group 6), which the cues were written from, and the grammar's families
    # (two seeds: which records reach the rarer branches moves with each retrained scorer)
    files = [
        tmp_path / f"{name}-{seed}" / "records" / entry["record"]
        for seed in (517, 518)
        for name, groups in (("legacy", [6]), ("grammar", [0, 4]))
        for entry in generate_corpus(tmp_path / f"{name}-{seed}", records=10, seed=seed, variant="mixed", families=select_families(groups=groups))
    ]
    seen = {"read": 0, "misread": 0, "vetoed": 0, "added": 0, "added_below_threshold": 0, "gave_way": 0}
    for path in files:
        text = path.read_text(encoding="utf-8")
        doc = DetectionInput(path.name, text, LineIndex(text))
        lay = record_layout(doc)
        decisions = detector.trace(doc, lay)
        if len(decisions) <= MIN_SCORED_CANDIDATES:
            continue
        p = detector.scorer.probabilities(candidate_table(lay, decisions))
        starts = [(d, q) for d, q in zip(decisions[1:], p[1:]) if d.start]
        misread = sum(q < detector.keep_threshold for _, q in starts) >= detector.veto_share * len(starts)
        lines = [b.line for b in detector.run(doc).boundaries]
        chosen = set(lines)
        cue_lines = {d.cues.line for d, _ in starts}
        seen["misread" if misread else "read"] += 1
        if not misread:
            # ... but a start resting on its form alone falls wherever the scorer vetoes it
            vetoed = {d.cues.line for d, q in starts if _form_only(d.cues) and q < detector.keep_threshold}
            assert cue_lines - vetoed <= chosen, path
            assert not vetoed & chosen, path
            kept = {d.cues.line for d in decisions[1:] if not d.start and set(d.names) & set(KEEP_REASONS)}
            assert not kept & chosen, path
        else:
            # a start the cues made is gone only when vetoed, or when a likelier start only the scorer made
            # sits right above it with no body between
            prob = {d.cues.line: q for d, q in zip(decisions, p)}
            block_end = {d.cues.line: d.cues.block[-1] if d.cues.block else d.cues.line for d in decisions}
            for line in cue_lines - chosen:
                above = max(b for b in lines if b < line)
                assert prob[line] < detector.keep_threshold or (
                    above not in cue_lines and prob[above] > prob[line]
                    and bisect_left(lay.content, line) - bisect_right(lay.content, block_end[above]) < MIN_BODY_LINES
                ), (path, line)
                seen["gave_way"] += int(prob[line] >= detector.keep_threshold)
        seen["vetoed"] += len(cue_lines - chosen)
        prob = {d.cues.line: q for d, q in zip(decisions, p)}
        for line, after in zip(lines[1:], lines[2:] + [len(doc.lines)]):
            if line not in cue_lines:
                seen["added"] += 1
                assert bisect_left(lay.content, after) - bisect_left(lay.content, line) > MIN_BODY_LINES, (path, line)
                # the scorer alone opens at even-ish odds where the cues misread the record, at high odds elsewhere
                assert prob[line] >= (detector.misread_threshold if misread else detector.threshold), (path, line)
                seen["added_below_threshold"] += int(prob[line] < detector.threshold)
    # the records exercise every branch but the rare one of a cue start giving way (these records had one
    # with an earlier scorer; the property above is checked whenever it happens)
    assert seen["read"] and seen["misread"] and seen["vetoed"] and seen["added"] and seen["added_below_threshold"], seen


def test_the_title_pre_check_never_hides_a_title_the_matcher_would_find(tmp_path) -> None:
    """Lines the cheap pre-check turns away are never tokenised; the matcher finds nothing in any of them
    (generated records of every family group, OCR damage included)."""
    from pipeline import cues
    from pipeline.synth import generate_corpus

    generate_corpus(tmp_path, records=12, seed=2718, variant="mixed")
    lines = list(dict.fromkeys(
        line for path in sorted((tmp_path / "records").glob("*.txt")) for line in path.read_text().split("\n") if line.strip()
    ))
    turned_away = [line for line in lines if not cues._may_hold_title(line)]
    assert len(turned_away) > len(lines) / 2  # the pre-check earns its keep
    assert [line for line, found in zip(turned_away, cues._title_cues(turned_away), strict=True) if found] == []
    passed = [line for line in lines if cues._may_hold_title(line)]
    assert any(cues._title_cues(passed))  # and the records do hold titles


def test_a_block_is_dated_by_a_short_line_whatever_words_stand_around_its_date() -> None:
    """A note's sub-header in words no list names ("_Recorded ..._", "Entered ... by") still dates its
    block, so a later day's note after a signed one opens a visit; a sentence citing a date does not."""
    from pipeline.detect.rules import _stamped_date

    lines = ["### Provider Note", "_Recorded 07/14/2014, 12:11p_", "Documented by Mei Lachance, MD"]
    assert _stamped_date(lines, [0, 1, 2]) == date(2014, 7, 14)
    assert _stamped_date(["Entered 2014-07-14 by Mei Lachance, MD"], [0]) == date(2014, 7, 14)
    assert _stamped_date(["The patient was seen in our clinic on 07/14/2014 and again on 08/01/2014 for knee pain."], [0]) is None
    assert _stamped_date(["DOB: 05/26/1937", "Chief complaint: cough"], [0, 1]) is None
    note = "### Clinic Note\n_Recorded {}, 9:05a_\nDocumented by Mei Lachance, MD\nChief complaint: cough.\nPlan: rest.\nDictated and reviewed by Mei Lachance, MD on {}.\n\n\n"
    text = note.format("05/18/2014", "05/18/2014") + note.format("05/18/2014", "05/18/2014") + note.format("07/14/2014", "07/14/2014")
    assert [b.line for b in create("rules", scorer="none").detect(DetectionInput("doc", text, LineIndex(text)))] == [0, 16]


def test_markdown_bold_is_a_section_heading_and_stars_set_off_by_spaces_a_banner() -> None:
    from pipeline import cues

    assert cues.encounter_header("** OFFICE VISIT **") == "star_banner"
    assert cues.encounter_header("**ENCOUNTER FOR CHECK-UP **") == "star_banner"  # OCR dropped one space
    for heading in ("**Chief Complaint**", "**MDM**", "**DISCHARGE SUMMARY**", "** END OF NOTE **"):
        assert cues.encounter_header(heading) is None, heading


def test_an_admission_header_inside_an_encounter_its_notes_have_passed_restates_the_stay() -> None:
    """A discharge summary's own admission block, under its title and date, prints an admission day the
    encounter's notes have already passed: it restates the stay (whose opening header the cues could not
    read) instead of opening one. An admission after the encounter's last day still opens a stay."""
    text = """Dec 26, 2009 - St. Brendan Memorial Hospital - Inpatient stay under Renata Crowder, DO.

_Recorded 26-Dec-2009, 10h35_
Admission H&P. Hip pain after a fall.

_Recorded 29-Dec-2009, 10h35_
*DISCHARGE SUMMARY*
Documented by Renata Crowder, DO
ADMISSION DATE: 12/26/09
DISCHARGE DATE: 12/29/09
Hospital course: repaired, stable.
Dictated and reviewed by Renata Crowder, DO on 12/29/2009.


ADMISSION DATE: 02/03/10
DISCHARGE DATE: 02/05/10
Pneumonia.
"""
    decisions = {d.cues.line: d for d in create("rules", scorer="none").trace(DetectionInput("doc", text, LineIndex(text)))}
    assert not decisions[8].start and "inside_stay" in decisions[8].names
    assert decisions[14].start


def test_a_block_printing_a_later_day_is_no_section_of_the_note_above() -> None:
    """A short addendum opens a note; a banner two lines under it that prints a later day is not that
    note's section (before the fix it was kept under the note's top and the stay vanished into the visit)."""
    text = """~~~[ TELEHEALTH VISIT ]~~~[ 2014-02-04 ]~~~
CARE LEAD:: ROSA A. HADDAD, MD
Chief complaint: follow-up.
Plan: renal panel every 6 months.
Locked by Rosa A. Haddad, MD 4 February 2014


::6 February 2014 15:44:00::  ADDENDUM  Note by Rosa A. Haddad, MD
ADDENDUM: Imaging report reviewed.

~~~[ INPATIENT STAY ]~~~[ 2014-02-17 ]~~~
CARE LEAD:: VICTOR INGERSOLL, DO
STOP:: 2014-02-18
Hospital course: uneventful.
"""
    from pipeline.detect.features import KEEP_REASONS

    decisions = {d.cues.line: d for d in create("rules", scorer="none").trace(DetectionInput("doc", text, LineIndex(text)))}
    assert decisions[10].cues.date == date(2014, 2, 17) and "new_date" in decisions[10].names
    assert not set(decisions[10].names) & set(KEEP_REASONS)  # no reason to keep it: the scorer may open it


def test_a_block_beginning_inside_a_chosen_header_goes_on_with_it() -> None:
    """A titled box over a box of label-value lines, then the first note's title: with every candidate let
    through (thresholds 0), the title right under the lower box is still no start, since the lower box
    began inside the header block of the start above and its lines are that header's."""
    box = (
        "+-----------------------------------+\n| VISIT SUMMARY                     |\n+-----------------------------------+\n"
        "| Seen On.......... {d}      |\n| Care Site........ Oak Clinic      |\n| Clinician........ Ana Ruiz, MD    |\n"
        "| Svc Type......... ED Visit        |\n| Insurer.......... Commercial PPO  |\n| Rm............... 5S-11           |\n"
        "+-----------------------------------+\nED TRIAGE NOTE\nArrived via walk-in. Chief complaint: cough.\n"
        "Lungs clear. Rest and fluids.\nSeen and examined. Home with return precautions.\nE-signed: Ana Ruiz, MD {d} 10:00\n\n"
    )
    text = "".join(box.format(d=d) for d in ("2014-05-14", "2014-06-20", "2014-08-02", "2014-09-30"))
    detector = create("rules", threshold=0.0, misread_threshold=0.0, keep_threshold=0.0)
    lines = text.splitlines()
    box_tops = [i - 1 for i, line in enumerate(lines) if "VISIT SUMMARY" in line]
    starts = [b.line for b in detector.detect(DetectionInput("boxes", text, LineIndex(text)))]
    assert starts == box_tops  # before the fix: each box top and the note title under it
