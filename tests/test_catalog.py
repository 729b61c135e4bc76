"""The analyst catalog: views over published Parquet that no writer holds, described column by column,
readable by the DuckDB CLI that PyPI ships, and consistent however a publication is interrupted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline.catalog import VIEWS, build_catalog, data_dictionary
from pipeline.manifest import ManifestWorkspace
from pipeline.runner import PipelineConfig, RunSummary, finish_run, plan_run, run_record, start_run
from pipeline.store import CATALOG_NAME, Catalog, state_path
from tests.conftest import SAMPLES

CONFIG = PipelineConfig(detector="rules")


def run_plain(paths: list[Path], out: Path) -> RunSummary:
    """One run through the plain functions the flow calls, without an orchestrator."""
    plan = plan_run([str(p) for p in paths], out, CONFIG)
    detector = plan.config.make_detector()
    summary = RunSummary.for_plan(plan, out)
    with Catalog(out) as catalog:
        start_run(catalog, plan)
        workspace = ManifestWorkspace(plan.manifest)
        for record in workspace.records():
            summary.add(run_record(catalog, workspace, plan, detector, record))
        finish_run(catalog, plan, summary)
    return summary


def analyst(out: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(out / CATALOG_NAME), read_only=True)


@pytest.fixture()
def records(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    shutil.copytree(SAMPLES / "records", folder)
    return folder


def test_every_view_and_column_is_described(tmp_path: Path) -> None:
    with Catalog(tmp_path) as writer:
        writer.write_schema_files()
    build_catalog(tmp_path)
    with analyst(tmp_path) as con:
        views = {name: comment for name, comment in con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall()}
        columns = con.execute("SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal").fetchall()
        dictionary = data_dictionary(con)
    assert set(views) == {v.name for v in VIEWS} and all(views.values())
    assert len(columns) > 150
    assert [(t, c) for t, c, comment in columns if not comment] == []
    assert all(f"## `{v.name}`" in dictionary for v in VIEWS) and dictionary.count("\n| `") == len(columns)


def test_a_reader_held_open_sees_each_run_and_never_blocks_it(records: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_plain([records], out)
    script = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(out / CATALOG_NAME)!r}, read_only=True)\n"
        "print(con.execute('SELECT count(*) FROM runs').fetchone()[0], flush=True)\n"
        "sys.stdin.readline()\n"
        "print(con.execute('SELECT count(*) FROM runs').fetchone()[0], con.execute('SELECT count(*) FROM encounters_current').fetchone()[0], flush=True)\n"
    )
    reader = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "1"  # connected, and holding the connection open
        target = sorted(records.glob("*.txt"))[0]
        target.write_text(target.read_text(encoding="utf-8") + "\nAddendum line.\n", encoding="utf-8")
        summary = run_plain([records], out)  # a writer while the reader holds its connection
        assert (summary.stored, summary.skipped) == (1, len(list(records.glob("*.txt"))) - 1)
        reader.stdin.write("\n")
        reader.stdin.flush()
        runs, current = map(int, reader.stdout.readline().split())
    finally:
        reader.kill()
        reader.wait()
    assert runs == 2  # the same connection sees the new run
    with analyst(out) as con:
        assert current == con.execute("SELECT count(*) FROM encounters_current").fetchone()[0]
        versions = con.execute("SELECT count(*), count(*) FILTER (is_current) FROM record_versions WHERE record = ?", [target.name]).fetchone()
        every = con.execute("SELECT count(DISTINCT document_id) FROM encounters WHERE record = ?", [target.name]).fetchone()[0]
        now = con.execute("SELECT count(DISTINCT document_id) FROM encounters_current WHERE record = ?", [target.name]).fetchone()[0]
    assert versions == (2, 1) and (every, now) == (2, 1)


def test_identical_bytes_under_two_names_are_two_records_sharing_one_document(records: Path, tmp_path: Path) -> None:
    first = sorted(records.glob("*.txt"))[0]
    shutil.copy(first, records / "copy-of-first.txt")
    out = tmp_path / "out"
    summary = run_plain([records], out)
    assert summary.skipped == 1  # the second name found the document stored
    with analyst(out) as con:
        shared = con.execute(
            "SELECT count(DISTINCT uri), count(DISTINCT document_id) FROM encounters_current WHERE record IN (?, ?)",
            [first.name, "copy-of-first.txt"],
        ).fetchone()
        documents = con.execute("SELECT count(*) FROM documents WHERE document_id = (SELECT document_id FROM record_versions WHERE record = ?)", [first.name]).fetchone()[0]
    assert shared == (2, 1) and documents == 1


def test_a_publication_interrupted_before_it_was_recorded_republishes_the_same_files(records: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_plain([records], out)
    with analyst(out) as con:
        before = {v: con.execute(f"SELECT count(*) FROM {v}").fetchone()[0] for v in ("encounters", "evidence", "documents", "record_sightings")}
    files = sorted(p.relative_to(out) for p in (out / "parquet").rglob("*.parquet"))
    with Catalog(out) as writer:
        # What a crash after the files were renamed into place, and before the queue was cleared, leaves behind.
        batch = writer.con.execute("SELECT currval('publication_batch')").fetchone()[0]
        writer.con.execute(
            "INSERT INTO publication_queue SELECT run_id, 'document', document_id, ? FROM completions", [batch]
        )
        writer.con.execute("INSERT INTO publication_queue SELECT run_id, 'record', record, ? FROM record_sightings", [batch])
        writer.publish()
        assert writer.con.execute("SELECT count(*) FROM publication_queue").fetchone()[0] == 0
    with analyst(out) as con:
        after = {v: con.execute(f"SELECT count(*) FROM {v}").fetchone()[0] for v in before}
    assert after == before
    assert sorted(p.relative_to(out) for p in (out / "parquet").rglob("*.parquet")) == files
    assert not list(out.rglob("*.tmp"))


def test_a_single_file_catalog_of_an_earlier_version_becomes_the_state_and_keeps_its_records(records: Path, tmp_path: Path) -> None:
    earlier = tmp_path / "earlier"
    run_plain([records], earlier)
    with duckdb.connect(str(state_path(earlier))) as con:  # as an earlier chartsift wrote it: no sightings, no queue
        con.execute("DROP TABLE record_sightings; DROP TABLE publication_queue; DROP SEQUENCE publication_batch")
    (earlier / CATALOG_NAME).unlink()
    shutil.rmtree(earlier / "parquet")
    shutil.move(state_path(earlier), earlier / CATALOG_NAME)
    shutil.rmtree(earlier / "state")
    (records / "new.txt").write_text("Date of Service: 03/04/2021\nProvider: Ana Ruiz, MD\n\nCHIEF COMPLAINT: Cough.\n", encoding="utf-8")
    summary = run_plain([records], earlier)
    assert (summary.stored, summary.skipped) == (1, len(list(records.glob("*.txt"))) - 1)
    assert state_path(earlier).exists()
    with analyst(earlier) as con:
        records_current = con.execute("SELECT count(DISTINCT record) FROM encounters_current").fetchone()[0]
        duplicates = con.execute("SELECT count(*) - count(DISTINCT encounter_id) FROM encounters").fetchone()[0]
    assert records_current == len(list(records.glob("*.txt"))) and duplicates == 0


def test_the_duckdb_cli_from_pypi_opens_the_catalog(records: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_plain([records], out)
    cli = Path(sys.executable).parent / "duckdb"
    assert cli.exists(), "the duckdb-cli wheel belongs to the test extras: pip install -e '.[test]'"
    version = subprocess.run([str(cli), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("v1."), version.stdout  # the 1.x reader, not DuckDB 2
    done = subprocess.run(
        [str(cli), "-readonly", "-csv", str(out / CATALOG_NAME), "-c", "SELECT count(*) FROM encounters_current"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with analyst(out) as con:
        assert done.stdout.split()[-1] == str(con.execute("SELECT count(*) FROM encounters_current").fetchone()[0])


def test_diagnosis_names_group_a_mention_however_its_code_is_printed(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "a.txt").write_text(
        "Date of Service: 01/05/2020\nProvider: Ana Ruiz, MD\nFacility: Lakeside Clinic\n\nCHIEF COMPLAINT: Toe pain.\n\n"
        "ASSESSMENT AND PLAN:\n1. M10.9  Gout\n2. Gout (M10.9) - stable\n3. Gout: continue allopurinol\n\n"
        "MEDICATIONS:\n- Allopurinol 100 mg PO daily\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    run_plain([folder], out)
    with analyst(out) as con:
        rows = con.execute("SELECT diagnosis_text, icd10_code, diagnosis_name FROM encounter_diagnoses ORDER BY item_index").fetchall()
        meds = con.execute("SELECT medication_name, dose FROM encounter_medications").fetchall()
    assert {r[2] for r in rows} == {"gout"} and len(rows) == 3, rows
    assert [r[1] for r in rows] == ["M10.9", "M10.9", None]
    assert meds == [("allopurinol", "100 mg")]


def test_publication_waits_for_its_interval_and_carries_whatever_was_queued(records: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    plan = plan_run([str(records)], out, CONFIG)
    detector = plan.config.make_detector()
    workspace = ManifestWorkspace(plan.manifest)
    first, second, *_ = workspace.records()
    with Catalog(out, publish_every_s=3600) as catalog:
        start_run(catalog, plan)
        run_record(catalog, workspace, plan, detector, first)
        assert not catalog.publish_due(plan.run.run_id)  # one record, just now: not yet
    with analyst(out) as con:
        assert con.execute("SELECT count(*) FROM encounters").fetchone()[0] == 0
    with Catalog(out, publish_every_s=0) as catalog:  # the queue is in the state database: nothing is lost between
        run_record(catalog, workspace, plan, detector, second)
        assert catalog.publish_due(plan.run.run_id)
        with analyst(out) as con:  # visible while the run is still running
            assert con.execute("SELECT count(DISTINCT record) FROM encounters").fetchone()[0] == 2
            assert con.execute("SELECT status FROM runs").fetchone()[0] == "running"


def test_patient_values_are_the_text_at_their_spans_and_one_patient_is_one_key(records: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_plain([records], out)
    with analyst(out) as con:
        mismatches = con.execute(
            """SELECT count(*) FROM patients p JOIN documents d USING (document_id) WHERE
                 (p.name IS NOT NULL AND substr(d.text, p.name_start + 1, p.name_end - p.name_start) <> p.name)
              OR (p.mrn IS NOT NULL AND substr(d.text, p.mrn_start + 1, p.mrn_end - p.mrn_start) <> p.mrn)
              OR (p.birth_date IS NOT NULL AND substr(d.text, p.birth_date_start + 1, p.birth_date_end - p.birth_date_start) <> p.birth_date_text)"""
        ).fetchone()[0]
        keyed = con.execute("SELECT count(*), count(patient_key) FROM patients_current").fetchone()
        # the clean and the hard rendering of one sample patient print the identity differently
        renderings = con.execute("SELECT count(DISTINCT patient_key) FROM patients_current WHERE record LIKE 'synth_0004%'").fetchone()[0]
        with_a_stay = con.execute("SELECT count(DISTINCT patient_key) FROM encounters_current WHERE encounter_type = 'inpatient'").fetchone()[0]
    assert mismatches == 0
    assert keyed[0] == len(list(records.glob("*.txt"))) and keyed[1] >= keyed[0] - 1
    assert renderings == 1 and with_a_stay >= 1
