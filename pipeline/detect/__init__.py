"""Encounter-boundary detectors behind one interface (see ``base``), looked up by name."""

from pipeline.detect import rules  # noqa: F401  (registers the rules detector)
from pipeline.detect.base import (
    Detection,
    DetectionContext,
    DetectionInput,
    Detector,
    EncounterBoundary,
    GroundedValue,
    ScoredCandidate,
    StepRecorder,
    available,
    create,
    register,
)

__all__ = [
    "Detection",
    "DetectionContext",
    "DetectionInput",
    "Detector",
    "EncounterBoundary",
    "GroundedValue",
    "ScoredCandidate",
    "StepRecorder",
    "available",
    "create",
    "register",
]
