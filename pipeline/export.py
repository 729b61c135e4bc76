"""Reading a run back out of the catalog: corpus-format records, audits and stored texts."""

from __future__ import annotations

import json
from typing import Any

from pipeline.errors import CatalogError
from pipeline.store import Catalog


def resolve_run(catalog: Catalog, run_id: str | None) -> str:
    if run_id:
        if catalog.con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone() is None:
            raise CatalogError(f"no run {run_id} in {catalog.path}")
        return run_id
    latest = catalog.latest_run_id()
    if latest is None:
        raise CatalogError(f"{catalog.path} holds no run yet")
    return latest


def export_records(catalog: Catalog, run_id: str | None = None) -> list[dict[str, Any]]:
    """One corpus-format dict per stored record of the run (its manifest's inputs, its configuration)."""
    run_id = resolve_run(catalog, run_id)
    rows = catalog.con.execute(
        """
        SELECT i.record, i.sha256, e.start_char, e.end_char, e.encounter_date, e.encounter_type_text, e.provider,
               e.facility, e.encounter_id, e.encounter_type, e.end_date
        FROM runs r
        JOIN manifest_inputs i ON i.manifest_id = r.manifest_id
        JOIN encounters e ON e.document_id = i.sha256 AND e.config_hash = r.config_hash
        WHERE r.run_id = ?
        ORDER BY i.record, e.encounter_index
        """,
        [run_id],
    ).fetchall()
    records: dict[str, dict[str, Any]] = {}
    for record, sha, start, end, when, type_text, provider, facility, enc_id, kind, end_date in rows:
        entry = records.setdefault(record, {"record": record, "document_id": sha, "encounters": []})
        entry["encounters"].append(
            {
                "start": start,
                "end": end,
                "date": when.isoformat() if when else None,
                "type": type_text,
                "provider": provider,
                "facility": facility,
                "encounter_id": enc_id,
                "encounter_type": kind,
                "end_date": end_date.isoformat() if end_date else None,
            }
        )
    return list(records.values())


def document_texts(catalog: Catalog, run_id: str | None = None) -> dict[str, str]:
    """Stored text of each record of the run, keyed by its record path."""
    run_id = resolve_run(catalog, run_id)
    rows = catalog.con.execute(
        """
        SELECT i.record, d.text FROM runs r
        JOIN manifest_inputs i ON i.manifest_id = r.manifest_id
        JOIN documents d ON d.document_id = i.sha256
        WHERE r.run_id = ?
        """,
        [run_id],
    ).fetchall()
    return dict(rows)


def audit_trail(catalog: Catalog, encounter_id: str) -> dict[str, Any]:
    """Encounter -> evidence spans (checked against the stored text) -> document -> manifest -> run."""
    con = catalog.con

    def one(sql: str, params: list[Any]) -> dict[str, Any]:
        cursor = con.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return {}
        return dict(zip([d[0] for d in cursor.description], row, strict=True))

    encounter = one("SELECT * FROM encounters WHERE encounter_id = ?", [encounter_id])
    if not encounter:
        raise CatalogError(f"no encounter {encounter_id} in {catalog.path}")
    document = one(
        "SELECT document_id, record, media_type, encoding, char_count, line_count, warnings, first_run_id FROM documents WHERE document_id = ?",
        [encounter["document_id"]],
    )
    cursor = con.execute(
        """SELECT v.field, v.item_index, v.start_char, v.end_char, v.page, v.text,
                  substr(d.text, v.start_char + 1, v.end_char - v.start_char) = v.text AS matches_document
           FROM evidence v JOIN documents d USING (document_id)
           WHERE v.encounter_id = ? ORDER BY v.start_char, v.field, v.item_index""",
        [encounter_id],
    )
    columns = [d[0] for d in cursor.description]
    evidence = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    manifest_input = one(
        "SELECT * FROM manifest_inputs WHERE manifest_id = ? AND sha256 = ?", [encounter["manifest_id"], encounter["document_id"]]
    )
    manifest = one("SELECT * FROM manifests WHERE manifest_id = ?", [encounter["manifest_id"]])
    if manifest:
        manifest["detector"] = json.loads(manifest["detector"])
    run = one("SELECT * FROM runs WHERE run_id = ?", [encounter["run_id"]])
    return {
        "encounter": encounter,
        "evidence": evidence,
        "document": document,
        "manifest_input": manifest_input,
        "manifest": manifest,
        "run": run,
    }
