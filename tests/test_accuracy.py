"""Accuracy floors of the rules detector and extractor on freshly generated records.

The records come from pipeline.synth, which was written independently of the detector's cues and
sets its own traps (0-4 blank lines between encounters, blank lines inside notes, separators that
look like header banners, 17 header formats, inpatient stays, copy-forward, OCR noise, page
furniture, false date cues). Nothing here is tuned to these two seeds: the floors sit well below what
the detector scores on other seeds (measured on seeds 1-6 and 100-109 with 12 records each, detector
2.0: clean F1 within 2 lines 0.953-0.996, Pk 0.002-0.031, date accuracy 0.958-1.000; hard F1 within 2
lines 0.918-0.969, Pk 0.016-0.058, date accuracy 0.874-0.949), so seed noise does not fail the test
but a real regression does (detector 1.0 scored about 0.64 clean / 0.55 hard F1 on these records).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.detect import DetectionInput, create
from pipeline.evaluation import SliceScores, score
from pipeline.extract import extract_fields
from pipeline.synth import generate_corpus
from pipeline.text import LineIndex

SEED = 2024
RECORDS = 12
# variant -> (F1 within 2 lines at least, Pk at most, date accuracy at least)
FLOORS = {
    "clean": (0.90, 0.06, 0.90),
    "hard": (0.86, 0.10, 0.82),
}


def _predict(text: str) -> list[dict]:
    """Corpus-format encounters (spans tiling the text) with the extracted fields."""
    lines = LineIndex(text)
    starts = [b.start_char for b in create("rules").detect(DetectionInput("doc", text, lines))]
    encounters = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(text)
        fields = extract_fields(text, lines, start, end)
        encounters.append(
            {
                "start": start,
                "end": end,
                "date": fields.encounter_date[0].isoformat() if fields.encounter_date else None,
                "type": fields.encounter_type[1].text if fields.encounter_type and fields.type_printed else None,
                "provider": fields.provider.text if fields.provider else None,
                "facility": fields.facility.text if fields.facility else None,
            }
        )
    return encounters


def _scores(out: Path, variant: str) -> SliceScores:
    gold = generate_corpus(out, records=RECORDS, seed=SEED, variant=variant)
    texts = {g["record"]: (out / "records" / g["record"]).read_text(encoding="utf-8") for g in gold}
    pred = [{"record": g["record"], "encounters": _predict(texts[g["record"]])} for g in gold]
    return score(gold, pred, texts)["all"]


@pytest.mark.parametrize("variant", ["clean", "hard"])
def test_rules_accuracy_on_fresh_synthetic_records(tmp_path: Path, variant: str) -> None:
    near_f1, pk, date_accuracy = FLOORS[variant]
    scores = _scores(tmp_path, variant)
    assert scores.records == RECORDS
    assert scores.near_f1 is not None and scores.near_f1 >= near_f1, scores
    assert scores.pk is not None and scores.pk <= pk, scores
    assert scores.date_accuracy is not None and scores.date_accuracy >= date_accuracy, scores
