"""Detection and extraction of a corpus in this process, without a catalog or Prefect.

Why: evaluating a detector, leaving families out to train and score, and benchmarking all need the
pipeline's answer for hundreds of records in seconds, not a run with a manifest, a server and a
store. The answer is the same as a run's (same detector, same extractor, same field mapping as
``export``), in corpus format, plus every candidate the detector weighed with its probability.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from pipeline.detect import DetectionInput, ScoredCandidate, create
from pipeline.extract import extract_fields
from pipeline.ingest import decode
from pipeline.text import LineIndex


@dataclass(frozen=True)
class Prediction:
    """One record's encounters (corpus format) and the detector's scored candidates."""

    record: str
    text: str
    encounters: list[dict[str, Any]]
    candidates: tuple[ScoredCandidate, ...]
    review_reasons: tuple[str, ...]

    def corpus_entry(self) -> dict[str, Any]:
        return {"record": self.record, "encounters": self.encounters}


_DETECTORS: dict[tuple, Any] = {}


def _detector(name: str, params: tuple) -> Any:
    key = (name, params)
    if key not in _DETECTORS:
        _DETECTORS[key] = create(name, **dict(params))
    return _DETECTORS[key]


def predict_text(record: str, text: str, detector: str = "rules", params: dict[str, Any] | None = None) -> Prediction:
    lines = LineIndex(text)
    detection = _detector(detector, tuple(sorted((params or {}).items()))).run(DetectionInput(record, text, lines))
    starts = [b.start_char for b in detection.boundaries] + [len(text)]
    lines = lines.with_furniture(detection.furniture)
    encounters = []
    for boundary, start, end in zip(detection.boundaries, starts, starts[1:]):
        fields = extract_fields(text, lines, start, end)
        encounters.append(
            {
                "start": start,
                "end": end,
                "date": fields.encounter_date[0].isoformat() if fields.encounter_date else None,
                "type": fields.encounter_type[1].text if fields.encounter_type and fields.type_printed else None,
                "provider": fields.provider.text if fields.provider else None,
                "facility": fields.facility.text if fields.facility else None,
                "probability": boundary.score,
            }
        )
    return Prediction(record, text, encounters, detection.candidates, detection.review_reasons)


def _predict_file(args: tuple[str, str, str, dict[str, Any] | None]) -> Prediction:
    path, record, detector, params = args
    text = decode(Path(path).read_bytes(), record, "text/plain").text
    return predict_text(record, text, detector, params)


def predict_files(
    files: Iterable[tuple[Path, str]], detector: str = "rules", params: dict[str, Any] | None = None, jobs: int = 2
) -> list[Prediction]:
    """Predictions for (path, record name) pairs, in ``jobs`` processes, in the given order."""
    work = [(str(path), record, detector, params) for path, record in files]
    if jobs <= 1 or len(work) <= 1:
        return [_predict_file(w) for w in work]
    with get_context("spawn").Pool(jobs) as pool:
        return pool.map(_predict_file, work, chunksize=1)
