"""The nightly check of an output folder: are stored rows still true to their sources, and is detection
as good as it was? Plain functions; ``flows/verify.py`` schedules them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipeline.manifest import verify_manifest
from pipeline.store import Catalog


@dataclass
class CatalogCheck:
    """Problems found in one output folder's recent runs. ``changed_inputs`` is information, not a
    failure: an inbox file that changed is a new version of its record."""

    out_dir: str
    runs: int = 0
    evidence_checked: int = 0
    evidence_mismatches: int = 0
    count_mismatches: list[str] = field(default_factory=list)
    changed_inputs: int = 0

    @property
    def ok(self) -> bool:
        return not self.evidence_mismatches and not self.count_mismatches


def check_catalog(out_dir: Path, days: float = 2.0) -> CatalogCheck:
    """Every evidence span (and patient value) of the runs of the last ``days`` against its document text, every finished
    run's counts against its rows, and every input of their manifests against its declared sha256."""
    since = datetime.now(timezone.utc) - timedelta(days=days)
    check = CatalogCheck(str(out_dir))
    with Catalog(out_dir, read_only=True) as catalog:
        con = catalog.con
        runs = con.execute("SELECT run_id, manifest_id FROM runs WHERE started_at >= ? ORDER BY started_at", [since]).fetchall()
        check.runs = len(runs)
        ids = [r[0] for r in runs]
        check.evidence_checked, check.evidence_mismatches = con.execute(
            """SELECT count(*), count(*) FILTER (substr(d.text, v.start_char + 1, v.end_char - v.start_char) <> v.text)
               FROM evidence v JOIN encounters e USING (encounter_id) JOIN documents d ON d.document_id = v.document_id
               WHERE e.run_id IN (SELECT unnest($1::VARCHAR[]))""",
            [ids],
        ).fetchone()
        check.evidence_checked += con.execute(
            "SELECT count(*) FROM patients WHERE run_id IN (SELECT unnest($1::VARCHAR[]))", [ids]
        ).fetchone()[0]
        check.evidence_mismatches += con.execute(
            """SELECT count(*) FROM patients p JOIN documents d USING (document_id)
               WHERE p.run_id IN (SELECT unnest($1::VARCHAR[])) AND (
                     substr(d.text, p.name_start + 1, p.name_end - p.name_start) <> p.name
                  OR substr(d.text, p.mrn_start + 1, p.mrn_end - p.mrn_start) <> p.mrn
                  OR substr(d.text, p.birth_date_start + 1, p.birth_date_end - p.birth_date_start) <> p.birth_date_text)""",
            [ids],
        ).fetchone()[0]
        check.count_mismatches = [
            run_id for (run_id,) in con.execute(
                """SELECT r.run_id FROM runs r WHERE r.run_id IN (SELECT unnest($1::VARCHAR[])) AND r.status <> 'running' AND (
                       r.records_quarantined <> (SELECT count(*) FROM quarantine q WHERE q.run_id = r.run_id)
                    OR r.records_stored <> (SELECT count(*) FROM record_sightings s WHERE s.run_id = r.run_id AND s.outcome = 'stored')
                    OR r.records_skipped <> (SELECT count(*) FROM record_sightings s WHERE s.run_id = r.run_id AND s.outcome = 'skipped'))""",
                [ids],
            ).fetchall()
        ]
        manifests = [catalog.manifest(m) for m in dict.fromkeys(r[1] for r in runs)]
    check.changed_inputs = sum(c.status != "ok" for m in manifests for c in verify_manifest(m))
    return check


def gold_f1(gold_path: Path) -> float:
    """Boundary F1 (within 2 lines) of the default rules detector on a gold file's records (``records/`` beside it)."""
    from pipeline import evaluation
    from pipeline.offline import predict_files

    gold = evaluation.load_jsonl(gold_path)
    records = gold_path.parent / "records"
    predictions = predict_files(((records / g["record"], g["record"]) for g in gold), "rules", {}, jobs=1)
    scores = evaluation.score(gold, [p.corpus_entry() for p in predictions], {p.record: p.text for p in predictions})
    return float(scores["all"].near_f1 or 0.0)
