"""The stages of one run as plain functions: plan, process one record, quarantine, finish.

``flows/`` calls these from Prefect tasks; tests call them directly. Nothing here knows about an
orchestrator, and nothing here logs or raises patient text: only records' paths, hashes and counts.
"""

from __future__ import annotations

import secrets
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas import (
    ClinicalItem,
    DetectorInfo,
    Document,
    Encounter,
    EncounterType,
    Evidence,
    Manifest,
    PatientIdentity,
    QuarantineRecord,
    RecordSighting,
    Run,
    content_hash,
)

from pipeline import __version__
from pipeline.chunking import DEFAULT_CHUNK_CHARS, DEFAULT_OVERLAP_CHARS, Chunk, chunk_text
from pipeline.detect import (
    Detection,
    DetectionContext,
    DetectionInput,
    Detector,
    EncounterBoundary,
    GroundedValue,
    StepRecorder,
    create,
)
from pipeline.detect.features import encounter_review_reasons
from pipeline.errors import ChartsiftError, InputError, ManifestError, StageError
from pipeline.extract import ExtractedFields, Span, extract_fields
from pipeline.ingest import DEFAULT_MAX_LINE_CHARS, ingest
from pipeline.manifest import ManifestWorkspace, build_manifest, collect_inputs
from pipeline.patient import read_identity
from pipeline.catalog import build_catalog
from pipeline.store import Catalog
from pipeline.text import LineIndex


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that changes the rows a run produces; its hash keys completed records."""

    detector: str = "rules"
    detector_params: dict[str, Any] = field(default_factory=dict)
    chunk_chars: int = DEFAULT_CHUNK_CHARS
    overlap_chars: int = DEFAULT_OVERLAP_CHARS
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS

    def make_detector(self) -> Detector:
        return create(self.detector, **self.detector_params)

    def describe(self) -> dict[str, Any]:
        return {
            "pipeline_version": __version__,
            "detector": self.make_detector().describe(),
            "chunking": {"chunk_chars": self.chunk_chars, "overlap_chars": self.overlap_chars},
            "ingest": {"max_line_chars": self.max_line_chars},
        }

    def config_hash(self) -> str:
        return content_hash(self.describe())


@dataclass
class RunPlan:
    """A run ready to execute: its manifest, its run row and the inputs that could not be declared."""

    manifest: Manifest
    run: Run
    config: PipelineConfig
    problems: list[ManifestError]
    ignored_files: int
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RecordResult:
    document: Document
    chunks: tuple[Chunk, ...]
    encounters: tuple[Encounter, ...]
    patient: PatientIdentity


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_run_id(started_at: datetime) -> str:
    """Unique per invocation, sortable by start: two runs of one manifest are two runs."""
    return f"run-{started_at:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def plan_run(paths: list[str], out_dir: Path, config: PipelineConfig, flow_run_id: str | None = None) -> RunPlan:
    collected = collect_inputs(paths)
    description = config.describe()
    manifest = build_manifest(collected.inputs, Path(out_dir), __version__, description["detector"] | {"config": description})
    detector = description["detector"]
    started_at = now()
    run = Run(
        run_id=new_run_id(started_at),
        manifest_id=manifest.manifest_id,
        config_hash=config.config_hash(),
        pipeline_version=__version__,
        detector=DetectorInfo(name=detector["name"], version=detector["version"]),
        started_at=started_at,
        records_total=len(manifest.inputs) + len(collected.problems),
        flow_run_id=flow_run_id,
    )
    return RunPlan(manifest, run, config, collected.problems, collected.ignored_files, collected.missing, collected.empty)


def _validation_message(exc: ValidationError) -> str:
    """Pydantic's errors without the offending input values (which may be patient text)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "row"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _evidence(name: str, span: Span, pages: tuple[int, ...]) -> Evidence:
    page = bisect_right(pages, span.start) if pages else None
    return Evidence(field=name, start=span.start, end=span.end, text=span.text, page=page)


def build_encounter(
    document: Document,
    lines: LineIndex,
    boundary: EncounterBoundary,
    end: int,
    index: int,
    run: Run,
    detector: DetectorInfo,
    detection: Detection | None = None,
) -> Encounter:
    """Extracts the fields of one encounter span (the detector's own grounded values win over the
    rules extractor's) and validates the row against the document text."""
    fields = extract_fields(document.text, lines, boundary.start_char, end)
    _apply_grounded(fields, boundary.values)
    pages = document.page_starts
    evidence: list[Evidence] = []
    values: dict[str, Any] = {}
    if fields.encounter_date:
        values["encounter_date"], span = fields.encounter_date
        evidence.append(_evidence("encounter_date", span, pages))
    if fields.end_date:
        values["end_date"], span = fields.end_date
        evidence.append(_evidence("end_date", span, pages))
    if fields.encounter_type:
        kind, span = fields.encounter_type
        values["encounter_type"] = kind
        values["encounter_type_text"] = span.text if fields.type_printed else None
        values["encounter_type_source"] = "printed" if fields.type_printed else "inferred"
        evidence.append(_evidence("encounter_type", span, pages))
    for name in ("provider", "facility", "chief_complaint"):
        span = getattr(fields, name)
        if span is not None:
            values[name] = span.text
            evidence.append(_evidence(name, span, pages))
    items = {
        name: tuple(ClinicalItem(value=s.text, evidence=_evidence(name, s, pages)) for s in spans)
        for name, spans in (("diagnoses", fields.diagnoses), ("medications", fields.medications))
    }
    data = {
        "encounter_id": "enc-" + content_hash([document.document_id, run.config_hash, boundary.start_char, end])[:24],
        "run_id": run.run_id,
        "manifest_id": run.manifest_id,
        "document_id": document.document_id,
        "config_hash": run.config_hash,
        "record": document.record,
        "encounter_index": index,
        "start_char": boundary.start_char,
        "end_char": end,
        "start_line": lines.line_of(boundary.start_char) + 1,
        "end_line": lines.line_of(end - 1) + 1,
        "detector": detector,
        "boundary_score": boundary.score,
        "boundary_cues": boundary.cues,
        "sandbox_level": detection.sandbox_level if detection else None,
        "fallback_reason": detection.fallback_reason if detection else None,
        "review_reasons": encounter_review_reasons(
            detection.candidates, detection.review_reasons, lines.line_of(boundary.start_char), lines.line_of(end - 1)
        )
        if detection
        else (),
        "evidence": tuple(evidence),
        **items,
        **values,
    }
    return Encounter.model_validate(data, context={"text": document.text})


def build_patient(document: Document, lines: LineIndex, run: Run) -> PatientIdentity:
    """The record's patient identity, validated against the document text like every stored value."""
    found = read_identity(document.text, lines)
    values: dict[str, Any] = {}
    for field, span in (("name", found.name), ("mrn", found.mrn)):
        if span is not None:
            values |= {field: span.text, f"{field}_start": span.start, f"{field}_end": span.end}
    if found.birth_date is not None:
        when, span = found.birth_date
        values |= {"birth_date": when, "birth_date_text": span.text, "birth_date_start": span.start, "birth_date_end": span.end}
    return PatientIdentity.model_validate(
        {"document_id": document.document_id, "config_hash": run.config_hash, "run_id": run.run_id,
         "patient_key": found.patient_key, "identities_seen": found.identities_seen, **values},
        context={"text": document.text},
    )


def _apply_grounded(fields: ExtractedFields, values: tuple[GroundedValue, ...]) -> None:
    """Overrides extracted fields with values a detector grounded itself."""
    for value in values:
        span = Span(value.start, value.end, value.text)
        if value.field in ("encounter_date", "end_date"):
            setattr(fields, value.field, (date.fromisoformat(value.value), span))
        elif value.field == "encounter_type":
            fields.encounter_type = (EncounterType(value.value), span)
            fields.type_printed = True
        elif value.field in ("provider", "facility", "chief_complaint"):
            setattr(fields, value.field, span)
    grounded = {value.field for value in values}
    if fields.encounter_date and fields.end_date and fields.end_date[0] < fields.encounter_date[0]:
        # The extractor paired its discharge with its own admission; the detector's date moved the
        # admission past it, so the extractor's value that disagrees with the detector goes.
        if "end_date" in grounded and "encounter_date" not in grounded:
            fields.encounter_date = None
        else:
            fields.end_date = None


def process_record(
    workspace: ManifestWorkspace, record: str, plan: RunPlan, detector: Detector, recorder: StepRecorder | None = None
) -> RecordResult:
    """Ingest, chunk, detect and extract one record. Raises ``InputError`` (with its stage) or
    ``StageError``; both name the record and the reason, never its text."""
    declared = workspace.input(record)
    stage = "ingest"
    try:
        document = ingest(declared, workspace.read_bytes(record), plan.config.max_line_chars)
        stage = "chunk"
        lines = LineIndex(document.text)
        chunks = tuple(chunk_text(document.text, plan.config.chunk_chars, plan.config.overlap_chars, lines=lines))
        stage = "detect"
        context = DetectionContext(
            run_id=plan.run.run_id,
            config_hash=plan.run.config_hash,
            record=record,
            workspace=workspace,
            recorder=recorder,
            scratch_dir=Path(plan.manifest.output_dir) / "scratch" / document.document_id[:16],
        )
        detection = detector.run(DetectionInput(document.document_id, document.text, lines, context))
        boundaries = detection.boundaries
        _check_boundaries(record, boundaries, document.char_count, lines)
        stage = "extract"
        lines = lines.with_furniture(detection.furniture)
        info = DetectorInfo(name=detector.name, version=detector.version)
        ends = [b.start_char for b in boundaries[1:]] + [document.char_count]
        encounters = tuple(
            build_encounter(document, lines, b, end, i, plan.run, info, detection)
            for i, (b, end) in enumerate(zip(boundaries, ends, strict=True))
        )
        patient = build_patient(document, lines, plan.run)
    except ChartsiftError:
        raise
    except ValidationError as exc:
        raise InputError(record, f"a row failed validation ({_validation_message(exc)})") from None
    except Exception as exc:  # a bug must quarantine one record, not stop the batch
        raise StageError(record, stage, exc) from exc
    return RecordResult(document, chunks, encounters, patient)


def _check_boundaries(record: str, boundaries: list[EncounterBoundary], length: int, lines: LineIndex) -> None:
    starts = [b.start_char for b in boundaries]
    if not starts or starts[0] != 0:
        raise InputError(record, "detector output does not start at offset 0")
    if any(b <= a for a, b in zip(starts, starts[1:])):
        raise InputError(record, "detector boundaries are not strictly increasing")
    if starts[-1] >= length or any(lines.starts[lines.line_of(s)] != s for s in starts):
        raise InputError(record, "a detector boundary is not at a line start inside the text")


def quarantine_entry(run_id: str, record: str, uri: str, sha256: str | None, exc: ChartsiftError) -> QuarantineRecord:
    stage = getattr(exc, "stage", "ingest")
    error_class = getattr(exc, "error_class", type(exc).__name__)
    return QuarantineRecord(
        run_id=run_id, uri=uri, record=record, sha256=sha256, stage=stage, error_class=error_class, message=str(exc), created_at=now()
    )


@dataclass(frozen=True)
class RecordOutcome:
    """What happened to one record; ``message`` names the record and the reason, never its text."""

    record: str
    status: str  # "stored" | "skipped" | "quarantined"
    encounters: int = 0
    message: str = ""


@dataclass
class RunSummary:
    run_id: str
    out_dir: Path
    records: int = 0
    stored: int = 0
    skipped: int = 0
    quarantined: int = 0
    encounters: int = 0
    ignored_files: int = 0
    seconds: float = 0.0
    quarantine_messages: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 3 if self.quarantined else 0

    def add(self, outcome: RecordOutcome) -> None:
        if outcome.status == "stored":
            self.stored += 1
            self.encounters += outcome.encounters
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self.quarantined += 1
            self.quarantine_messages.append(outcome.message)

    def as_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}

    @classmethod
    def for_plan(cls, plan: RunPlan, out_dir: Path) -> RunSummary:
        """A summary that already counts the inputs the manifest could not declare."""
        return cls(
            run_id=plan.run.run_id,
            out_dir=out_dir,
            records=len(plan.manifest.inputs) + len(plan.problems),
            quarantined=len(plan.problems),
            ignored_files=plan.ignored_files,
            quarantine_messages=[str(p) for p in plan.problems],
            missing=list(plan.missing),
            empty=list(plan.empty),
        )


def run_record(catalog: Catalog, workspace: ManifestWorkspace, plan: RunPlan, detector: Detector, record: str) -> RecordOutcome:
    """Processes and stores one record, or quarantines it; skips it when already complete."""
    declared = workspace.input(record)
    if catalog.is_complete(declared.sha256, plan.run.config_hash):
        return skip_record(catalog, workspace, plan, record)
    try:
        result = process_record(workspace, record, plan, detector, recorder=catalog)
    except ChartsiftError as exc:
        catalog.quarantine(quarantine_entry(plan.run.run_id, record, declared.uri, declared.sha256, exc))
        return RecordOutcome(record, "quarantined", message=str(exc))
    if not catalog.store_record(
        plan.run.run_id, plan.run.config_hash, declared.uri, result.document, result.chunks, result.encounters, result.patient
    ):
        return skip_record(catalog, workspace, plan, record)
    return RecordOutcome(record, "stored", len(result.encounters))


def skip_record(catalog: Catalog, workspace: ManifestWorkspace, plan: RunPlan, record: str) -> RecordOutcome:
    """A record whose bytes are stored already under this configuration: this run saw that version."""
    declared = workspace.input(record)
    catalog.record_sighting(RecordSighting(
        run_id=plan.run.run_id, uri=declared.uri, record=record, document_id=declared.sha256,
        config_hash=plan.run.config_hash, outcome="skipped", seen_at=now(),
    ))
    return RecordOutcome(record, "skipped")



def start_run(catalog: Catalog, plan: RunPlan) -> list[str]:
    """Records the manifest and the run row, quarantines every input that could not be declared, and
    publishes the run (and the analyst catalog's views) at once. Returns the ids of runs found still
    'running' from a process that died, now marked failed (their stored records stay stored)."""
    abandoned = catalog.fail_abandoned_runs()
    catalog.record_manifest(plan.manifest)
    catalog.upsert_run(plan.run)
    for problem in plan.problems:
        catalog.quarantine(quarantine_entry(plan.run.run_id, problem.record, Path(problem.record).absolute().as_uri(), None, problem))
    with catalog.writing():
        catalog.write_schema_files()
        build_catalog(catalog.out_dir)
    catalog.publish([plan.run.run_id, *abandoned])
    return abandoned


def finish_run(catalog: Catalog, plan: RunPlan, summary: RunSummary) -> Run:
    """Closes the run row with counts taken from the rows themselves (so ``runs`` always agrees with
    ``record_sightings`` and ``quarantine``), and publishes it."""
    counts = catalog.run_counts(plan.run.run_id)
    summary.stored, summary.skipped, summary.quarantined, summary.encounters = (
        counts["stored"], counts["skipped"], counts["quarantined"], counts["encounters"]
    )
    status = "completed_with_quarantine" if summary.quarantined else "completed"
    run = plan.run.model_copy(
        update={
            "finished_at": now(),
            "status": status,
            "records_stored": summary.stored,
            "records_skipped": summary.skipped,
            "records_quarantined": summary.quarantined,
            "encounters": summary.encounters,
        }
    )
    catalog.upsert_run(run)
    catalog.publish([run.run_id])
    return run
