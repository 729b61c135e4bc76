"""The extractor on hand-built encounters: list items that are no items, values cut to what they are,
types inferred from content (and marked so), header blocks read by structure whatever their labels,
and every span a slice of the text."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipeline import header
from pipeline.cli import main
from pipeline.extract import ExtractedFields, Span, extract_fields
from pipeline.manifest import ManifestWorkspace
from pipeline.runner import PipelineConfig, RunSummary, finish_run, plan_run, run_record, start_run
from pipeline.store import Catalog
from pipeline.text import LineIndex
from schemas import EncounterType


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


# -- provider and facility values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Electronically signed by Colleen F. Haddad, MDon 07/30/2018 at 5:32 PM", "Colleen F. Haddad, MD"),
        ("Ordering provider: Denise R. Winslow, MD Previously evaluated on 1/9/14 for colonoscopy", "Denise R. Winslow, MD"),
        ("Ordering provider: Fatima Brennan, MD Last visit: 01 Dec 2006 (lab work).", "Fatima Brennan, MD"),
        ("SURGEON: Raymond N. Dubois, DO ANESTHESIA: Local", "Raymond N. Dubois, DO"),
        ("Surgeon: Dmitri A. Nwosu, MD, FACS", "Dmitri A. Nwosu, MD, FACS"),
        ("Ordering provider: Tamara R. Pemberton, DOURINALYSIS", "Tamara R. Pemberton, DO"),
        ("ED Physician Documentation (9/3/2014 1620) byAisha C. Farraday, DO", "Aisha C. Farraday, DO"),
    ],
)
def test_a_provider_is_the_name_with_its_credentials_and_nothing_after(line: str, expected: str) -> None:
    text = f"{line}\nChief Complaint: knee pain\n"
    assert value(fields_of(text).provider) == expected


def test_a_signer_glued_to_the_next_word_is_cut_after_the_credential() -> None:
    text = "OFFICE VISIT\nChief Complaint: cough\nPlan: rest.\n\nElectronically signed by Colleen F. Haddad, MDon 07/30/2018 at 5:32 PM\n"
    assert value(fields_of(text).provider) == "Colleen F. Haddad, MD"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a note title is no place
        ("Inpatient Stay - Nursing Admission Note - 2016-06-16 7:38 PM -Elena Achterberg, BSN, RN\nAdmitted to room 233.\n", None),
        # an abbreviation's dot does not end the name
        ("Visit: Inpatient Admission on Jun 5, 2016 with Lorraine F. Farraday, MD at St. Brendan General Hospital\n", "St. Brendan General Hospital"),
        ("DATE: 23-DEC-2008       CLINIC: ST. ANNE'S REGIONAL HOSPITAL\nPHYSICIAN: George E. Allen, MD\n", "ST. ANNE'S REGIONAL HOSPITAL"),
        # the next line's capitals run into the value
        ("Collected: 11/27/11 06:43\nPerforming lab: Riverside Pathology & Lab Services THYROID STIMULATING HORMONE\n", "Riverside Pathology & Lab Services"),
        # the next label glued on
        ("Admission Date: 02/10/2020\nHospital: Riverside General HospitalAttending: Anselm R. Umberger, MD\n", "Riverside General Hospital"),
        ("Admission Date: 02/10/2020\nHospital: Riverside General Hospital Admitting Diagnosis: COPD exacerbation\n", "Riverside General Hospital"),
        # a sentence citing another visit is no header: no fragment of it is a place
        ("CLINIC VISIT\nHPI: benign prostatic Patient was last seen on 06/02/2011 for dermatology evaluation.\n", None),
        # a cover sheet's title over a telephone line is no place
        ("FACSIMILE TRANSMITTAL\nFAX (555) 012-7163   Tel (555) 012-7160\nRE: Office Visit DOS 12/19/2013\n", None),
    ],
)
def test_a_facility_looks_like_an_organisation(text: str, expected: str | None) -> None:
    assert value(fields_of(text).facility) == expected


def test_prose_visit_line_reads_the_whole_type_and_the_facility_after_an_abbreviation() -> None:
    text = "Visit: New Consult on May 18, 2019 with Helen Castellano, MD at St. Luke's Neurology Associates\nREASON FOR CONSULT: headaches\n"
    fields = fields_of(text)
    assert (fields.encounter_type[1].text, fields.encounter_type[0]) == ("New Consult", EncounterType.consult)
    assert fields.type_printed
    assert (value(fields.provider), value(fields.facility)) == ("Helen Castellano, MD", "St. Luke's Neurology Associates")


# -- types: printed in a later sub-header, or inferred ---------------------------------------------


def test_a_visit_type_printed_in_a_later_note_subheader_is_the_printed_type() -> None:
    text = (
        "ED TRIAGE NOTE\nArrived via EMS. Chief complaint: ankle injury.\n\n"
        "Emergency Department Visit - ED Provider Note - 27-AUG-2018 1309 - Rosa Takahashi, DO\nCHIEF COMPLAINT: sore throat\n"
    )
    fields = fields_of(text)
    assert fields.type_printed and fields.encounter_type[1].text == "Emergency Department Visit"
    assert fields.encounter_type[0] is EncounterType.emergency


def test_a_note_title_gives_way_to_a_visit_type_printed_later() -> None:
    text = (
        "HISTORY AND PHYSICAL\nDate: 2/7/15  Time: 9:21 PM\nCHIEF COMPLAINT: black stools\n\n"
        "Hospital Admission - Nursing Admission Note - 02/07/2015 22:55 - Elena Nakamura, LPN\nAdmitted to room 233.\n"
    )
    fields = fields_of(text)
    assert (fields.encounter_type[1].text, fields.type_printed) == ("Hospital Admission", True)


@pytest.mark.parametrize(
    ("text", "kind", "cue"),
    [
        ("Admission Date: 01/18/2014    Discharge Date: 01/21/2014\nChief Complaint: chest pain\n", EncounterType.inpatient, "Admission Date"),
        ("PROGRESS NOTE\nSubjective: chest pain\n\nDISCHARGE SUMMARY\nHospital Course: uneventful.\n", EncounterType.inpatient, "DISCHARGE SUMMARY"),
        ("ED TRIAGE NOTE\nArrived via EMS. Pain 6/10.\n\nRADIOLOGY REPORT\nXR ANKLE 3 VIEWS\n", EncounterType.emergency, "ED TRIAGE NOTE"),
        ("RADIOLOGY REPORT\nExam: XR CHEST 2 VIEWS\nImpression: No acute disease.\n", EncounterType.imaging, "RADIOLOGY REPORT"),
        ("SURGICAL PATHOLOGY REPORT\nSpecimen: skin, back, shave biopsy\n", EncounterType.lab, "SURGICAL PATHOLOGY REPORT"),
        ("Collected: 01/02/2015 8:11 AM   Received: 01/02/2015 9:40 AM\nLIPID PANEL\n", EncounterType.lab, "Collected"),
        ("Telephone Call Documentation\nREASON FOR CALL: refill\n", EncounterType.telephone, "Telephone Call Documentation"),
        ("Reason for Call:\nblood pressure log\nDetails: Patient called in home readings.\n", EncounterType.telephone, "Reason for Call"),
        ("PROGRESS NOTE\nHPI: This encounter was conducted via secure two-way video; the patient consented.\n", EncounterType.telehealth, "two-way video"),
        ("0PERATIVE REPORT\nDate: 18-MAY-2009  Time: 1102\nPreoperative Diagnosis: screening\n", EncounterType.procedure, "0PERATIVE REPORT"),
        ("PREOPERATIVE DIAGNOSIS:\nAtypical pigmented lesion of the back\nPOSTOPERATIVE DIAGNOSIS:\nSame\n", EncounterType.procedure, "PREOPERATIVE DIAGNOSIS"),
        ("CON5ULT NOTE\nReason for Consult: gallstones\n", EncounterType.consult, "CON5ULT NOTE"),
        ("Reason for Consult: change in bowel habits\nRequesting physician: Dr. Novak\n", EncounterType.consult, "Reason for Consult"),
        ("PROGRESS NOTE\nSubjective: No new complaints.\n", EncounterType.office_visit, "PROGRESS NOTE"),
        ("Chief Complaint: sore throat\nHistory of Present Illness: two days of pain.\n", EncounterType.office_visit, "Chief Complaint"),
    ],
)
def test_a_type_not_printed_is_inferred_from_content_with_the_cue_as_evidence(text: str, kind: EncounterType, cue: str) -> None:
    fields = fields_of(text)
    assert fields.encounter_type is not None and not fields.type_printed
    assert (fields.encounter_type[0], fields.encounter_type[1].text) == (kind, cue)


# -- header blocks read by structure ---------------------------------------------------------------

BODY = "\nChief Complaint: cough for two weeks.\nHistory of Present Illness: Dry cough, no fever.\n"
HEADERS = [
    # label-value lines, any labels and separators
    ("Visit Date :: 03/04/2019\nSeen By :: Jane M. Roe, MD\nSite :: Harbor Clinic\nKind :: Follow-up Visit\n",
     date(2019, 3, 4), None, "Jane M. Roe, MD", "Harbor Clinic", "Follow-up Visit"),
    ("when = 2019/03/04\nwho = Dr. Jane Roe\nwhere = Riverside Cardiology\nwhat = Telehealth Visit\n",
     date(2019, 3, 4), None, "Dr. Jane Roe", "Riverside Cardiology", "Telehealth Visit"),
    ("Appt | 03/04/2019\nClinician | Jane Roe, NP\nPractice | Oak Street Family Medicine\n",
     date(2019, 3, 4), None, "Jane Roe, NP", "Oak Street Family Medicine", None),
    ("Date of Service........ 03/04/2019\nRendering.............. Jane Roe, MD\nClinic................. Oncology\n",
     date(2019, 3, 4), None, "Jane Roe, MD", "Oncology", None),
    ("[Date] 03/04/2019\n[Clinician] Jane Roe, MD\n[Org] Harbor Clinic\n[Visit] Annual Wellness Visit\n",
     date(2019, 3, 4), None, "Jane Roe, MD", "Harbor Clinic", "Annual Wellness Visit"),
    ("Appointment - Telephone Encounter\nClinician - Jane Roe, MD\nWhen - March 4th, 2019\n",
     date(2019, 3, 4), None, "Jane Roe, MD", None, "Telephone Encounter"),
    # boxes
    ("+--------------------------------------+\n| Visit Date : 03/04/2019              |\n| Clinician  : Jane Roe, MD            |\n"
     "| Facility   : Harbor Clinic           |\n| Encounter  : Office Visit            |\n+--------------------------------------+\n",
     date(2019, 3, 4), None, "Jane Roe, MD", "Harbor Clinic", "Office Visit"),
    ("┌──────────────────────────────┐\n│ When: 04-Mar-19              │\n│ Who:  Dr. Jane Roe           │\n"
     "│ Where: Riverside Cardiology  │\n└──────────────────────────────┘\n",
     date(2019, 3, 4), None, "Dr. Jane Roe", "Riverside Cardiology", None),
    ("╔══════════════════════════╗\n║ Follow-up Visit          ║\n║ Monday, March 4, 2019    ║\n║ Jane Roe, MD             ║\n"
     "║ Harbor Clinic            ║\n╚══════════════════════════╝\n",
     date(2019, 3, 4), None, "Jane Roe, MD", "Harbor Clinic", "Follow-up Visit"),
    # one-line stamps
    ("2019-03-04T10:15  OFFICE VISIT  (J. Roe, NP)\n", date(2019, 3, 4), None, "J. Roe, NP", None, "OFFICE VISIT"),
    ("04 Mar 2019 10:15 — Clinic Visit — Harbor Clinic\n", date(2019, 3, 4), None, None, "Harbor Clinic", "Clinic Visit"),
    # a hospital-account banner: the admission and discharge of a stay
    ("ACCT 81234567 | ADM 03/04/2019 14:22 | DSC 03/08/2019 11:00 | ATT Roe, Jane MD | UNIT 4W\n",
     date(2019, 3, 4), date(2019, 3, 8), "Roe, Jane MD", "UNIT 4W", None),
    # an unlabelled title block
    ("Office Visit\nMarch 4, 2019\nJane Roe, MD\nHarbor Clinic\n", date(2019, 3, 4), None, "Jane Roe, MD", "Harbor Clinic", "Office Visit"),
    # markdown
    ("## Office Visit — 2019-03-04\n**Clinician:** Jane Roe, MD\n**Location:** Harbor Clinic\n",
     date(2019, 3, 4), None, "Jane Roe, MD", "Harbor Clinic", "Office Visit"),
    # key=value on one line
    ("date=2019-03-04 provider=Jane Roe, MD facility=Harbor Clinic type=Office Visit\n",
     date(2019, 3, 4), None, "Jane Roe, MD", "Harbor Clinic", "Office Visit"),
    # arrows, a column layout, capitals, implicit labels in capitals
    ("Date of Care -> 2019-03-04; Treated By -> JANE M. ROE, MD\nPoint of Care -> Harbor Clinic; Chart No. -> 50727979\n",
     date(2019, 3, 4), None, "JANE M. ROE, MD", "Harbor Clinic", None),
    ("PATIENT CONTACT\nAPPOINTMENT      03-04-2019\nPOINT OF CARE    Harbor Family Medicine\nSERVICE KIND     Follow-up Visit\n",
     date(2019, 3, 4), None, None, "Harbor Family Medicine", "Follow-up Visit"),
    ("ACCT 36564519\nCheck-in 2019-03-04 3:06 PM | DSC 2019-03-04 5:40 PM\nFC Self-pay | PT TYPE Telephone Encounter | POS Pinecrest Internal Medicine | ADM MD Omar Barrientos, DO\n",
     date(2019, 3, 4), date(2019, 3, 4), "Omar Barrientos, DO", "Pinecrest Internal Medicine", "Telephone Encounter"),
    ("*** 04.03.2019 *** FOLLOW-UP VISIT ***\nStaff - JANE ROE, MD\n", date(2019, 3, 4), None, "JANE ROE, MD", None, "FOLLOW-UP VISIT"),
    ("Mon 04 Mar 2019 10:15 — HARBOR CLINIC — LAB VISIT — [JANE ROE, MD]\n", date(2019, 3, 4), None, "JANE ROE, MD", "HARBOR CLINIC", "LAB VISIT"),
    # a sentence that states the visit
    ("This Lab Visit took place on Mar 4, 2019 at Summit County Internal Medicine with Curtis H. Fairbanks, DO.\n",
     date(2019, 3, 4), None, "Curtis H. Fairbanks, DO", "Summit County Internal Medicine", "Lab Visit"),
    ("Evaluated on March 4, 2019 by Dmitri Prescott, NP at Ashford Internal Medicine (Phone Encounter).\n",
     date(2019, 3, 4), None, "Dmitri Prescott, NP", "Ashford Internal Medicine", "Phone Encounter"),
    # a patient banner (birth date beside a record number) gives way to the header after it
    ("Felix Nwosu ~ 39808915 ~ 1945-02-16\n\n2019-03-04 17:41 · SUMMIT COUNTY MEDICAL GROUP · doc: HELEN T. GRUNWALD, MD · TELEPHONE ENCOUNTER\n",
     date(2019, 3, 4), None, "HELEN T. GRUNWALD, MD", "SUMMIT COUNTY MEDICAL GROUP", "TELEPHONE ENCOUNTER"),
    # a kind or a clinician beside a name or a date in one cell
    ("Consultation Visit by Dr. Jane Roe\nMarch 4, 2019\n", date(2019, 3, 4), None, "Dr. Jane Roe", None, "Consultation Visit"),
    ("Walk-in Visit at Harbor Clinic on 03/04/2019\n", date(2019, 3, 4), None, None, "Harbor Clinic", "Walk-in Visit"),
    ("04-Mar-2019 — Walk-in Visit at Harbor Clinic\n", date(2019, 3, 4), None, None, "Harbor Clinic", "Walk-in Visit"),
    # an abbreviation that is part of the kind ("ED Visit"), not a label before it
    ("RECORD  ED Visit\n  when      2019-03-04T10:15:00\n  author    Jane Roe, MD\n", date(2019, 3, 4), None, "Jane Roe, MD", None, "ED Visit"),
    # a surname first in capitals, as registration systems print it, next to a clinician's label
    ("NOTE DATE: MAR 04, 2019@10:15\n  AUTHOR: ROE,JANE M      COSIGNER:\n", date(2019, 3, 4), None, "ROE,JANE M", None, None),
    ("Ticket 0464321   From 03/04/2019\nRendering: ROE, JANE     Place: HARBOR GENERAL HOSPITAL\n",
     date(2019, 3, 4), None, "ROE, JANE", "HARBOR GENERAL HOSPITAL", None),
    # an address's state before its ZIP code is no credential
    ("Harbor Radiology Associates\n100 Main St, Easton, PA 18042\nMarch 4, 2019\n", date(2019, 3, 4), None, None, "Harbor Radiology Associates", None),
    # a block that dates only its writing is dated by the earliest of those dates
    ("REPORT #5176736\nDictating clinician: Jane Roe, MD\nTranscribed 05-Mar-19 12:33 / dictated 04-Mar-19 16:20\n",
     date(2019, 3, 4), None, "Jane Roe, MD", None, None),
    # other people's dates and names are skipped: birth, a referring clinician
    ("DOB: 01/02/1950   Seen: 03/04/2019\nPCP: John Smith, MD   Attending: Jane Roe, MD\n",
     date(2019, 3, 4), None, "Jane Roe, MD", None, None),
]


@pytest.mark.parametrize(("block", "when", "until", "provider", "facility", "kind"), HEADERS, ids=[h[0][:28] for h in HEADERS])
def test_header_blocks_in_any_format_are_read_by_structure(block, when, until, provider, facility, kind) -> None:
    text = block + BODY
    fields = fields_of(text)
    assert fields.encounter_date is not None and fields.encounter_date[0] == when
    assert (fields.end_date[0] if fields.end_date else None) == until
    assert value(fields.provider) == provider
    assert value(fields.facility) == facility
    if kind is None:
        assert not fields.type_printed
    else:
        assert fields.type_printed and fields.encounter_type[1].text == kind


def test_a_stamp_or_signature_in_any_words_dates_the_encounter_and_names_its_clinician() -> None:
    text = "CLINIC NOTE\nChief Complaint: cough\nPlan: rest.\n\nSealed 10/8/13 19:56 Yolanda C. Jablonski, MD\n"
    fields = fields_of(text)
    assert (fields.encounter_date[0], value(fields.provider)) == (date(2013, 10, 8), "Yolanda C. Jablonski, MD")
    text = "CLINIC NOTE\nChief Complaint: cough\nRequesting physician: Dr. Novak\n\nCountersigned Dennis G. Hollister, MD 2010-01-22\n"
    fields = fields_of(text)
    assert (fields.encounter_date[0], value(fields.provider)) == (date(2010, 1, 22), "Dennis G. Hollister, MD")


def test_labelled_extraction_keeps_precedence_over_structure() -> None:
    text = "Date of Service: 01/05/2020\nProvider: Ana Ruiz, MD\nLocation: Riverside Clinic\nVisit Type: Office Visit\nMercy Hospital\n" + BODY
    fields = fields_of(text)
    assert (value(fields.provider), value(fields.facility), fields.encounter_type[1].text) == ("Ana Ruiz, MD", "Riverside Clinic", "Office Visit")


def test_header_module_cells_keep_offsets_into_the_line() -> None:
    line = "| ADM 03/04/2019 | **Clinician:** Jane Roe, MD | UNIT 4W |"
    found = [(line[c.start : c.end], c.label) for c in header.cells(line)]
    assert found == [("ADM 03/04/2019", ""), ("Jane Roe, MD", "Clinician"), ("UNIT 4W", "")]


# -- every span on generated records; the type's source in the store and the audit -----------------


def test_every_evidence_span_of_freshly_generated_records_is_the_text_at_its_offsets(tmp_path: Path) -> None:
    from pipeline.detect import DetectionInput, create
    from pipeline.synth import generate_corpus

    golds = generate_corpus(tmp_path, records=8, seed=20261202, variant="mixed")
    detector = create("rules")
    checked = typed = encounters = 0
    for gold in golds:
        text = (tmp_path / "records" / gold["record"]).read_text(encoding="utf-8")
        lines = LineIndex(text)
        starts = [b.start_char for b in detector.detect(DetectionInput(gold["record"], text, lines))] + [len(text)]
        for start, end in zip(starts, starts[1:]):
            fields = extract_fields(text, lines, start, end)
            for span in spans_of(fields):
                assert text[span.start : span.end] == span.text
                assert start <= span.start < span.end <= end
                checked += 1
            encounters += 1
            typed += fields.encounter_type is not None
    assert checked > 100
    assert typed >= 0.8 * encounters, (typed, encounters)  # measured 63 of 72 at this seed: headerless notes may imply none


def test_the_type_source_is_stored_and_shown_by_audit(tmp_path: Path, capsys) -> None:
    records = tmp_path / "records"
    records.mkdir()
    (records / "a.txt").write_text(
        "Visit Type: Office Visit\nDate of Service: 01/05/2020\nProvider: Ana Ruiz, MD\nChief Complaint: cough\n\n\n"
        "DISCHARGE SUMMARY\nAdmission Date: 02/10/2020\nDischarge Date: 02/14/2020\nAttending: Ben Okafor, MD\nHospital course: stable.\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    plan = plan_run([str(records)], out, PipelineConfig(detector="rules", detector_params={"scorer": "none"}))
    detector = plan.config.make_detector()
    with Catalog(out) as catalog:
        start_run(catalog, plan)
        workspace = ManifestWorkspace(plan.manifest)
        outcomes = [run_record(catalog, workspace, plan, detector, record) for record in workspace.records()]
        summary = RunSummary.for_plan(plan, out)
        for outcome in outcomes:
            summary.add(outcome)
        finish_run(catalog, plan, summary)
    with duckdb.connect(str(out / "catalog.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT encounter_id, encounter_type, encounter_type_text, encounter_type_source FROM encounters ORDER BY encounter_index"
        ).fetchall()
    assert [r[1:] for r in rows] == [("office_visit", "Office Visit", "printed"), ("inpatient", None, "inferred")]
    assert main(["audit", rows[1][0], "--out", str(out)]) == 0
    trail = capsys.readouterr().out
    assert "type inpatient (inferred" in trail and "encounter_type#0 ok" in trail
    assert main(["audit", rows[0][0], "--out", str(out)]) == 0
    assert "type office_visit (printed: 'Office Visit')" in capsys.readouterr().out
    parquet = list((out / "parquet" / "encounters").glob("run_id=run-*/*.parquet"))
    assert parquet and duckdb.sql(f"SELECT encounter_type_source FROM '{parquet[0]}' ORDER BY encounter_index").fetchall() == [("printed",), ("inferred",)]


def test_a_catalog_written_before_the_type_source_existed_gets_the_column(tmp_path: Path) -> None:
    from pipeline.store import DDL

    old_ddl = DDL.replace(",\n    encounter_type_source VARCHAR,\n    review_reasons VARCHAR[]\n", "\n").split("-- a catalog written before")[0]
    assert "encounter_type_source" not in old_ddl and "review_reasons" not in old_ddl
    tmp_path.mkdir(exist_ok=True)
    with duckdb.connect(str(tmp_path / "catalog.duckdb")) as con:
        con.execute(old_ddl)
    with Catalog(tmp_path) as catalog:
        columns = [c[0] for c in catalog.con.execute("DESCRIBE encounters").fetchall()]
    assert columns[-2:] == ["encounter_type_source", "review_reasons"] and "encounter_type_text" in columns


def test_schema_refuses_a_source_without_a_type_or_printed_text_for_an_inferred_type() -> None:
    from pydantic import ValidationError

    from schemas import Encounter

    base = json.loads(json.dumps({
        "encounter_id": "e", "run_id": "r", "manifest_id": "m", "document_id": "d", "config_hash": "c", "record": "x.txt",
        "encounter_index": 0, "start_char": 0, "end_char": 10, "start_line": 1, "end_line": 1,
        "detector": {"name": "rules", "version": "1"},
    }))
    with pytest.raises(ValidationError, match="encounter_type_source without an encounter_type"):
        Encounter.model_validate({**base, "encounter_type_source": "printed"})
    evidence = [{"field": "encounter_type", "start": 0, "end": 3, "text": "abc"}]
    with pytest.raises(ValidationError, match="inferred encounter_type has no printed"):
        Encounter.model_validate({**base, "encounter_type": "lab", "encounter_type_text": "abc", "encounter_type_source": "inferred", "evidence": evidence})
    row = Encounter.model_validate({**base, "encounter_type": "lab", "encounter_type_source": "inferred", "evidence": evidence})
    assert row.encounter_type_source == "inferred"


def test_page_furniture_found_by_recurrence_dates_no_encounter(tmp_path: Path) -> None:
    """A patient banner nobody's vocabulary names ("Name ~ id ~ birth date"), printed with a page counter on
    every page, is furniture by its recurrence: the detector sets it aside and so does the extractor,
    so its date does not date the encounter it happens to open."""
    from pipeline.detect import DetectionInput, create

    body = []
    for k in range(8):
        body += ["CONSULT NOTE"] + [f"Reason for visit {k}: follow-up of chronic cough, stable on current inhaler regimen {j}." for j in range(14)]
        body += [f"Electronically signed by Ana Ruiz, MD on 0{k + 1}/09/2015", ""]
    # pages of 13 lines (visits are 17): one page break falls right under the second note's title, so the
    # banner and the counter sit in its header
    breaks = set(range(4, len(body), 13))
    assert 17 in breaks and body[17] == "CONSULT NOTE"
    out, page = [], 0
    for i, line in enumerate(body):
        out.append(line)
        if i in breaks:
            page += 1
            out += ["Stanley Ingersoll ~ 00179405 ~ 01.09.1984", f"<{page}>", ""]
    text = "\n".join(out)
    lines = LineIndex(text)
    detection = create("rules").run(DetectionInput("furniture", text, lines))
    banners = {i for i, line in enumerate(lines.lines) if line.startswith("Stanley")}
    assert banners <= detection.furniture
    second = text.index("CONSULT NOTE", 1)
    plain = extract_fields(text, lines, second, text.index("CONSULT NOTE", second + 1))
    read = extract_fields(text, lines.with_furniture(detection.furniture), second, text.index("CONSULT NOTE", second + 1))
    assert plain.encounter_date[0] == date(1984, 9, 1)  # what the vocabulary alone reads
    assert read.encounter_date[0] == date(2015, 2, 9)
    assert_grounded(text, read)
