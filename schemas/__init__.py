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
    "QuarantineRecord",
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

    value: str
    evidence: Evidence


class DetectorInfo(_Frozen):
    name: str
    version: str


# Fields of Encounter that must carry evidence when they are not null.
EVIDENCED_FIELDS = ("encounter_date", "end_date", "encounter_type", "provider", "facility", "chief_complaint")


class Encounter(_Frozen):
    """One visit or stay inside one record: the row analysts query and clinicians review."""

    encounter_id: str = Field(description="Deterministic: hash of document, configuration and span.")
    run_id: str
    manifest_id: str
    document_id: str = Field(description="sha256 of the input's bytes.")
    config_hash: str = Field(description="Hash of the pipeline configuration that produced this row.")
    record: str = Field(description="The input's path relative to the root it was given under.")
    encounter_index: int = Field(ge=0)
    start_char: int = Field(ge=0)
    end_char: int = Field(ge=0, description="Exclusive.")
    start_line: int = Field(ge=1, description="1-based line of start_char.")
    end_line: int = Field(ge=1, description="1-based line of the last character of the encounter.")
    encounter_date: date | None = None
    end_date: date | None = Field(default=None, description="Discharge date of a stay, if any.")
    encounter_type: EncounterType | None = None
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
    provider: str | None = None
    facility: str | None = None
    chief_complaint: str | None = None
    diagnoses: tuple[ClinicalItem, ...] = ()
    medications: tuple[ClinicalItem, ...] = ()
    detector: DetectorInfo
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
    evidence: tuple[Evidence, ...] = ()

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
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    media_type: str

    @model_validator(mode="after")
    def _safe_record(self) -> ManifestInput:
        parts = self.record.replace("\\", "/").split("/")
        if self.record.startswith("/") or ".." in parts or not self.record:
            raise ValueError("manifest input record path must be relative and must not contain '..'")
        return self


class Manifest(_Frozen):
    """The declared, content-hashed inputs and output of a run; its id is the hash of its content."""

    manifest_id: str
    inputs: tuple[ManifestInput, ...]
    output_dir: str
    pipeline_version: str
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
    record: str
    media_type: str
    encoding: str
    text: str
    char_count: int = Field(ge=0)
    line_count: int = Field(ge=0)
    removed_cr: tuple[int, ...] = Field(
        default=(), description="Offsets in the decoded text where a '\\r' of a CRLF pair was dropped."
    )
    page_starts: tuple[int, ...] = Field(default=(), description="Offsets where each PDF page starts.")
    warnings: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _counts(self) -> Document:
        if self.char_count != len(self.text):
            raise ValueError("char_count does not match the text")
        return self


class Run(_Frozen):
    """One execution of the pipeline over one manifest."""

    run_id: str
    manifest_id: str
    config_hash: str
    pipeline_version: str
    detector: DetectorInfo
    started_at: datetime
    finished_at: datetime | None = None
    status: Literal["running", "completed", "completed_with_quarantine", "failed"] = "running"
    records_total: int = 0
    records_stored: int = 0
    records_skipped: int = 0
    records_quarantined: int = 0
    encounters: int = 0


class QuarantineRecord(_Frozen):
    """An input that could not be processed, and why. Never holds patient text."""

    run_id: str
    uri: str
    record: str
    sha256: str | None = None
    stage: Literal["manifest", "ingest", "chunk", "detect", "extract", "validate", "store"]
    error_class: str
    message: str
    created_at: datetime


SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m for m in (Manifest, ManifestInput, Document, Encounter, Evidence, ClinicalItem, Run, QuarantineRecord)
}
