from __future__ import annotations

import json
from datetime import date

import pytest
from pydantic import ValidationError

from pipeline.cli import main
from schemas import SCHEMA_MODELS, Encounter, Evidence

TEXT = "DATE OF SERVICE: 01/02/2020\nProvider: Ana Ruiz, MD\nBody.\n"


def encounter(**changes) -> dict:
    base = {
        "encounter_id": "enc-1",
        "run_id": "run-1",
        "manifest_id": "m",
        "document_id": "d" * 64,
        "config_hash": "c",
        "record": "r.txt",
        "encounter_index": 0,
        "start_char": 0,
        "end_char": len(TEXT),
        "start_line": 1,
        "end_line": 3,
        "encounter_date": date(2020, 1, 2),
        "provider": "Ana Ruiz, MD",
        "detector": {"name": "rules", "version": "1"},
        "evidence": [
            {"field": "encounter_date", "start": 17, "end": 27, "text": "01/02/2020"},
            {"field": "provider", "start": 38, "end": 50, "text": "Ana Ruiz, MD"},
        ],
    }
    base.update(changes)
    return base


def test_valid_encounter_passes_with_document_context() -> None:
    row = Encounter.model_validate(encounter(), context={"text": TEXT})
    assert TEXT[row.evidence[1].start : row.evidence[1].end] == row.provider


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end_char": 0}, "end_char 0 is not after start_char"),
        ({"end_char": len(TEXT) + 5}, "past the document end"),
        ({"end_date": date(2019, 12, 31)}, "discharge 2019-12-31 is before admission 2020-01-02"),
        ({"evidence": [{"field": "provider", "start": 38, "end": 50, "text": "Ana Ruiz, MD"}]}, "encounter_date has a value but no evidence"),
        (
            {"evidence": [{"field": "encounter_date", "start": 17, "end": 27, "text": "01/02/2021"}, {"field": "provider", "start": 38, "end": 50, "text": "Ana Ruiz, MD"}]},
            "differs from the document",
        ),
        ({"start_char": 20, "evidence": [{"field": "encounter_date", "start": 17, "end": 27, "text": "01/02/2020"}, {"field": "provider", "start": 38, "end": 50, "text": "Ana Ruiz, MD"}]}, "outside the encounter"),
        ({"encounter_type": "spa_day"}, "encounter_type"),
    ],
)
def test_validation_rejects_what_cannot_be_true(changes: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Encounter.model_validate(encounter(**changes), context={"text": TEXT})


def test_evidence_interval_checks() -> None:
    with pytest.raises(ValidationError, match="end 5 is not after start 5"):
        Evidence(field="x", start=5, end=5, text="")
    with pytest.raises(ValidationError, match="text length does not match"):
        Evidence(field="x", start=0, end=3, text="ab")


def test_schema_command_exports_every_model(capsys) -> None:
    assert main(["schema"]) == 0
    schemas = json.loads(capsys.readouterr().out)
    assert set(schemas) == set(SCHEMA_MODELS)
    enc = schemas["Encounter"]
    assert "encounter_id" in enc["required"]
    assert set(enc["$defs"]["EncounterType"]["enum"]) >= {"office_visit", "inpatient", "emergency", "other"}
    assert main(["schema", "Evidence"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "Evidence"
    assert main(["schema", "Nope"]) == 2
