"""Storage: a writer-private state database, immutable Parquet published in batches, and the analyst
catalog ``OUT/catalog.duckdb`` (views over that Parquet, see ``pipeline.catalog``).

DuckDB lets one process hold a read-write connection and locks every other process out, readers
included, so no analyst ever opens the database the writer writes: ``OUT/state/state.duckdb`` is the
run's own (one writer at a time, by ``WriterLock``). One record's document row, encounters, evidence,
sighting and completion marker are written there in one transaction, keyed by (document sha256,
configuration hash): a record is stored once per configuration, and a re-run adds no rows. The same
transaction queues the record for publication; ``Catalog.publish`` (every few seconds during a run and
at its end) copies the queued rows to new Parquet files, each written under a temporary name and
renamed into place, then clears the queue. A batch keeps its number until its files are in place, so
a crash between the two re-publishes the same files under the same names, never a second copy.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb
import pandas as pd

from schemas import Document, Encounter, Manifest, PatientIdentity, QuarantineRecord, RecordSighting, Run

from pipeline.chunking import Chunk
from pipeline.errors import CatalogError

CATALOG_NAME = "catalog.duckdb"
STATE_DIR = "state"
STATE_NAME = "state.duckdb"
PARQUET_DIR = "parquet"
# Rows a run commits reach the analyst catalog within this many seconds (or this many records).
PUBLISH_EVERY_S = 10.0
PUBLISH_EVERY_RECORDS = 50


def state_path(out_dir: Path) -> Path:
    """The writer-private state database of an output folder; no reader should open it while a run writes."""
    return Path(out_dir) / STATE_DIR / STATE_NAME


DDL = """
CREATE TABLE IF NOT EXISTS manifests (
    manifest_id VARCHAR PRIMARY KEY,
    output_dir VARCHAR NOT NULL,
    pipeline_version VARCHAR NOT NULL,
    detector JSON NOT NULL,
    input_count INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS manifest_inputs (
    manifest_id VARCHAR NOT NULL,
    record VARCHAR NOT NULL,
    uri VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL,
    media_type VARCHAR NOT NULL,
    PRIMARY KEY (manifest_id, record)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    manifest_id VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    pipeline_version VARCHAR NOT NULL,
    detector_name VARCHAR NOT NULL,
    detector_version VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,
    records_total INTEGER NOT NULL,
    records_stored INTEGER NOT NULL,
    records_skipped INTEGER NOT NULL,
    records_quarantined INTEGER NOT NULL,
    encounters INTEGER NOT NULL
);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS flow_run_id VARCHAR;
CREATE TABLE IF NOT EXISTS documents (
    document_id VARCHAR PRIMARY KEY,
    record VARCHAR NOT NULL,
    media_type VARCHAR NOT NULL,
    encoding VARCHAR NOT NULL,
    char_count BIGINT NOT NULL,
    line_count BIGINT NOT NULL,
    removed_cr JSON NOT NULL,
    page_starts JSON NOT NULL,
    warnings JSON NOT NULL,
    first_run_id VARCHAR NOT NULL,
    text VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS completions (
    document_id VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    record VARCHAR NOT NULL,
    encounters INTEGER NOT NULL,
    completed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (document_id, config_hash)
);
CREATE TABLE IF NOT EXISTS chunks (
    document_id VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    chunk_index INTEGER NOT NULL,
    start_char BIGINT NOT NULL,
    end_char BIGINT NOT NULL,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    PRIMARY KEY (document_id, config_hash, chunk_index)
);
CREATE TABLE IF NOT EXISTS encounters (
    encounter_id VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    manifest_id VARCHAR NOT NULL,
    document_id VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    record VARCHAR NOT NULL,
    encounter_index INTEGER NOT NULL,
    start_char BIGINT NOT NULL,
    end_char BIGINT NOT NULL,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    encounter_date DATE,
    end_date DATE,
    encounter_type VARCHAR,
    encounter_type_text VARCHAR,
    provider VARCHAR,
    facility VARCHAR,
    chief_complaint VARCHAR,
    diagnoses VARCHAR[] NOT NULL,
    medications VARCHAR[] NOT NULL,
    detector_name VARCHAR NOT NULL,
    detector_version VARCHAR NOT NULL,
    boundary_score DOUBLE,
    boundary_cues VARCHAR[] NOT NULL,
    sandbox_level VARCHAR,
    fallback_reason VARCHAR,
    encounter_type_source VARCHAR,
    review_reasons VARCHAR[]
);
-- a catalog written before these columns existed gets them, last and in this order, as in a new catalog
ALTER TABLE encounters ADD COLUMN IF NOT EXISTS encounter_type_source VARCHAR;
ALTER TABLE encounters ADD COLUMN IF NOT EXISTS review_reasons VARCHAR[];
CREATE TABLE IF NOT EXISTS evidence (
    encounter_id VARCHAR NOT NULL,
    document_id VARCHAR NOT NULL,
    field VARCHAR NOT NULL,
    item_index INTEGER NOT NULL,
    start_char BIGINT NOT NULL,
    end_char BIGINT NOT NULL,
    page INTEGER,
    text VARCHAR NOT NULL,
    PRIMARY KEY (encounter_id, field, item_index)
);
CREATE TABLE IF NOT EXISTS agent_steps (
    run_id VARCHAR NOT NULL,
    document_id VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    step INTEGER NOT NULL,
    tool VARCHAR NOT NULL,
    arguments_sha256 VARCHAR,
    started_at TIMESTAMPTZ NOT NULL,
    duration_ms DOUBLE NOT NULL,
    chars_in BIGINT NOT NULL,
    chars_out BIGINT NOT NULL,
    sandbox_exit INTEGER,
    outcome VARCHAR NOT NULL,
    PRIMARY KEY (document_id, config_hash, step)
);
CREATE TABLE IF NOT EXISTS agent_checkpoints (
    document_id VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    step INTEGER NOT NULL,
    state JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (document_id, config_hash)
);
CREATE TABLE IF NOT EXISTS quarantine (
    run_id VARCHAR NOT NULL,
    record VARCHAR NOT NULL,
    uri VARCHAR NOT NULL,
    sha256 VARCHAR,
    stage VARCHAR NOT NULL,
    error_class VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, record)
);
CREATE TABLE IF NOT EXISTS patients (
    document_id VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    patient_key VARCHAR,
    name VARCHAR,
    name_start BIGINT,
    name_end BIGINT,
    birth_date DATE,
    birth_date_text VARCHAR,
    birth_date_start BIGINT,
    birth_date_end BIGINT,
    mrn VARCHAR,
    mrn_start BIGINT,
    mrn_end BIGINT,
    identities_seen INTEGER NOT NULL,
    PRIMARY KEY (document_id, config_hash)
);
CREATE TABLE IF NOT EXISTS record_sightings (
    run_id VARCHAR NOT NULL,
    uri VARCHAR NOT NULL,
    record VARCHAR NOT NULL,
    document_id VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, record)
);
-- rows committed but not yet in Parquet: kind 'document' (key: document_id) or 'record' (key: record path)
CREATE TABLE IF NOT EXISTS publication_queue (
    run_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    batch BIGINT
);
CREATE SEQUENCE IF NOT EXISTS publication_batch;
"""

# What each published table's Parquet holds, by the rows a publication batch names. ``$run`` is the run,
# ``_batch_documents`` / ``_batch_records`` the documents and record paths the batch queued for it.
# Tables keyed by run alone are rewritten whole (one small file per run) at every publication.
BATCHED_TABLES = {
    "documents": "SELECT * EXCLUDE (first_run_id), first_run_id AS run_id FROM documents "
    "WHERE first_run_id = $run AND document_id IN (SELECT key FROM _batch_documents)",
    "chunks": "SELECT c.*, k.run_id FROM chunks c JOIN completions k USING (document_id, config_hash) "
    "WHERE k.run_id = $run AND c.document_id IN (SELECT key FROM _batch_documents)",
    "encounters": "SELECT * FROM encounters WHERE run_id = $run AND document_id IN (SELECT key FROM _batch_documents)",
    "evidence": "SELECT v.*, e.run_id FROM evidence v JOIN encounters e USING (encounter_id) "
    "WHERE e.run_id = $run AND e.document_id IN (SELECT key FROM _batch_documents)",
    "patients": "SELECT * FROM patients WHERE run_id = $run AND document_id IN (SELECT key FROM _batch_documents)",
    "record_sightings": "SELECT * FROM record_sightings WHERE run_id = $run AND record IN (SELECT key FROM _batch_records)",
    "quarantine": "SELECT * FROM quarantine WHERE run_id = $run AND record IN (SELECT key FROM _batch_records)",
}
# A run's manifest never changes: its file is written once. Its row and its agent steps do: rewritten.
MANIFEST_TABLES = {
    "manifests": "SELECT m.*, r.run_id FROM manifests m JOIN runs r USING (manifest_id) WHERE r.run_id = $run",
    "manifest_inputs": "SELECT i.*, r.run_id FROM manifest_inputs i JOIN runs r USING (manifest_id) WHERE r.run_id = $run",
}
RUN_TABLES = {
    "runs": "SELECT * FROM runs WHERE run_id = $run",
    "agent_steps": "SELECT * FROM agent_steps WHERE run_id = $run",
}
PUBLISHED_TABLES = (*MANIFEST_TABLES, *RUN_TABLES, *BATCHED_TABLES)
PATIENT_COLUMNS = tuple(PatientIdentity.model_fields)
SCHEMA_PARTITION = "_schema"  # a zero-row file per table, so a view over no run yet still has its columns


LOCK_NAME = ".chartsift.lock"


def _now() -> datetime:
    return datetime.now(timezone.utc)


class WriterLock:
    """One writer per output folder: an exclusive ``flock`` on ``OUT/.chartsift.lock``.

    The kernel releases it when the holder dies, however it dies, so a killed run never leaves a
    stale lock. A second writer waits up to ``timeout_s`` and then fails with a message naming the
    holder's pid and the time it waited."""

    def __init__(self, out_dir: Path, timeout_s: float = 60.0) -> None:
        self.path = Path(out_dir) / LOCK_NAME
        self.timeout_s = timeout_s
        self._handle: Any = None

    def __enter__(self) -> WriterLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    handle.close()
                    raise CatalogError(
                        f"another chartsift run (pid {holder}) is writing {self.path.parent}; waited {self.timeout_s:g} s "
                        "for it to finish (raise --lock-timeout to wait longer)"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


class Catalog:
    """One output folder's storage. Use as a context manager.

    ``Catalog(out)`` is the writer (hold ``WriterLock`` first): it opens the state database, stores
    records and publishes them. ``Catalog(out, read_only=True)`` is a reader of the analyst catalog,
    which no writer ever holds open: it neither waits for a run nor makes one wait."""

    def __init__(self, out_dir: Path, read_only: bool = False, publish_every_s: float = PUBLISH_EVERY_S) -> None:
        self.out_dir = Path(out_dir)
        self.publish_every_s = publish_every_s
        self.path = self.out_dir / CATALOG_NAME if read_only else state_path(self.out_dir)
        if read_only and not self.path.exists():
            raise CatalogError(f"no catalog at {self.path}; run `chartsift run ... --out {self.out_dir}` first")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            adopted = _adopt_single_file_catalog(self.out_dir / CATALOG_NAME, self.path)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise CatalogError(f"cannot open {self.path}: {exc}") from None
        if not read_only:
            with self.transaction() as con:  # all tables or none, even if the process dies here
                con.execute(DDL)
                if adopted:
                    _queue_everything(con)
        self._published_at = time.monotonic()
        self._queued = 0
        if not read_only and adopted:  # Parquet is derived from the state: publish it anew, once, whole
            shutil.rmtree(self.out_dir / PARQUET_DIR, ignore_errors=True)
            self.publish([r for (r,) in self.con.execute("SELECT run_id FROM runs").fetchall()])

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing; a storage failure (a full disk) becomes a ``CatalogError`` naming the file."""
        with self.writing():
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    @contextmanager
    def writing(self) -> Iterator[None]:
        try:
            yield
        except (duckdb.IOException, duckdb.FatalException, duckdb.TransactionException, OSError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CatalogError(f"cannot write the catalog in {self.out_dir}: {reason}") from None

    # -- writes --------------------------------------------------------------------------------

    def record_manifest(self, manifest: Manifest) -> None:
        with self.transaction() as con:
            con.execute(
                "INSERT INTO manifests VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [manifest.manifest_id, manifest.output_dir, manifest.pipeline_version, json.dumps(manifest.detector, sort_keys=True), len(manifest.inputs), _now()],
            )
            if manifest.inputs:
                con.executemany(
                    "INSERT INTO manifest_inputs VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [[manifest.manifest_id, i.record, i.uri, i.size, i.sha256, i.media_type] for i in manifest.inputs],
                )

    RUN_COLUMNS = (
        "run_id", "manifest_id", "config_hash", "pipeline_version", "detector_name", "detector_version", "started_at",
        "finished_at", "status", "records_total", "records_stored", "records_skipped", "records_quarantined",
        "encounters", "flow_run_id",
    )

    def upsert_run(self, run: Run) -> None:
        row = [
            run.run_id, run.manifest_id, run.config_hash, run.pipeline_version, run.detector.name, run.detector.version,
            run.started_at, run.finished_at, run.status, run.records_total, run.records_stored, run.records_skipped,
            run.records_quarantined, run.encounters, run.flow_run_id,
        ]
        updated = ("finished_at", "status", "records_total", "records_stored", "records_skipped", "records_quarantined", "encounters")
        with self.writing():
            self.con.execute(
                f"""INSERT INTO runs ({", ".join(self.RUN_COLUMNS)}) VALUES ({", ".join("?" * len(row))})
                   ON CONFLICT (run_id) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in updated)}""",
                row,
            )

    def fail_abandoned_runs(self) -> list[str]:
        """Marks failed every run still 'running': under the writer lock, its process is gone."""
        with self.transaction() as con:
            rows = con.execute("SELECT run_id FROM runs WHERE status = 'running' ORDER BY started_at").fetchall()
            con.execute("UPDATE runs SET status = 'failed', finished_at = ? WHERE status = 'running'", [_now()])
        return [r[0] for r in rows]

    def run_counts(self, run_id: str) -> dict[str, int]:
        """Records stored and skipped, inputs quarantined and encounters stored by one run, from its rows."""
        stored, skipped, encounters = self.con.execute(
            """SELECT count(*) FILTER (outcome = 'stored'), count(*) FILTER (outcome = 'skipped'),
                      coalesce((SELECT sum(encounters) FROM completions WHERE run_id = $run), 0)
               FROM record_sightings WHERE run_id = $run""",
            {"run": run_id},
        ).fetchone()
        quarantined = self.con.execute("SELECT count(*) FROM quarantine WHERE run_id = ?", [run_id]).fetchone()[0]
        return {"stored": stored, "skipped": skipped, "quarantined": quarantined, "encounters": int(encounters)}

    def is_complete(self, document_id: str, config_hash: str) -> bool:
        row = self.con.execute(
            "SELECT 1 FROM completions WHERE document_id = ? AND config_hash = ?", [document_id, config_hash]
        ).fetchone()
        return row is not None

    def store_record(
        self,
        run_id: str,
        config_hash: str,
        uri: str,
        document: Document,
        chunks: Sequence[Chunk],
        encounters: Sequence[Encounter],
        patient: PatientIdentity,
    ) -> bool:
        """Writes one record atomically. Returns False (and writes nothing) when it was already complete."""
        with self.transaction() as con:
            if self.is_complete(document.document_id, config_hash):
                return False
            con.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    document.document_id, document.record, document.media_type, document.encoding, document.char_count,
                    document.line_count, json.dumps(document.removed_cr), json.dumps(document.page_starts),
                    json.dumps(document.warnings), run_id, document.text,
                ],
            )
            _bulk_insert(
                con, "chunks", [[document.document_id, config_hash, c.index, c.start, c.end, c.start_line, c.end_line] for c in chunks]
            )
            _bulk_insert(con, "encounters", [_encounter_row(e) for e in encounters])
            con.execute("DELETE FROM agent_checkpoints WHERE document_id = ? AND config_hash = ?", [document.document_id, config_hash])
            _bulk_insert(con, "evidence", [row for e in encounters for row in _evidence_rows(e)])
            con.execute(
                f"INSERT INTO patients ({', '.join(PATIENT_COLUMNS)}) VALUES ({', '.join('?' * len(PATIENT_COLUMNS))})",
                [getattr(patient, c) for c in PATIENT_COLUMNS],
            )
            con.execute(
                "INSERT INTO completions VALUES (?, ?, ?, ?, ?, ?)",
                [document.document_id, config_hash, run_id, document.record, len(encounters), _now()],
            )
            self._sighting(con, RecordSighting(
                run_id=run_id, uri=uri, record=document.record, document_id=document.document_id,
                config_hash=config_hash, outcome="stored", seen_at=_now(),
            ))
            self._queue(con, run_id, "document", document.document_id)
        return True

    def record_sighting(self, sighting: RecordSighting) -> None:
        """A record this run found already stored: still a sighting of its version under its URI."""
        with self.transaction() as con:
            self._sighting(con, sighting)

    def _sighting(self, con: duckdb.DuckDBPyConnection, s: RecordSighting) -> None:
        con.execute(
            "INSERT INTO record_sightings VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [s.run_id, s.uri, s.record, s.document_id, s.config_hash, s.outcome, s.seen_at],
        )
        self._queue(con, s.run_id, "record", s.record)

    def _queue(self, con: duckdb.DuckDBPyConnection, run_id: str, kind: str, key: str) -> None:
        con.execute("INSERT INTO publication_queue VALUES (?, ?, ?, NULL)", [run_id, kind, key])
        self._queued += 1

    # -- the agent's audit log and checkpoints (pipeline.detect.StepRecorder) -------------------

    AGENT_STEP_COLUMNS = (
        "run_id", "document_id", "config_hash", "step", "tool", "arguments_sha256", "started_at", "duration_ms",
        "chars_in", "chars_out", "sandbox_exit", "outcome",
    )

    def record_agent_step(self, step: dict[str, Any]) -> None:
        """One agent step; a step already recorded (a resumed run) is kept as it was."""
        values = [step.get(c) for c in self.AGENT_STEP_COLUMNS]
        with self.writing():
            self.con.execute(
                f"INSERT INTO agent_steps ({', '.join(self.AGENT_STEP_COLUMNS)}) VALUES ({', '.join('?' * len(values))}) ON CONFLICT DO NOTHING",
                values,
            )

    def save_agent_state(self, run_id: str, document_id: str, config_hash: str, state: dict[str, Any]) -> None:
        with self.writing():
            self.con.execute(
                """INSERT INTO agent_checkpoints VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (document_id, config_hash) DO UPDATE SET run_id = excluded.run_id, step = excluded.step,
                   state = excluded.state, updated_at = excluded.updated_at""",
                [document_id, config_hash, run_id, int(state.get("step", 0)), json.dumps(state, sort_keys=True), _now()],
            )

    def load_agent_state(self, document_id: str, config_hash: str) -> dict[str, Any] | None:
        row = self.con.execute(
            "SELECT state FROM agent_checkpoints WHERE document_id = ? AND config_hash = ?", [document_id, config_hash]
        ).fetchone()
        return json.loads(row[0]) if row else None

    def quarantine(self, entry: QuarantineRecord) -> None:
        with self.transaction() as con:
            con.execute(
                """INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (run_id, record) DO UPDATE SET uri = excluded.uri, sha256 = excluded.sha256,
                   stage = excluded.stage, error_class = excluded.error_class, message = excluded.message,
                   created_at = excluded.created_at""",
                [entry.run_id, entry.record, entry.uri, entry.sha256, entry.stage, entry.error_class, entry.message, entry.created_at],
            )
            self._queue(con, entry.run_id, "record", entry.record)

    # -- publication ----------------------------------------------------------------------------

    def publish_due(self, run_id: str) -> bool:
        """Publishes when rows have waited ``publish_every_s`` or ``PUBLISH_EVERY_RECORDS`` have queued."""
        waited = time.monotonic() - self._published_at
        if self._queued and (waited >= self.publish_every_s or self._queued >= PUBLISH_EVERY_RECORDS):
            self.publish([run_id])
            return True
        return False

    def publish(self, runs: Sequence[str] = ()) -> Path:
        """Copies every queued row to new Parquet files, and rewrites the run-level files of ``runs`` and
        of every run with queued rows. Rows in Parquet are immutable; a file appears whole or not at all."""
        root = self.out_dir / PARQUET_DIR
        with self.writing():
            if self.con.execute("SELECT 1 FROM publication_queue WHERE batch IS NULL LIMIT 1").fetchone():
                batch = self.con.execute("SELECT nextval('publication_batch')").fetchone()[0]
                self.con.execute("UPDATE publication_queue SET batch = ? WHERE batch IS NULL", [batch])
            batches = self.con.execute("SELECT DISTINCT batch, run_id FROM publication_queue ORDER BY batch, run_id").fetchall()
            for batch, run_id in batches:
                self._publish_batch(root, batch, run_id)
            for run_id in sorted({r for _, r in batches} | set(runs)):
                for table, query in MANIFEST_TABLES.items():
                    if not (root / table / f"run_id={run_id}" / "part-0.parquet").exists():
                        self._copy(root, table, query, run_id, "part-0")
                for table, query in RUN_TABLES.items():
                    self._copy(root, table, query, run_id, "part-0")
            if batches:
                self.con.execute("DELETE FROM publication_queue WHERE batch <= ?", [max(b for b, _ in batches)])
        self._published_at = time.monotonic()
        self._queued = 0
        return root

    def _publish_batch(self, root: Path, batch: int, run_id: str) -> None:
        keys = self.con.execute("SELECT kind, key FROM publication_queue WHERE batch = ? AND run_id = ?", [batch, run_id]).fetchall()
        with self._batch_keys({kind: sorted({k for t, k in keys if t == kind}) for kind in ("document", "record")}):
            for table, query in BATCHED_TABLES.items():
                self._copy(root, table, query, run_id, f"part-b{batch:08d}", skip_empty=True)

    @contextmanager
    def _batch_keys(self, keys: dict[str, list[str]]) -> Iterator[None]:
        """The documents and record paths a batch names, as the relations ``BATCHED_TABLES`` read."""
        for kind in ("document", "record"):
            self.con.register(f"_batch_{kind}s", pd.DataFrame({"key": pd.Series(keys.get(kind, []), dtype="string")}))
        try:
            yield
        finally:
            self.con.unregister("_batch_documents")
            self.con.unregister("_batch_records")

    def _copy(self, root: Path, table: str, query: str, run_id: str, name: str, skip_empty: bool = False) -> None:
        select = query.replace("$run", _sql_literal(run_id))
        if skip_empty and not self.con.execute(f"SELECT 1 FROM ({select}) LIMIT 1").fetchone():
            return
        _write_parquet(self.con, f"SELECT * EXCLUDE (run_id) FROM ({select})", root / table / f"run_id={run_id}" / f"{name}.parquet")

    def write_schema_files(self) -> Path:
        """A zero-row Parquet file per published table with its current columns, so that the analyst
        catalog's views have their columns before any run has published a row."""
        root = self.out_dir / PARQUET_DIR
        with self._batch_keys({}):
            for table, query in {**MANIFEST_TABLES, **RUN_TABLES, **BATCHED_TABLES}.items():
                select = query.replace("$run", "NULL")
                _write_parquet(self.con, f"SELECT * EXCLUDE (run_id) FROM ({select}) LIMIT 0",
                               root / table / f"run_id={SCHEMA_PARTITION}" / "part-0.parquet")
        return root

    # -- reads ---------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyRelation:
        return self.con.sql(sql, params=params) if params else self.con.sql(sql)

    def quarantined_paths(self) -> list[str]:
        """Local paths of every input whose latest word is a quarantine (the analyst catalog's view)."""
        rows = self.con.execute("SELECT DISTINCT uri FROM quarantine_current ORDER BY uri").fetchall()
        return [unquote(urlparse(uri).path) for (uri,) in rows]

    def latest_run_id(self) -> str | None:
        row = self.con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def manifest(self, manifest_id: str) -> Manifest:
        from schemas import ManifestInput

        row = self.con.execute(
            "SELECT output_dir, pipeline_version, detector FROM manifests WHERE manifest_id = ?", [manifest_id]
        ).fetchone()
        if row is None:
            raise CatalogError(f"no manifest {manifest_id} in {self.path}")
        inputs = self.con.execute(
            "SELECT uri, record, size, sha256, media_type FROM manifest_inputs WHERE manifest_id = ? ORDER BY record",
            [manifest_id],
        ).fetchall()
        return Manifest(
            manifest_id=manifest_id,
            inputs=tuple(ManifestInput(uri=u, record=r, size=s, sha256=h, media_type=m) for u, r, s, h, m in inputs),
            output_dir=row[0],
            pipeline_version=row[1],
            detector=json.loads(row[2]),
        )


def _write_parquet(con: duckdb.DuckDBPyConnection, select: str, target: Path) -> None:
    """COPY to a temporary name beside ``target``, then rename: a reader sees the whole file or none."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(".*.tmp"):  # left by a run killed mid-write
        stale.unlink()
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    con.execute(f"COPY ({select}) TO {_sql_literal(str(tmp))} (FORMAT parquet)")
    os.replace(tmp, target)


def _adopt_single_file_catalog(catalog: Path, state: Path) -> bool:
    """A catalog written before the state database existed held the tables themselves: it becomes the
    state database (the analyst catalog is rebuilt beside it at the next run)."""
    if state.exists() or not catalog.exists():
        return False
    try:
        with duckdb.connect(str(catalog), read_only=True) as con:
            legacy = con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'runs'").fetchone() is not None
    except duckdb.Error as exc:
        raise CatalogError(f"cannot open {catalog}: {exc}") from None
    if legacy:
        os.replace(catalog, state)
        wal = catalog.with_name(catalog.name + ".wal")
        if wal.exists():
            os.replace(wal, state.with_name(state.name + ".wal"))
    return legacy


def _queue_everything(con: duckdb.DuckDBPyConnection) -> None:
    """For an adopted catalog: a sighting per completed record (it had none), and every row queued."""
    con.execute(
        """INSERT INTO record_sightings
           SELECT DISTINCT ON (k.run_id, i.record) k.run_id, i.uri, i.record, k.document_id, k.config_hash, 'stored', k.completed_at
           FROM completions k JOIN runs r USING (run_id)
           JOIN manifest_inputs i ON i.manifest_id = r.manifest_id AND i.sha256 = k.document_id
           ON CONFLICT DO NOTHING"""
    )
    con.execute(
        """INSERT INTO publication_queue
           SELECT run_id, 'document', document_id, NULL FROM completions
           UNION ALL SELECT run_id, 'record', record, NULL FROM record_sightings
           UNION ALL SELECT run_id, 'record', record, NULL FROM quarantine"""
    )


def _bulk_insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[list[Any]]) -> None:
    """Inserts rows through one pandas frame: DuckDB's ``executemany`` runs one statement per row."""
    if not rows:
        return
    columns = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall()]
    frame = pd.DataFrame(rows, columns=columns)
    con.register("_bulk_rows", frame)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _bulk_rows")
    finally:
        con.unregister("_bulk_rows")


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _encounter_row(e: Encounter) -> list[Any]:
    return [
        e.encounter_id, e.run_id, e.manifest_id, e.document_id, e.config_hash, e.record, e.encounter_index,
        e.start_char, e.end_char, e.start_line, e.end_line, e.encounter_date, e.end_date,
        e.encounter_type.value if e.encounter_type else None, e.encounter_type_text, e.provider, e.facility,
        e.chief_complaint, [d.value for d in e.diagnoses], [m.value for m in e.medications], e.detector.name,
        e.detector.version, e.boundary_score, list(e.boundary_cues), e.sandbox_level, e.fallback_reason,
        e.encounter_type_source, list(e.review_reasons),
    ]


def _evidence_rows(e: Encounter) -> list[list[Any]]:
    rows = [[e.encounter_id, e.document_id, v.field, 0, v.start, v.end, v.page, v.text] for v in e.evidence]
    for field, items in (("diagnoses", e.diagnoses), ("medications", e.medications)):
        rows += [
            [e.encounter_id, e.document_id, field, k, i.evidence.start, i.evidence.end, i.evidence.page, i.evidence.text]
            for k, i in enumerate(items)
        ]
    return rows
