"""The contract of every row chartsift stores or exchanges.

These Pydantic models are validated on the way into the catalog and exported as JSON Schema
(`chartsift schema`), so the agent detector can use the very same shapes as its structured-output
contract. Checks that need the document's text (offsets inside it, evidence equal to its slice) run
when the text is passed as validation context: ``Encounter.model_validate(data, context={"text": t})``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

__all__ = [
    "DetectorInfo",
    "Document",
    "Encounter",
    "EncounterType",
    "Evidence",
    "ClinicalItem",
    "Manifest",
    "ManifestInput",
    "PatientIdentity",
    "QuarantineRecord",
    "RecordSighting",
    "Run",
    "canonical_json",
    "content_hash",
    "SCHEMA_MODELS",
]


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the form that content hashes are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any) -> str:
    """sha256 hex of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EncounterType(str, Enum):
    """Closed vocabulary of encounter types; the printed label is kept separately."""

    office_visit = "office_visit"
    emergency = "emergency"
    inpatient = "inpatient"
    telehealth = "telehealth"
    telephone = "telephone"
    procedure = "procedure"
    imaging = "imaging"
    lab = "lab"
    consult = "consult"
    other = "other"


class Evidence(_Frozen):
    """A character interval of the stored document text that grounds one field value."""

    field: str = Field(description="Name of the field this span supports, e.g. 'encounter_date'.")
    start: int = Field(ge=0, description="Start offset (inclusive) into the stored document text.")
    end: int = Field(ge=0, description="End offset (exclusive) into the stored document text.")
    text: str = Field(description="The document text at [start:end], verbatim.")
    page: int | None = Field(default=None, ge=1, description="1-based PDF page, when known.")

    @model_validator(mode="after")
    def _interval(self, info: ValidationInfo) -> Evidence:
        if self.end <= self.start:
            raise ValueError(f"evidence for {self.field!r}: end {self.end} is not after start {self.start}")
        if len(self.text) != self.end - self.start:
            raise ValueError(f"evidence for {self.field!r}: text length does not match [{self.start}:{self.end}]")
        text = (info.context or {}).get("text")
        if text is not None:
            if self.end > len(text):
                raise ValueError(f"evidence for {self.field!r}: end {self.end} is past the document end {len(text)}")
            if text[self.start : self.end] != self.text:
                raise ValueError(f"evidence for {self.field!r}: text differs from the document at [{self.start}:{self.end}]")
        return self


class ClinicalItem(_Frozen):
    """One diagnosis or medication mention, grounded by its own evidence span."""

    value: str = Field(description="The mention as printed in the record.")
    evidence: Evidence = Field(description="The span of the document text that holds the mention.")


class DetectorInfo(_Frozen):
    """Which detector produced a row, and which version of it."""

    name: str = Field(description="Registered detector name, e.g. 'rules' or 'agent'.")
    version: str = Field(description="The detector's version; its scorer's hash for the rules detector.")


# Fields of Encounter that must carry evidence when they are not null.
EVIDENCED_FIELDS = ("encounter_date", "end_date", "encounter_type", "provider", "facility", "chief_complaint")


class Encounter(_Frozen):
    """One visit or stay inside one record: the row analysts query and clinicians review."""

    encounter_id: str = Field(description="Deterministic: hash of document, configuration and span.")
    run_id: str = Field(description="The run that stored this row.")
    manifest_id: str = Field(description="The manifest (declared inputs) of that run.")
    document_id: str = Field(description="sha256 of the input's bytes.")
    config_hash: str = Field(description="Hash of the pipeline configuration that produced this row.")
    record: str = Field(description="The input's path relative to the root it was given under.")
    encounter_index: int = Field(ge=0, description="0-based position of the encounter in its record.")
    start_char: int = Field(ge=0, description="Offset of the encounter's first character in the document text.")
    end_char: int = Field(ge=0, description="Offset just past the encounter's last character (exclusive).")
    start_line: int = Field(ge=1, description="1-based line of start_char.")
    end_line: int = Field(ge=1, description="1-based line of the last character of the encounter.")
    encounter_date: date | None = Field(default=None, description="Date of service, or of admission for a stay.")
    end_date: date | None = Field(default=None, description="Discharge date of a stay, if any.")
    encounter_type: EncounterType | None = Field(
        default=None, description="Kind of encounter, one of a closed vocabulary (office_visit, emergency, inpatient, ...)."
    )
    encounter_type_text: str | None = Field(
        default=None, description="The type as printed in the record; null when the type was inferred."
    )
    encounter_type_source: Literal["printed", "inferred"] | None = Field(
        default=None,
        description=(
            "How encounter_type was read: 'printed' when the record prints the type (encounter_type_text is that "
            "phrase and the evidence span holds it); 'inferred' when no type is printed and the kind is implied by "
            "content, such as a note title ('Discharge Summary' -> inpatient), an admission/discharge pair or an "
            "opening heading ('Reason for Call:' -> telephone), whose span is then the evidence. Null without a type."
        ),
    )
    provider: str | None = Field(default=None, description="The clinician who saw the patient, as printed.")
    facility: str | None = Field(default=None, description="The clinic, hospital or practice, as printed.")
    chief_complaint: str | None = Field(default=None, description="The reason for the visit, as printed.")
    diagnoses: tuple[ClinicalItem, ...] = Field(default=(), description="Diagnosis mentions, each with its evidence span.")
    medications: tuple[ClinicalItem, ...] = Field(default=(), description="Medication mentions, each with its evidence span.")
    detector: DetectorInfo = Field(description="The detector that found the boundary.")
    boundary_score: float | None = Field(default=None, description="Detector confidence that a new encounter starts here.")
    boundary_cues: tuple[str, ...] = Field(default=(), description="Names of the cues behind the boundary.")
    sandbox_level: Literal["full", "partial", "none"] | None = Field(
        default=None, description="Isolation the detector's tools ran under, for detectors that run tools."
    )
    fallback_reason: str | None = Field(default=None, description="Why this row is the rules fallback of another detector.")
    review_reasons: tuple[str, ...] = Field(
        default=(),
        description=(
            "Why a person should check this encounter's bounds (empty: no reason): its own boundary, or a split "
            "passed over inside it, was decided with a probability near a coin toss; or its record as a whole was "
            "flagged (dated header-like blocks that opened nothing, too few encounters for its length). Counts only."
        ),
    )
    evidence: tuple[Evidence, ...] = Field(default=(), description="One span per field value above.")

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Encounter:
        if self.end_char <= self.start_char:
            raise ValueError(f"encounter {self.encounter_index}: end_char {self.end_char} is not after start_char {self.start_char}")
        if self.end_line < self.start_line:
            raise ValueError(f"encounter {self.encounter_index}: end_line before start_line")
        if self.encounter_type_source is not None and self.encounter_type is None:
            raise ValueError(f"encounter {self.encounter_index}: encounter_type_source without an encounter_type")
        if self.encounter_type_source == "inferred" and self.encounter_type_text is not None:
            raise ValueError(f"encounter {self.encounter_index}: an inferred encounter_type has no printed encounter_type_text")
        if self.end_date and self.encounter_date and self.end_date < self.encounter_date:
            raise ValueError(f"encounter {self.encounter_index}: discharge {self.end_date} is before admission {self.encounter_date}")
        fields_with_evidence = {e.field for e in self.evidence}
        for name in EVIDENCED_FIELDS:
            if getattr(self, name) is not None and name not in fields_with_evidence:
                raise ValueError(f"encounter {self.encounter_index}: {name} has a value but no evidence")
        spans = list(self.evidence) + [i.evidence for i in self.diagnoses + self.medications]
        for span in spans:
            if span.start < self.start_char or span.end > self.end_char:
                raise ValueError(f"encounter {self.encounter_index}: evidence for {span.field!r} lies outside the encounter")
        text = (info.context or {}).get("text")
        if text is not None:
            if self.end_char > len(text):
                raise ValueError(f"encounter {self.encounter_index}: end_char {self.end_char} is past the document end {len(text)}")
            for span in spans:
                if text[span.start : span.end] != span.text:
                    raise ValueError(f"evidence for {span.field!r} differs from the document at [{span.start}:{span.end}]")
        return self


class ManifestInput(_Frozen):
    """One declared input: the only way the pipeline is allowed to reach a file."""

    uri: str = Field(description="Absolute file URI of the input.")
    record: str = Field(description="Path relative to the root it was given under.")
    size: int = Field(ge=0, description="Size of the input in bytes when it was declared.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the input's bytes when it was declared.")
    media_type: str = Field(description="MIME type by suffix: text/plain or application/pdf.")

    @model_validator(mode="after")
    def _safe_record(self) -> ManifestInput:
        parts = self.record.replace("\\", "/").split("/")
        if self.record.startswith("/") or ".." in parts or not self.record:
            raise ValueError("manifest input record path must be relative and must not contain '..'")
        return self


class Manifest(_Frozen):
    """The declared, content-hashed inputs and output of a run; its id is the hash of its content."""

    manifest_id: str = Field(description="sha256 of the manifest's content: inputs, output folder, versions.")
    inputs: tuple[ManifestInput, ...] = Field(description="The declared inputs, sorted by record.")
    output_dir: str = Field(description="Absolute path of the output folder.")
    pipeline_version: str = Field(description="chartsift's version.")
    detector: dict[str, Any] = Field(description="Detector name, version and parameters.")

    @staticmethod
    def compute_id(inputs: tuple[ManifestInput, ...], output_dir: str, pipeline_version: str, detector: dict[str, Any]) -> str:
        body = {
            "inputs": [i.model_dump() for i in inputs],
            "output_dir": output_dir,
            "pipeline_version": pipeline_version,
            "detector": detector,
        }
        return content_hash(body)

    @model_validator(mode="after")
    def _content_addressed(self) -> Manifest:
        expected = self.compute_id(self.inputs, self.output_dir, self.pipeline_version, self.detector)
        if self.manifest_id != expected:
            raise ValueError("manifest_id is not the hash of the manifest's content")
        records = [i.record for i in self.inputs]
        if len(set(records)) != len(records):
            raise ValueError("manifest lists the same record path twice")
        return self


class Document(_Frozen):
    """A decoded, normalised input. All offsets in chartsift point into ``text``."""

    document_id: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the input bytes.")
    record: str = Field(description="The record path under which the document was first stored.")
    media_type: str = Field(description="MIME type of the input.")
    encoding: str = Field(description="The encoding the bytes were decoded from.")
    text: str = Field(description="The normalised text that every offset points into.")
    char_count: int = Field(ge=0, description="Length of text in characters.")
    line_count: int = Field(ge=0, description="Number of lines in text.")
    removed_cr: tuple[int, ...] = Field(
        default=(), description="Offsets in the decoded text where a '\\r' of a CRLF pair was dropped."
    )
    page_starts: tuple[int, ...] = Field(default=(), description="Offsets where each PDF page starts.")
    warnings: tuple[str, ...] = Field(default=(), description="What ingest repaired or noticed (no patient text).")

    @model_validator(mode="after")
    def _counts(self) -> Document:
        if self.char_count != len(self.text):
            raise ValueError("char_count does not match the text")
        return self


class Run(_Frozen):
    """One execution of the pipeline over one manifest: every invocation is its own run."""

    run_id: str = Field(description="Unique per invocation: its start time and a random suffix.")
    manifest_id: str = Field(description="The manifest of the inputs the run declared.")
    config_hash: str = Field(description="Hash of the pipeline configuration the run used.")
    pipeline_version: str = Field(description="chartsift's version.")
    detector: DetectorInfo = Field(description="The detector the run used.")
    started_at: datetime = Field(description="When the run started (UTC).")
    finished_at: datetime | None = Field(default=None, description="When the run finished; null while it runs.")
    status: Literal["running", "completed", "completed_with_quarantine", "failed"] = Field(
        default="running", description="running, completed, completed_with_quarantine or failed."
    )
    records_total: int = Field(default=0, description="Inputs declared, plus inputs that could not be declared.")
    records_stored: int = Field(default=0, description="Records processed and stored by this run.")
    records_skipped: int = Field(default=0, description="Records already stored with the same bytes and configuration.")
    records_quarantined: int = Field(default=0, description="Inputs set aside; each has its row in quarantine.")
    encounters: int = Field(default=0, description="Encounters stored by this run.")
    flow_run_id: str | None = Field(default=None, description="The Prefect flow run that executed the run, when there is one.")


class QuarantineRecord(_Frozen):
    """An input that could not be processed, and why. Never holds patient text."""

    run_id: str = Field(description="The run that set the input aside.")
    uri: str = Field(description="File URI of the input.")
    record: str = Field(description="The input's record path (or the argument that named it).")
    sha256: str | None = Field(default=None, description="sha256 of the input's bytes, when they could be read.")
    stage: Literal["manifest", "ingest", "chunk", "detect", "extract", "validate", "store"] = Field(
        description="The stage that failed."
    )
    error_class: str = Field(description="The kind of failure, e.g. InputError.")
    message: str = Field(description="What went wrong, naming the record and the reason (never its text).")
    created_at: datetime = Field(description="When the input was set aside (UTC).")


class PatientIdentity(_Frozen):
    """Who a record is about, as its banners and headers print it. Each value is the document text at its
    span (``text[name_start:name_end] == name``), like every other stored value."""

    document_id: str = Field(description="sha256 of the input's bytes: the document the identity was read from.")
    config_hash: str = Field(description="Hash of the pipeline configuration that read it.")
    run_id: str = Field(description="The run that stored it.")
    patient_key: str | None = Field(
        default=None,
        description="'mrn:' and the MRN as printed when one is; else 'nd:' and a hash of the normalised name and birth "
        "date; null when the record prints neither. One patient's records share it.",
    )
    name: str | None = Field(default=None, description="The patient's name as printed (most often printed, OCR variants folded).")
    name_start: int | None = Field(default=None, ge=0, description="Offset of the name in the document text.")
    name_end: int | None = Field(default=None, ge=0, description="Offset just past the name (exclusive).")
    birth_date: date | None = Field(default=None, description="The patient's date of birth.")
    birth_date_text: str | None = Field(default=None, description="The birth date as printed.")
    birth_date_start: int | None = Field(default=None, ge=0, description="Offset of the printed birth date.")
    birth_date_end: int | None = Field(default=None, ge=0, description="Offset just past the printed birth date (exclusive).")
    mrn: str | None = Field(default=None, description="The medical record number as printed.")
    mrn_start: int | None = Field(default=None, ge=0, description="Offset of the MRN in the document text.")
    mrn_end: int | None = Field(default=None, ge=0, description="Offset just past the MRN (exclusive).")
    identities_seen: int = Field(
        default=0, ge=0,
        description="Distinct MRNs (or names, without an MRN) the record prints: more than 1 flags pages of another patient.",
    )

    @model_validator(mode="after")
    def _grounded(self, info: ValidationInfo) -> PatientIdentity:
        text = (info.context or {}).get("text")
        for field, value, start, end in (
            ("name", self.name, self.name_start, self.name_end),
            ("birth_date", self.birth_date_text, self.birth_date_start, self.birth_date_end),
            ("mrn", self.mrn, self.mrn_start, self.mrn_end),
        ):
            if (value is None) != (start is None) or (start is None) != (end is None):
                raise ValueError(f"patient {field}: a value needs its span and a span its value")
            if value is None:
                continue
            if end - start != len(value):
                raise ValueError(f"patient {field}: text length does not match [{start}:{end}]")
            if text is not None and text[start:end] != value:
                raise ValueError(f"patient {field}: text differs from the document at [{start}:{end}]")
        if (self.birth_date is None) != (self.birth_date_text is None):
            raise ValueError("patient birth_date: a date needs its printed text")
        return self


class RecordSighting(_Frozen):
    """A run saw a record's bytes: stored them, or found them already stored. A record is its source URI;
    each distinct sha256 under one URI is a version, and the latest sighting decides the current one."""

    run_id: str = Field(description="The run that saw the record.")
    uri: str = Field(description="File URI of the record: its identity across versions.")
    record: str = Field(description="The record path in that run.")
    document_id: str = Field(description="sha256 of the bytes seen: the version.")
    config_hash: str = Field(description="Configuration under which its encounters are stored.")
    outcome: Literal["stored", "skipped"] = Field(description="stored: processed by this run; skipped: already stored.")
    seen_at: datetime = Field(description="When the run saw it (UTC).")


SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m
    for m in (Manifest, ManifestInput, Document, Encounter, Evidence, ClinicalItem, Run, QuarantineRecord, RecordSighting, PatientIdentity)
}
