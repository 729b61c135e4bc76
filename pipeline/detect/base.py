"""The detector interface and its registry: a new detector is one class and one decorator."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from pipeline.errors import UsageError
from pipeline.text import LineIndex


@dataclass(frozen=True)
class EncounterBoundary:
    """Where one encounter starts: a line start offset, its 0-based line, a score and the cues behind it."""

    start_char: int
    line: int
    score: float
    cues: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetectionInput:
    """What a detector may look at: the stored text and its line structure."""

    document_id: str
    text: str
    lines: LineIndex


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

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "params": self.config()}


_REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    return sorted(_REGISTRY)


def create(name: str, **params: Any) -> Detector:
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown detector {name!r}; available: {', '.join(available())}") from None
    return cls(**params)
