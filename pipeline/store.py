"""The catalog: ``OUT/catalog.duckdb`` for queries and ``OUT/parquet/`` for everything else.

One record's document row, encounters, evidence and completion marker are written in one
transaction, keyed by (document sha256, configuration hash): a record is stored exactly once per
configuration, and a re-run of the same inputs with the same configuration adds no rows. Parquet
copies are partitioned by run and written to a temporary name, then renamed into place.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb
import pandas as pd

from schemas import Document, Encounter, Manifest, QuarantineRecord, Run

from pipeline.chunking import Chunk
from pipeline.errors import CatalogError

CATALOG_NAME = "catalog.duckdb"
PARQUET_DIR = "parquet"

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
"""

# Tables copied to Parquet, each partitioned by the run that wrote its rows.
PARQUET_TABLES = {
    "manifests": "SELECT m.*, r.run_id FROM manifests m JOIN runs r USING (manifest_id) WHERE r.run_id = $run",
    "manifest_inputs": "SELECT i.*, r.run_id FROM manifest_inputs i JOIN runs r USING (manifest_id) WHERE r.run_id = $run",
    "runs": "SELECT * FROM runs WHERE run_id = $run",
    "documents": "SELECT * EXCLUDE (first_run_id), first_run_id AS run_id FROM documents WHERE first_run_id = $run",
    "encounters": "SELECT * FROM encounters WHERE run_id = $run",
    "evidence": "SELECT v.*, e.run_id FROM evidence v JOIN encounters e USING (encounter_id) WHERE e.run_id = $run",
    "quarantine": "SELECT * FROM quarantine WHERE run_id = $run",
    "agent_steps": "SELECT * FROM agent_steps WHERE run_id = $run",
}


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
    """The DuckDB catalog of one output folder. Use as a context manager."""

    def __init__(self, out_dir: Path, read_only: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / CATALOG_NAME
        if read_only and not self.path.exists():
            raise CatalogError(f"no catalog at {self.path}; run `chartsift run ... --out {self.out_dir}` first")
        if not read_only:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            raise CatalogError(f"cannot open {self.path}: {exc}") from None
        if not read_only:
            with self.transaction() as con:  # all tables or none, even if the process dies here
                con.execute(DDL)

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
            con.executemany(
                "INSERT INTO manifest_inputs VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [[manifest.manifest_id, i.record, i.uri, i.size, i.sha256, i.media_type] for i in manifest.inputs],
            )

    def upsert_run(self, run: Run) -> None:
        row = [
            run.run_id, run.manifest_id, run.config_hash, run.pipeline_version, run.detector.name, run.detector.version,
            run.started_at, run.finished_at, run.status, run.records_total, run.records_stored, run.records_skipped,
            run.records_quarantined, run.encounters,
        ]
        with self.writing():
            self.con.execute(
                """INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (run_id) DO UPDATE SET finished_at = excluded.finished_at, status = excluded.status,
                   records_total = excluded.records_total, records_stored = excluded.records_stored,
                   records_skipped = excluded.records_skipped, records_quarantined = excluded.records_quarantined,
                   encounters = excluded.encounters""",
                row,
            )

    def is_complete(self, document_id: str, config_hash: str) -> bool:
        row = self.con.execute(
            "SELECT 1 FROM completions WHERE document_id = ? AND config_hash = ?", [document_id, config_hash]
        ).fetchone()
        return row is not None

    def store_record(
        self, run_id: str, config_hash: str, document: Document, chunks: Sequence[Chunk], encounters: Sequence[Encounter]
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
                "INSERT INTO completions VALUES (?, ?, ?, ?, ?, ?)",
                [document.document_id, config_hash, run_id, document.record, len(encounters), _now()],
            )
            con.execute("DELETE FROM quarantine WHERE run_id = ? AND record = ?", [run_id, document.record])
        return True

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
        with self.writing():
            self.con.execute(
                """INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (run_id, record) DO UPDATE SET uri = excluded.uri, sha256 = excluded.sha256,
                   stage = excluded.stage, error_class = excluded.error_class, message = excluded.message,
                   created_at = excluded.created_at""",
                [entry.run_id, entry.record, entry.uri, entry.sha256, entry.stage, entry.error_class, entry.message, entry.created_at],
            )

    def export_parquet(self, run_id: str) -> Path:
        """Rewrites the run's Parquet partition of every table (tmp name, then rename)."""
        root = self.out_dir / PARQUET_DIR
        with self.writing():
            for table, query in PARQUET_TABLES.items():
                self._export_table(root, table, query, run_id)
        return root

    def _export_table(self, root: Path, table: str, query: str, run_id: str) -> None:
        target_dir = root / table / f"run_id={run_id}"
        target_dir.mkdir(parents=True, exist_ok=True)
        for stale in target_dir.glob(".*.tmp"):  # left by a run killed mid-write
            stale.unlink()
        target = target_dir / "part-0.parquet"
        tmp = target_dir / f".part-0.parquet.{os.getpid()}.tmp"
        select = query.replace("$run", _sql_literal(run_id))
        self.con.execute(f"COPY (SELECT * EXCLUDE (run_id) FROM ({select})) TO {_sql_literal(str(tmp))} (FORMAT parquet)")
        os.replace(tmp, target)

    # -- reads ---------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyRelation:
        return self.con.sql(sql, params=params) if params else self.con.sql(sql)

    def quarantined_paths(self) -> list[str]:
        """Local paths of every input quarantined by any run into this catalog and not stored since."""
        rows = self.con.execute(
            """SELECT DISTINCT q.uri FROM quarantine q
               WHERE q.sha256 IS NULL OR NOT EXISTS (SELECT 1 FROM completions c WHERE c.document_id = q.sha256)
               ORDER BY q.uri"""
        ).fetchall()
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
