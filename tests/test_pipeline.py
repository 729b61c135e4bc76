"""End to end through the real Prefect flow, a real DuckDB file and real Parquet."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from tests.conftest import REPO, SAMPLES

pytestmark = pytest.mark.flow

TABLES = ("manifests", "manifest_inputs", "runs", "documents", "chunks", "encounters", "evidence", "quarantine", "record_sightings")


def connect(out: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(out / "catalog.duckdb"), read_only=True)


def counts(out: Path) -> dict[str, int]:
    with connect(out) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def cached_task_runs() -> int:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterState, TaskRunFilterStateName

    cached = TaskRunFilter(state=TaskRunFilterState(name=TaskRunFilterStateName(any_=["Cached"])))

    async def count() -> int:
        async with get_client() as client:
            return len(await client.read_task_runs(task_run_filter=cached))

    return asyncio.run(count())


def sample_records() -> list[Path]:
    return sorted((SAMPLES / "records").glob("*.txt"))


def test_samples_fill_every_table_and_parquet_partition(sample_run: Path) -> None:
    n = counts(sample_run)
    records = len(sample_records())
    assert records >= 8
    assert n["documents"] == n["record_sightings"] == n["manifest_inputs"] == records
    assert n["encounters"] > records and n["evidence"] > n["encounters"]
    assert n["runs"] == n["manifests"] == 1 and n["quarantine"] == 0
    with connect(sample_run) as con:
        run_id, status, stored = con.execute("SELECT run_id, status, records_stored FROM runs").fetchone()
        assert (status, stored) == ("completed", records)
        assert con.execute("SELECT count(*) FROM encounters WHERE run_id <> ?", [run_id]).fetchone()[0] == 0
    for table in ("encounters", "documents", "evidence", "manifest_inputs", "runs", "record_sightings"):
        parts = sorted((sample_run / "parquet" / table / f"run_id={run_id}").glob("*.parquet"))
        assert parts and sum(pq.read_table(p).num_rows for p in parts) == n[table], table
    assert not list((sample_run / "parquet").rglob("*.tmp"))


@pytest.mark.parametrize("run_fixture", ["sample_run", "hard_run"])
def test_every_evidence_span_is_the_stored_text_at_its_offsets(run_fixture: str, request) -> None:
    out: Path = request.getfixturevalue(run_fixture)
    with connect(out) as con:
        texts = dict(con.execute("SELECT document_id, text FROM documents").fetchall())
        rows = con.execute("SELECT document_id, field, start_char, end_char, text FROM evidence").fetchall()
        sql_mismatches = con.execute(
            "SELECT count(*) FROM evidence v JOIN documents d USING (document_id) "
            "WHERE substr(d.text, v.start_char + 1, v.end_char - v.start_char) <> v.text"
        ).fetchone()[0]
    assert len(rows) > 50
    assert {r[1] for r in rows} >= {"encounter_date", "provider", "facility", "encounter_type", "diagnoses", "medications"}
    for document_id, field, start, end, text in rows:
        assert texts[document_id][start:end] == text, (field, start, end)
    assert sql_mismatches == 0


def test_encounters_tile_each_document_in_order(hard_run: Path) -> None:
    with connect(hard_run) as con:
        docs = con.execute("SELECT document_id, char_count, line_count FROM documents").fetchall()
        for document_id, chars, lines in docs:
            spans = con.execute(
                "SELECT start_char, end_char, start_line, end_line FROM encounters WHERE document_id = ? ORDER BY encounter_index",
                [document_id],
            ).fetchall()
            assert spans[0][0] == 0 and spans[-1][1] == chars
            assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
            assert spans[0][2] == 1 and spans[-1][3] <= lines


def test_rerun_adds_no_rows_and_reports_skips(prefect_server, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["run", str(SAMPLES), "--out", str(out), "--quiet"]) == 0
    first = counts(out)
    capsys.readouterr()
    cached_before = cached_task_runs()
    assert main(["run", str(SAMPLES), "--out", str(out), "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["skipped"] == len(sample_records()) and summary["stored"] == 0
    # Prefect's result cache answered (task-run states reach the server asynchronously: wait for them)
    deadline = time.monotonic() + 60
    while cached_task_runs() - cached_before < len(sample_records()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert cached_task_runs() - cached_before == len(sample_records())
    again = counts(out)
    # Each invocation is its own run and sees each record again; nothing else is written twice.
    assert (again["runs"], again["record_sightings"]) == (2, 2 * first["record_sightings"])
    assert {t: n for t, n in again.items() if t not in ("runs", "record_sightings")} == {
        t: n for t, n in first.items() if t not in ("runs", "record_sightings")
    }
    with connect(out) as con:
        assert con.execute("SELECT count(*) = count(DISTINCT encounter_id) FROM encounters").fetchone()[0]
    # A different configuration is a new run whose rows sit beside the old ones.
    assert main(["run", str(SAMPLES), "--out", str(out), "--quiet", "--threshold", "0.3"]) == 0
    later = counts(out)
    assert later["runs"] == 3 and later["encounters"] > first["encounters"]
    assert later["documents"] == first["documents"]
    with connect(out) as con:  # what is current is what the latest run said
        current = con.execute("SELECT count(*), count(DISTINCT config_hash) FROM encounters_current").fetchone()
        latest = con.execute("SELECT encounters FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
    assert current == (latest, 1)


def test_bad_inputs_are_quarantined_and_the_batch_goes_on(prefect_server, tmp_path: Path, capsys) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = sample_records()[0]
    shutil.copy(good, inbox / "good.txt")
    (inbox / "empty.txt").write_bytes(b"")
    (inbox / "empty-too.txt").write_bytes(b"")  # the same bytes: one cache key in Prefect, two inputs here
    (inbox / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2048))
    (inbox / "nul.txt").write_bytes(b"Visit note\x00with NUL\n")
    (inbox / "latin.txt").write_bytes(b"Visit \x81\x8d\x90 note\n")
    (inbox / "oneline.txt").write_bytes(b"A" * 5_000_000)
    (tmp_path / "no-records").mkdir()
    out = tmp_path / "out"
    code = main(["run", str(inbox), str(tmp_path / "no-records"), "--out", str(out), "--quiet"])
    assert code == 3
    captured = capsys.readouterr()
    err = captured.err
    assert f"nothing to do in {tmp_path / 'no-records'}" in captured.out  # an empty folder is not a bad input
    expected = {
        "empty.txt": ("ingest", "empty file"),
        "empty-too.txt": ("ingest", "empty file"),
        "binary.txt": ("ingest", "binary file"),
        "nul.txt": ("ingest", "NUL bytes"),
        "latin.txt": ("ingest", "not valid UTF-8"),
        "oneline.txt": ("ingest", "characters long"),
    }
    with connect(out) as con:
        rows = {r[0]: r[1:] for r in con.execute("SELECT record, stage, message FROM quarantine").fetchall()}
        stored = [r[0] for r in con.execute("SELECT record FROM documents").fetchall()]
        status = con.execute("SELECT status, records_quarantined FROM runs").fetchone()
    assert stored == ["good.txt"]
    assert set(rows) == set(expected)
    for record, (stage, reason) in expected.items():
        assert rows[record][0] == stage and reason in rows[record][1] and record in rows[record][1]
        assert record in err
    assert status == ("completed_with_quarantine", 6)

    # Again: Prefect's cache answers for the bad inputs, and this run still writes a row for each of them.
    assert main(["run", str(inbox), "--out", str(out), "--quiet"]) == 3

    # Fix one input and retry only what was quarantined: it is stored, the rest stay quarantined.
    (inbox / "empty.txt").write_text("Date of Service: 01/05/2020\nProvider: Ana Ruiz, MD\n\nCHIEF COMPLAINT:  Cough.\n")
    assert main(["run", "--retry-quarantined", "--out", str(out), "--quiet"]) == 3
    with connect(out) as con:
        stored = sorted(r[0] for r in con.execute("SELECT record FROM documents").fetchall())
        per_run = con.execute(
            "SELECT r.records_quarantined, (SELECT count(*) FROM quarantine q WHERE q.run_id = r.run_id), r.records_stored, "
            "(SELECT count(*) FROM record_sightings s WHERE s.run_id = r.run_id AND s.outcome = 'stored') FROM runs r ORDER BY r.started_at"
        ).fetchall()
        still = sorted(r[0] for r in con.execute("SELECT record FROM quarantine_current").fetchall())
    assert stored == ["empty.txt", "good.txt"]
    assert [(q, s) for q, _, s, _ in per_run] == [(6, 1), (6, 0), (5, 1)]
    assert all(q == q_rows and s == s_rows for q, q_rows, s, s_rows in per_run)  # runs' counts are their rows
    assert still == sorted(set(expected) - {"empty.txt"})


def test_a_second_writer_waits_then_names_the_holder(prefect_server, tmp_path: Path, capsys) -> None:
    from pipeline.store import WriterLock

    out = tmp_path / "out"
    with WriterLock(out, timeout_s=0):
        code = main(["run", str(SAMPLES), "--out", str(out), "--quiet", "--lock-timeout", "1"])
    assert code == 1
    assert f"another chartsift run (pid {os.getpid()}) is writing {out}; waited 1 s" in capsys.readouterr().err
    assert main(["run", str(SAMPLES), "--out", str(out), "--quiet"]) == 0  # the lock went with its holder


def test_manifest_verify_catches_one_changed_byte(prefect_server, tmp_path: Path, capsys) -> None:
    records = tmp_path / "records"
    shutil.copytree(SAMPLES / "records", records)
    out = tmp_path / "out"
    assert main(["run", str(records), "--out", str(out), "--quiet"]) == 0
    assert main(["manifest", "verify", "--out", str(out)]) == 0
    target = sorted(records.glob("*.txt"))[2]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["manifest", "verify", "--out", str(out)]) == 1
    report = capsys.readouterr().out
    assert f"CHANGED  {target.name}" in report and "1 changed or missing" in report
    assert main(["manifest", "show", "--out", str(out)]) == 0
    assert target.name in capsys.readouterr().out


def test_export_evaluate_audit_and_sql(sample_run: Path, tmp_path: Path, capsys) -> None:
    export = tmp_path / "export.jsonl"
    assert main(["export", "--out", str(sample_run), "--to", str(export)]) == 0
    lines = [json.loads(x) for x in export.read_text().splitlines()]
    assert len(lines) == len(sample_records())
    for entry in lines:
        encounters = entry["encounters"]
        assert encounters[0]["start"] == 0
        assert all(a["end"] == b["start"] for a, b in zip(encounters, encounters[1:]))
        assert set(encounters[0]) >= {"start", "end", "date", "type", "provider", "facility"}

    figures = tmp_path / "figures.json"
    assert main(["evaluate", "--gold", str(SAMPLES / "gold.jsonl"), "--out", str(sample_run), "--json", str(figures), "--errors", "3"]) == 0
    table = capsys.readouterr().out
    assert "date-split" in table and "texttiling" in table and "chartsift" in table
    assert json.loads(figures.read_text())

    with connect(sample_run) as con:
        encounter_id, manifest_id, document_id = con.execute(
            "SELECT encounter_id, manifest_id, document_id FROM encounters WHERE provider IS NOT NULL LIMIT 1"
        ).fetchone()
    assert main(["audit", encounter_id, "--out", str(sample_run)]) == 0
    trail = capsys.readouterr().out
    assert manifest_id in trail and document_id in trail and "MISMATCH" not in trail and "provider#0 ok" in trail
    assert main(["audit", "enc-nope", "--out", str(sample_run)]) == 1

    assert main(["sql", "--out", str(sample_run), "SELECT count(*) AS n FROM encounters"]) == 0
    assert "n" in capsys.readouterr().out
    assert main(["sql", "--out", str(sample_run), "SELECT * FROM no_such_table"]) == 2
    assert main(["sql", "--out", str(sample_run), "DELETE FROM encounters"]) == 2  # the catalog opens read-only


def test_cli_process_exit_codes(prefect_server, tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    cli = [sys.executable, "-m", "pipeline.cli"]
    done = subprocess.run([*cli, "run", str(SAMPLES), "--out", str(tmp_path / "o")],
                          env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "catalog: " in done.stdout and "chartsift sql --out" in done.stdout
    gone = subprocess.run([*cli, "run", str(SAMPLES), str(tmp_path / "gone.txt"), "--out", str(tmp_path / "o")],
                          env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert gone.returncode == 2 and gone.stderr.strip().splitlines() == [f"chartsift: error: no such file or folder: {tmp_path / 'gone.txt'}"]
    (tmp_path / "empty").mkdir()
    empty = subprocess.run([*cli, "run", str(tmp_path / "empty"), "--out", str(tmp_path / "o2")],
                           env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert empty.returncode == 0, empty.stderr[-2000:]
    assert ": 0 records, 0 stored" in empty.stdout and "Traceback" not in empty.stderr
    usage = subprocess.run([*cli, "run", "--out", str(tmp_path / "o")], env=env, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "run needs at least one PATH" in usage.stderr
    no_catalog = subprocess.run([*cli, "export", "--out", str(tmp_path / "nothing")], env=env, capture_output=True, text=True, timeout=60)
    assert no_catalog.returncode == 1 and "no catalog at" in no_catalog.stderr


def test_patient_text_stays_out_of_logs_and_task_names(prefect_server, tmp_path: Path, caplog) -> None:
    canary = "Zebulon Quixotic-Marchbanks"
    record = tmp_path / "in" / "canary.txt"
    record.parent.mkdir()
    record.write_text(
        f"Date of Service: 01/05/2020\nProvider: {canary}, MD\n\nCHIEF COMPLAINT:  {canary} reports cough.\n", encoding="utf-8"
    )
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    assert main(["run", str(record.parent), "--out", str(out), "--quiet"]) == 0
    assert canary not in caplog.text

    import asyncio

    from prefect.client.orchestration import get_client

    async def task_names() -> list[str]:
        async with get_client() as client:
            runs = await client.read_task_runs(limit=200)
        return [r.name for r in runs]

    names = asyncio.run(task_names())
    assert any(n.startswith("record-") for n in names)
    assert not any(canary.split()[0] in n or "canary" in n for n in names)


def test_nightly_verify_passes_a_sound_catalog_and_fails_on_a_changed_span_or_a_lower_f1(sample_run: Path, tmp_path: Path) -> None:
    from flows.verify import verify
    from pipeline.catalog import build_catalog

    gold = str(SAMPLES / "gold.jsonl")
    sound = verify(outs=[str(sample_run), str(tmp_path / "no-catalog-yet")], gold=gold, min_f1=0.5, return_state=True)
    assert sound.is_completed(), sound.message
    # A copy of the catalog in which one published evidence span no longer says what the document says.
    copy = tmp_path / "copy"
    shutil.copytree(sample_run, copy)
    build_catalog(copy)
    part = next(p for p in (copy / "parquet" / "evidence").glob("run_id=run-*/*.parquet"))
    duckdb.sql(f"COPY (SELECT * REPLACE (CASE WHEN item_index = 0 AND field = 'provider' THEN 'X' || text ELSE text END AS text) "
               f"FROM '{part}') TO '{part}.new' (FORMAT parquet)")
    os.replace(f"{part}.new", part)
    changed = verify(outs=[str(copy)], gold=gold, min_f1=0.5, return_state=True)
    assert changed.is_failed() and "evidence spans differ from their text" in changed.message
    regressed = verify(outs=[str(sample_run)], gold=gold, min_f1=0.999, return_state=True)
    assert regressed.is_failed() and "samples F1" in regressed.message and "below 0.999" in regressed.message
