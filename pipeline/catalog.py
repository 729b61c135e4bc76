"""The analyst catalog, ``OUT/catalog.duckdb``: documented views over the published Parquet, nothing else.

It holds no rows, so no writer ever needs it open: a run writes its state database and new Parquet
files, and every query through these views lists the files again, so a connection held open for
hours sees each batch a run publishes. The file is rebuilt at the start of every run under a temporary
name and renamed into place (a reader already connected keeps the views it opened with, which read the
same files). It is written in DuckDB's 1.4 storage format, so the DuckDB CLI that PyPI ships opens it.

Every view and column carries a ``COMMENT`` taken from the Pydantic field descriptions in ``schemas``
(or, for columns no model holds, from ``EXTRA_COLUMN_DOCS``); ``chartsift dictionary`` prints them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
from pydantic import BaseModel

from schemas import (
    Document,
    Encounter,
    Evidence,
    Manifest,
    ManifestInput,
    PatientIdentity,
    QuarantineRecord,
    RecordSighting,
    Run,
)

from pipeline.store import CATALOG_NAME, PARQUET_DIR, PUBLISHED_TABLES

# The storage format the catalog is written in: DuckDB 1.4 and later (the PyPI CLI, 1.5.x) read it.
STORAGE_COMPATIBILITY = "v1.4.0"
_ICD10 = r"[A-TV-Z][0-9][0-9AB](?:\.[0-9A-TV-Z]{1,4})?"


@dataclass(frozen=True)
class View:
    name: str
    description: str
    sql: str
    model: type[BaseModel] | None = None


def _table(name: str, description: str, model: type[BaseModel] | None, select: str = "*") -> View:
    return View(name, description, f"SELECT {select} FROM {{parquet:{name}}}", model)


VIEWS: tuple[View, ...] = (
    _table("runs", "One row per invocation of chartsift: its manifest, configuration, status and counts.", Run),
    _table(
        "manifests", "The declared, content-hashed inputs of runs (one row per manifest).", Manifest,
        "DISTINCT ON (manifest_id) * EXCLUDE (run_id)",
    ),
    _table(
        "manifest_inputs", "Each input a manifest declared, with its sha256 and size when declared.", ManifestInput,
        "DISTINCT ON (manifest_id, record) * EXCLUDE (run_id)",
    ),
    _table(
        "documents", "Decoded, normalised texts, one per distinct input content (sha256): all offsets point into text.",
        Document, "* EXCLUDE (run_id), run_id AS first_run_id",
    ),
    _table("chunks", "The bounded, sentence- and line-aware chunks each document was cut into.", None),
    _table("encounters", "Every encounter every run stored, all versions of every record (see encounters_current).", Encounter),
    _table("evidence", "Character spans of the document text that ground each encounter value: text = documents.text[start_char:end_char].", Evidence),
    _table("patients", "Who each document is about: name, birth date and MRN as printed, each with its span, and a patient_key.", PatientIdentity),
    _table("record_sightings", "Each time a run saw a record: stored its bytes, or found them stored already.", RecordSighting),
    _table("quarantine", "Every input a run set aside, with the stage and reason (see quarantine_current).", QuarantineRecord),
    _table("agent_steps", "The agent detector's audit log: one row per model call or tool call, hashes and counts only.", None),
    View(
        "record_versions",
        "Versions of each record: a record is its source URI, a version the bytes (and configuration) it was stored under.",
        """SELECT uri, document_id, config_hash, arg_max(record, seen_at) AS record,
                  min(seen_at) AS first_seen_at, max(seen_at) AS last_seen_at,
                  arg_min(run_id, seen_at) AS first_run_id, arg_max(run_id, seen_at) AS last_run_id,
                  count(*) AS sightings,
                  row_number() OVER (PARTITION BY uri ORDER BY min(seen_at)) AS version,
                  max(seen_at) = max(max(seen_at)) OVER (PARTITION BY uri) AS is_current
           FROM record_sightings GROUP BY uri, document_id, config_hash""",
    ),
    View(
        "encounters_current",
        "The encounters of the current version of every record (the version its latest run saw); query this one.",
        """SELECT e.* REPLACE (v.record AS record), v.uri, p.patient_key
           FROM encounters e JOIN record_versions v
             ON v.is_current AND v.document_id = e.document_id AND v.config_hash = e.config_hash
           LEFT JOIN patients p ON p.document_id = e.document_id AND p.config_hash = e.config_hash""",
        Encounter,
    ),
    View(
        "patients_current",
        "The patient of the current version of every record: one row per record, keyed by patient_key across records.",
        """SELECT v.uri, v.record, p.* EXCLUDE (run_id, config_hash)
           FROM record_versions v JOIN patients p
             ON v.is_current AND p.document_id = v.document_id AND p.config_hash = v.config_hash""",
        PatientIdentity,
    ),
    View(
        "encounter_diagnoses",
        "One row per diagnosis mention of a current encounter, with its ICD-10 code when printed and a name to group by.",
        f"""SELECT e.encounter_id, e.uri, e.record, e.encounter_date, e.encounter_type, v.item_index,
                   v.text AS diagnosis_text,
                   nullif(regexp_extract(v.text, '\\b({_ICD10})\\b', 1), '') AS icd10_code,
                   nullif(lower(trim(regexp_replace(regexp_replace(regexp_replace(
                       v.text, '[(\\[]?\\b{_ICD10}\\b[)\\]]?', '', 'g'), '\\s*(:|;| - | -- ).*$', ''),
                       '\\s+', ' ', 'g'), ' -:;,.')), '') AS diagnosis_name,
                   v.start_char, v.end_char, v.page, e.document_id
            FROM encounters_current e JOIN evidence v ON v.encounter_id = e.encounter_id AND v.field = 'diagnoses'""",
    ),
    View(
        "encounter_medications",
        "One row per medication mention of a current encounter, with the name (the words before any number) and the dose.",
        """SELECT e.encounter_id, e.uri, e.record, e.encounter_date, e.encounter_type, v.item_index,
                  v.text AS medication_text,
                  nullif(lower(trim(regexp_extract(v.text, '^([^0-9]+)', 1), ' -:;,.')), '') AS medication_name,
                  nullif(regexp_extract(v.text, '(\\d+(?:\\.\\d+)?\\s*(?:mg|mcg|g|ml|mL|units?|%))', 1), '') AS dose,
                  v.start_char, v.end_char, v.page, e.document_id
           FROM encounters_current e JOIN evidence v ON v.encounter_id = e.encounter_id AND v.field = 'medications'""",
    ),
    View(
        "audit_trail",
        "Each encounter traced to its input file (URI, sha256, size as declared), its manifest, its run and its detector.",
        """SELECT e.encounter_id, e.record, e.document_id, e.config_hash, e.run_id, r.started_at AS run_started_at,
                  r.status AS run_status, r.flow_run_id, e.manifest_id, m.uri AS input_uri, m.sha256 AS input_sha256,
                  m.size AS input_size, e.detector_name, e.detector_version,
                  (SELECT count(*) FROM evidence v WHERE v.encounter_id = e.encounter_id) AS evidence_spans
           FROM encounters e JOIN runs r USING (run_id)
           LEFT JOIN manifest_inputs m ON m.manifest_id = e.manifest_id AND m.sha256 = e.document_id AND m.record = e.record""",
    ),
    View(
        "quarantine_current",
        "Inputs whose latest word is a quarantine: the last reason each was set aside, unless a later run stored it.",
        """SELECT * EXCLUDE (latest) FROM (
               SELECT *, row_number() OVER (PARTITION BY uri ORDER BY created_at DESC) AS latest FROM quarantine) q
           WHERE latest = 1 AND NOT EXISTS (SELECT 1 FROM record_sightings s WHERE s.uri = q.uri AND s.seen_at > q.created_at)""",
        QuarantineRecord,
    ),
)

# Columns that no Pydantic model of their view holds, or whose stored name differs from the field's.
EXTRA_COLUMN_DOCS = {
    "run_id": "The run that stored this row.",
    "manifest_id": "The manifest (declared inputs) of the run.",
    "flow_run_id": "The Prefect flow run that executed the run, when there is one.",
    "encounter_date": "Date of service, or of admission for a stay.",
    "encounter_type": "Kind of encounter (office_visit, emergency, inpatient, ...).",
    "document_id": "sha256 of the input's bytes: the document the row belongs to.",
    "config_hash": "Hash of the pipeline configuration that produced the row.",
    "encounter_id": "The encounter (encounters.encounter_id).",
    "patient_key": "The record's patient (patients.patient_key): 'patients with an inpatient stay' is a count of these.",
    "record": "The record path (relative to the root it was given under).",
    "uri": "File URI of the record: its identity across versions.",
    "detector_name": "Registered detector name, e.g. 'rules' or 'agent'.",
    "detector_version": "The detector's version; its scorer's hash for the rules detector.",
    "diagnoses": "Diagnosis mentions as printed; their spans are the evidence rows with field 'diagnoses'.",
    "medications": "Medication mentions as printed; their spans are the evidence rows with field 'medications'.",
    "boundary_cues": "Names of the cues behind the boundary.",
    "review_reasons": "Why a person should check this encounter's bounds (empty: no reason).",
    "start_char": "Start offset (inclusive) into the stored document text.",
    "end_char": "End offset (exclusive) into the stored document text.",
    "start_line": "1-based first line.",
    "end_line": "1-based last line (inclusive).",
    "item_index": "Position of the mention in its encounter's list (0 for single-valued fields).",
    "chunk_index": "0-based position of the chunk in its document.",
    "input_count": "Number of declared inputs.",
    "created_at": "When the row was written (UTC).",
    "first_run_id": "The run that first stored the document.",
    "removed_cr": "Offsets in the decoded text where a '\\r' of a CRLF pair was dropped.",
    "page_starts": "Offsets where each PDF page starts.",
    "warnings": "What ingest repaired or noticed (no patient text).",
    "step": "0-based step number within the record's agent run.",
    "tool": "The tool called, or 'model' for a model call.",
    "arguments_sha256": "sha256 of the call's arguments (never the arguments).",
    "started_at": "When it started (UTC).",
    "duration_ms": "How long it took, in milliseconds.",
    "chars_in": "Characters sent.",
    "chars_out": "Characters returned.",
    "sandbox_exit": "Exit status of the sandboxed tool process, if one ran.",
    "outcome": "What came of it.",
    "first_seen_at": "When a run first saw this version (UTC).",
    "last_seen_at": "When a run last saw this version (UTC).",
    "last_run_id": "The run that last saw this version.",
    "sightings": "How many runs saw this version.",
    "version": "1 for the first version of the record seen, 2 for the next, ...",
    "is_current": "True for the version the latest run saw: the one the *_current views show.",
    "diagnosis_text": "The diagnosis mention as printed.",
    "icd10_code": "The ICD-10-CM code printed in the mention, if any.",
    "diagnosis_name": "The mention without its code and without what follows a ':', ';' or ' - ' (status, plan), "
    "lower-cased: 'M10.9  Gout', 'Gout (M10.9)' and 'Gout - stable' all read 'gout'.",
    "medication_text": "The medication mention as printed.",
    "medication_name": "The words before the first number, lower-cased: the drug's name as printed.",
    "dose": "The first amount with a unit in the mention (e.g. '500 mg'), if any.",
    "page": "1-based PDF page of the span, when known.",
    "run_started_at": "When the run that stored the encounter started (UTC).",
    "run_status": "That run's status.",
    "input_uri": "File URI of the input the encounter came from.",
    "input_sha256": "sha256 of the input's bytes as its manifest declared them.",
    "input_size": "Size of the input in bytes as its manifest declared it.",
    "evidence_spans": "Number of evidence spans grounding the encounter.",
    "media_type": "MIME type of the input.",
    "sha256": "sha256 of the input's bytes.",
}


def _model_docs(model: type[BaseModel] | None) -> dict[str, str]:
    if model is None:
        return {}
    docs = {name: field.description or "" for name, field in model.model_fields.items()}
    if "start" in docs:  # Evidence stores start/end as start_char/end_char
        docs["start_char"], docs["end_char"] = docs.pop("start"), docs.pop("end")
    return {k: v for k, v in docs.items() if v}


def column_doc(view: View, column: str) -> str | None:
    return _model_docs(view.model).get(column) or EXTRA_COLUMN_DOCS.get(column)


def _parquet_source(root: Path, table: str) -> str:
    pattern = str(root / table / "*" / "*.parquet").replace("'", "''")
    return f"read_parquet('{pattern}', hive_partitioning = true, union_by_name = true)"


def _sql_text(value: str) -> str:
    return "'" + " ".join(value.split()).replace("'", "''") + "'"


def build_catalog(out_dir: Path) -> Path:
    """Writes ``OUT/catalog.duckdb`` (views and comments only) under a temporary name and renames it into place.
    The Parquet schema files must exist (``Catalog.write_schema_files``)."""
    out_dir = Path(out_dir).resolve()
    root = out_dir / PARQUET_DIR
    target = out_dir / CATALOG_NAME
    tmp = out_dir / f".{CATALOG_NAME}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    sources = {t: _parquet_source(root, t) for t in PUBLISHED_TABLES}
    con = duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})
    try:
        for view in VIEWS:
            sql = view.sql
            for table, source in sources.items():
                sql = sql.replace(f"{{parquet:{table}}}", source)
            con.execute(f"CREATE VIEW {view.name} AS {sql}")
            con.execute(f"COMMENT ON VIEW {view.name} IS {_sql_text(view.description)}")
            for (column,) in con.execute(f"SELECT column_name FROM (DESCRIBE {view.name})").fetchall():
                doc = column_doc(view, column)
                if doc:
                    con.execute(f'COMMENT ON COLUMN {view.name}."{column}" IS {_sql_text(doc)}')
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, target)
    return target


def data_dictionary(catalog: duckdb.DuckDBPyConnection) -> str:
    """The catalog's views and columns, with their types and comments, as Markdown."""
    lines = ["# chartsift data dictionary", ""]
    comments = dict(catalog.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
    for view in VIEWS:
        lines += [f"## `{view.name}`", "", comments.get(view.name) or "", "", "| column | type | description |", "|---|---|---|"]
        rows = catalog.execute(
            "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [view.name]
        ).fetchall()
        lines += [f"| `{name}` | {kind} | {(doc or '').replace('|', '/')} |" for name, kind, doc in rows]
        lines.append("")
    return "\n".join(lines)
