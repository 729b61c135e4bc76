"""Scorer checks on hand-computed cases (no corpus files, no mocks)."""

from __future__ import annotations

import json

import pytest

from pipeline.errors import InputError
from pipeline.evaluation import (
    load_jsonl,
    normalise_name,
    normalise_text,
    render_table,
    score,
    to_json,
    worst_errors,
)

# Ten lines "line 0\n" .. "line 9\n", 7 characters each: line i starts at 7 * i.
TEN_LINES = "".join(f"line {i}\n" for i in range(10))


def encounters(starts: list[int], length: int, **fields: list) -> list[dict]:
    """Tiling encounters from start offsets; ``fields`` gives per-encounter values."""
    ends = starts[1:] + [length]
    names = ("date", "type", "provider", "facility")
    return [
        {"start": s, "end": e, **{name: fields.get(name, [None] * len(starts))[i] for name in names}}
        for i, (s, e) in enumerate(zip(starts, ends))
    ]


def record(name: str, starts: list[int], text: str, **keys) -> dict:
    return {"record": name, **keys, "encounters": encounters(starts, len(text))}


def test_hand_computed_ten_lines():
    # Gold boundaries on lines 3 and 7 (segments 0-2, 3-6, 7-9). Predicted
    # encounters start at offsets 21 (line 3), 30 (mid-line 4 -> line 4) and
    # 63 (line 9): predicted boundaries 3, 4, 9.
    gold = [record("r.txt", [0, 21, 49], TEN_LINES)]
    pred = [record("r.txt", [0, 21, 30, 63], TEN_LINES)]
    # Exact: only line 3 hits -> P = 1/3, R = 1/2, F1 = 2*1 / (2+3) = 0.4.
    # +/-2, greedy by distance: (3,3) d=0 taken; (3,4) d=1 skipped, gold 3
    # is used; (7,9) d=2 taken -> 2 hits: P = 2/3, R = 1, F1 = 4/5 = 0.8.
    # k = round(10 lines / 3 segments / 2) = round(1.67) = 2; 10 - 2 = 8
    # windows i = 0..7, each counting boundaries on lines i+1..i+2:
    #   i:     0  1  2  3  4  5  6  7
    #   gold:  0  1  1  0  0  1  1  0
    #   pred:  0  1  2  1  0  0  0  1
    # Pk errs where exactly one is 0: i = 3, 5, 6, 7 -> 4/8 = 0.5.
    # WindowDiff errs where they differ: i = 2, 3, 5, 6, 7 -> 5/8 = 0.625.
    s = score(gold, pred, {"r.txt": TEN_LINES})["all"]
    assert (s.records, s.gold_boundaries, s.pred_boundaries) == (1, 2, 3)
    assert s.exact_precision == pytest.approx(1 / 3)
    assert s.exact_recall == pytest.approx(1 / 2)
    assert s.exact_f1 == pytest.approx(0.4)
    assert s.near_precision == pytest.approx(2 / 3)
    assert s.near_recall == pytest.approx(1.0)
    assert s.near_f1 == pytest.approx(0.8)
    assert s.pk == pytest.approx(0.5)
    assert s.windowdiff == pytest.approx(0.625)
    assert s.count_abs_error == pytest.approx(1.0)
    assert s.count_signed_error == pytest.approx(1.0)


def test_near_matching_is_one_to_one():
    # Two predictions within 2 lines of a single gold boundary: one matches.
    gold = [record("r.txt", [0, 35], TEN_LINES)]  # boundary line 5
    pred = [record("r.txt", [0, 28, 42], TEN_LINES)]  # lines 4 and 6
    s = score(gold, pred, {"r.txt": TEN_LINES})["all"]
    assert s.exact_f1 == 0
    assert s.near_recall == 1
    assert s.near_precision == pytest.approx(0.5)


def test_perfect_prediction():
    gold = [record("r.txt", [0, 21, 49], TEN_LINES)]
    s = score(gold, gold, {"r.txt": TEN_LINES})["all"]
    assert s.exact_f1 == 1 and s.near_f1 == 1
    assert s.pk == 0 and s.windowdiff == 0
    assert s.count_abs_error == 0


def test_no_predicted_boundaries_and_missing_record():
    gold = [record("a.txt", [0, 21, 49], TEN_LINES), record("b.txt", [0, 35], TEN_LINES)]
    pred = [record("a.txt", [0], TEN_LINES)]  # b.txt missing: one whole-text encounter
    s = score(gold, pred, {"a.txt": TEN_LINES, "b.txt": TEN_LINES})["all"]
    assert s.pred_boundaries == 0
    assert s.exact_recall == 0 and s.near_recall == 0
    assert s.exact_precision is None
    assert s.exact_f1 == 0
    assert s.count_signed_error == pytest.approx(-1.5)  # (1 - 3 + 1 - 2) / 2


def test_name_normalisation():
    assert normalise_name("Dr. Ana Ruiz, MD") == normalise_name("ana ruiz")
    assert normalise_name("Ruiz, Ana") == normalise_name("Ana Ruiz")
    assert normalise_name("Ana Ruiz PA-C") == normalise_name("RUIZ ANA")
    assert normalise_name("St. Luke's Hospital") == normalise_name("ST LUKES HOSPITAL")
    assert normalise_name("Ana Ruiz") != normalise_name("Ana Ruiz-Lopez")
    assert normalise_name("Ana Ruiz") != normalise_name("Carol Dubois, MD")
    assert normalise_text("OFFICE VISIT") == normalise_text("Office  visit.")
    assert normalise_text("Office visit") != normalise_text("Visit office")


def test_field_matching_needs_more_than_half_overlap():
    text = "a" * 9 + "\n" + "b" * 9 + "\n"  # 20 characters, two lines
    gold = [
        {
            "record": "r.txt",
            "encounters": encounters(
                [0, 10],
                20,
                date=["2020-01-02", "2020-02-03"],
                type=["Office Visit", None],
                provider=["Dr. Ana Ruiz, MD", "Ruiz, Ana"],
                facility=[None, "Mercy Clinic"],
            ),
        }
    ]
    # Predicted: [0, 5) [5, 16) [16, 20). Gold [0, 10) overlaps each of the
    # first two by exactly half -> no match, all its fields wrong. Gold
    # [10, 20) overlaps [5, 16) by 6 of 10 -> matched.
    pred = [
        {
            "record": "r.txt",
            "encounters": encounters(
                [0, 5, 16],
                20,
                date=["2020-01-02", "2020-02-03", None],
                type=["office visit", None, None],
                provider=["Ana Ruiz", "ana ruiz MD", None],
                facility=[None, "MERCY CLINIC", "Mercy Clinic"],
            ),
        }
    ]
    s = score(gold, pred, {"r.txt": text})["all"]
    assert (s.date_gold, s.type_gold, s.provider_gold, s.facility_gold) == (2, 1, 2, 1)
    assert s.date_accuracy == pytest.approx(0.5)
    assert s.type_accuracy == 0
    assert s.provider_accuracy == pytest.approx(0.5)
    assert s.facility_accuracy == 1
    # One character more, [0, 6), and gold [0, 10) is matched too.
    pred[0]["encounters"] = encounters([0, 6, 16], 20, date=["2020-01-02", "2020-02-03", None])
    assert score(gold, pred, {"r.txt": text})["all"].date_accuracy == 1


def test_slices_are_grouped_and_ordered():
    gold = [
        record("a.txt", [0, 21], TEN_LINES, source="mts", variant="clean"),
        record("b.txt", [0, 21], TEN_LINES, source="mts", variant="hard"),
        record("c.txt", [0, 21], TEN_LINES, source="cs", variant="hard"),
        record("d.txt", [0, 21], TEN_LINES),
    ]
    texts = {g["record"]: TEN_LINES for g in gold}
    slices = score(gold, gold, texts)
    assert list(slices) == ["clean", "hard", "cs", "mts", "cs/hard", "mts/clean", "mts/hard", "all"]
    assert [slices[n].records for n in slices] == [1, 2, 1, 2, 1, 1, 1, 4]


def test_record_path_suffix_matching():
    gold = [record("x.txt", [0, 21], TEN_LINES)]
    texts = {"x.txt": TEN_LINES}
    assert score(gold, [record("records/x.txt", [0, 21], TEN_LINES)], texts)["all"].exact_f1 == 1
    assert score(gold, [record("records/ax.txt", [0, 21], TEN_LINES)], texts)["all"].exact_f1 == 0
    ambiguous = [record("a/x.txt", [0, 21], TEN_LINES), record("b/x.txt", [0, 21], TEN_LINES)]
    with pytest.raises(InputError, match="2 predicted records match"):
        score(gold, ambiguous, texts)


def test_non_tiling_prediction_is_rejected():
    gold = [record("r.txt", [0, 21], TEN_LINES)]
    pred = [{"record": "r.txt", "encounters": [{"start": 0, "end": 30}, {"start": 21, "end": 70}]}]
    with pytest.raises(InputError, match="do not tile"):
        score(gold, pred, {"r.txt": TEN_LINES})


def test_table_json_and_worst_errors(tmp_path):
    gold = [record("r.txt", [0, 21, 49], TEN_LINES, source="s", variant="clean")]
    pred = [record("r.txt", [0, 21, 63], TEN_LINES)]
    texts = {"r.txt": TEN_LINES}
    systems = {"chartsift": score(gold, gold, texts), "date-split": score(gold, pred, texts)}

    table = render_table(systems).splitlines()
    assert "F1" in table[1] and "facility" in table[1]
    rows = [row.split() for row in table[3:]]
    assert [row[:2] for row in rows[:2]] == [["clean", "chartsift"], ["clean", "date-split"]]
    assert rows[0][-1] == "n/a" and rows[0][3] == "1.000"

    path = tmp_path / "scores.jsonl"
    path.write_text(json.dumps(to_json(systems)) + "\n\n")
    assert load_jsonl(path)[0]["date-split"]["all"]["exact_f1"] == pytest.approx(0.5)

    # Line 8 missed and line 10 spurious are both 2 lines from a counterpart:
    # the tie goes to the lower line.
    assert worst_errors(gold, pred, texts, n=1, context_lines=1) == (
        "1. r.txt  missed gold boundary at line 8 (nearest 2 lines away)\n"
        "          7 | line 6\n"
        "  G       8 | line 7\n"
        "          9 | line 8\n"
    )
    assert worst_errors(gold, gold, texts, n=5) == "no boundary errors\n"
