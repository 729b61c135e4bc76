"""The detector interface and its registry: a new detector is one class and one decorator."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pipeline.errors import UsageError
from pipeline.text import LineIndex


@dataclass(frozen=True)
class GroundedValue:
    """A field value a detector read itself, with the span of the stored text it stands on.
    ``value`` is the normalised form (ISO date, closed-vocabulary type); ``text`` is ``doc.text[start:end]``."""

    field: str
    start: int
    end: int
    text: str
    value: str


@dataclass(frozen=True)
class EncounterBoundary:
    """Where one encounter starts: a line start offset, its 0-based line, a score and the cues behind it.
    ``values`` optionally carries fields the detector grounded itself; they take precedence over the
    rules extractor's for this encounter."""

    start_char: int
    line: int
    score: float
    cues: tuple[str, ...] = ()
    values: tuple[GroundedValue, ...] = ()


class StepRecorder(Protocol):
    """Where a detector that takes steps (the agent) writes its audit log and checkpoints, outside any sandbox."""

    def record_agent_step(self, step: dict[str, Any]) -> None: ...

    def save_agent_state(self, run_id: str, document_id: str, config_hash: str, state: dict[str, Any]) -> None: ...

    def load_agent_state(self, document_id: str, config_hash: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class DetectionContext:
    """What a run offers a detector beyond the text: who it is, the manifest's inputs and a recorder."""

    run_id: str
    config_hash: str
    record: str
    workspace: Any  # pipeline.manifest.ManifestWorkspace (kept untyped to avoid an import cycle)
    recorder: StepRecorder | None = None
    scratch_dir: Path | None = None  # a private folder the detector may use, e.g. the sandbox's output


@dataclass(frozen=True)
class DetectionInput:
    """What a detector may look at: the stored text and its line structure, and the run's context."""

    document_id: str
    text: str
    lines: LineIndex
    context: DetectionContext | None = None


@dataclass(frozen=True)
class ScoredCandidate:
    """A line the detector weighed as an encounter start, and the probability it gave it."""

    line: int
    probability: float


@dataclass(frozen=True)
class Detection:
    """A detector's answer for one document, with how it was obtained."""

    boundaries: list[EncounterBoundary]
    sandbox_level: str | None = None
    fallback_reason: str | None = None  # why the answer is the rules fallback, when it is
    dropped_evidence: int = 0
    candidates: tuple[ScoredCandidate, ...] = ()  # every candidate weighed, when the detector scores them
    review_reasons: tuple[str, ...] = ()  # why a person should look at this record (empty: no reason)
    furniture: frozenset[int] = frozenset()  # lines the detector's reading set aside as page furniture


class Detector(ABC):
    """Finds encounter starts in one document. The first boundary is always at offset 0."""

    name: ClassVar[str]
    version: ClassVar[str]

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Parameters that change the output; they enter the configuration hash."""

    @abstractmethod
    def detect(self, doc: DetectionInput) -> list[EncounterBoundary]:
        """Boundaries in text order, starting at offset 0, each at a line start."""

    def run(self, doc: DetectionInput) -> Detection:
        """The full answer; detectors that can fall back or run sandboxed override this."""
        return Detection(self.detect(doc))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "params": self.config()}


_REGISTRY: dict[str, type[Detector]] = {}
# Detectors imported on first use: their modules pull in heavy dependencies (the model client).
_LAZY = {"agent": "pipeline.agent.detector"}


def register(cls: type[Detector]) -> type[Detector]:
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    return sorted(set(_REGISTRY) | set(_LAZY))


def create(name: str, **params: Any) -> Detector:
    if name not in _REGISTRY and name in _LAZY:
        importlib.import_module(_LAZY[name])
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown detector {name!r}; available: {', '.join(available())}") from None
    return cls(**params)
