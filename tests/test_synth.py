"""Synthetic record generator: the gold must agree exactly with the text it describes, and the header
families must keep leave-family-out honest (no group's layouts or words in another group's records)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import astuple
from datetime import date
from itertools import combinations
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.synth import (
    DATE_STYLES,
    FAMILIES,
    FAMILY_BY_ID,
    LEGACY_GROUP,
    TYPE_NAMES,
    family_example,
    fmt_date,
    generate_corpus,
    generate_record,
    select_families,
)
from pipeline.synth_families import GROUP_LAYOUTS, LABELLED, LEXICONS, Furniture

ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
GRAMMAR = [f for f in FAMILIES if f.group != LEGACY_GROUP]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], dict[str, str]]:
    out = tmp_path_factory.mktemp("mixed")
    golds = generate_corpus(out, records=12, seed=3, variant="mixed")
    texts = {g["record"]: (out / "records" / g["record"]).read_bytes().decode("utf-8") for g in golds}
    return out, golds, texts


def _spans(gold: dict, text: str):
    for enc in gold["encounters"]:
        yield enc, text[enc["start"]:enc["end"]]


def test_files_and_gold_jsonl(corpus):
    out, golds, texts = corpus
    lines = (out / "gold.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == golds
    assert len(golds) == 12 and len(set(texts)) == 12
    for k, gold in enumerate(golds):
        assert gold["source"] == "synth"
        assert gold["variant"] == ("clean", "hard")[k % 2]
        assert gold["base"] == golds[k - k % 2]["base"]
        assert gold["record"] == f"{gold['base']}_{gold['variant']}.txt"
        assert 5 <= len(gold["encounters"]) <= 40
        assert "\r" not in texts[gold["record"]]


def test_spans_tile_the_text(corpus):
    _, golds, texts = corpus
    for gold in golds:
        text, encs = texts[gold["record"]], gold["encounters"]
        assert encs[0]["start"] == 0 and encs[-1]["end"] == len(text)
        assert all(a["end"] == b["start"] for a, b in zip(encs, encs[1:]))
        assert all(e["start"] < e["end"] for e in encs)


def test_starts_are_at_line_starts(corpus):
    _, golds, texts = corpus
    for gold in golds:
        text = texts[gold["record"]]
        for enc in gold["encounters"][1:]:
            assert text[enc["start"] - 1] == "\n", (gold["record"], enc)
            assert text[enc["start"]] != "\n", (gold["record"], enc)


def test_field_strings_occur_inside_their_span(corpus):
    _, golds, texts = corpus
    for gold in golds:
        for enc, span in _spans(gold, texts[gold["record"]]):
            for name in ("type", "provider", "facility"):
                if enc[name] is not None:
                    assert enc[name].lower() in span.lower(), (gold["record"], name, enc[name])


def _check_dates(golds: list[dict], texts: dict[str, str]) -> None:
    """Gold dates are ISO, printed in their span, and in the record's order (newest first or oldest first)."""
    for gold in golds:
        newest_first = FAMILY_BY_ID[gold["family"]].newest_first
        days = []
        for enc, span in _spans(gold, texts[gold["record"]]):
            if enc["date"] is None:
                continue
            assert ISO.fullmatch(enc["date"])
            day = date.fromisoformat(enc["date"])
            assert any(fmt_date(day, style) in span for style in DATE_STYLES), (gold["record"], enc)
            days.append(day)
        assert days == sorted(days, reverse=newest_first) and len(set(days)) == len(days), gold["record"]


def test_dates_are_iso_printed_and_in_record_order(corpus):
    _, golds, texts = corpus
    _check_dates(golds, texts)


def test_newest_first_records_print_decreasing_dates(tmp_path):
    newest_first = [f.id for f in FAMILIES if f.newest_first]
    assert len(newest_first) >= 5
    golds = generate_corpus(tmp_path, records=6, seed=8, variant="mixed", families=newest_first)
    texts = {g["record"]: (tmp_path / "records" / g["record"]).read_text(encoding="utf-8") for g in golds}
    _check_dates(golds, texts)
    for gold in golds:
        dated = [e["date"] for e in gold["encounters"] if e["date"]]
        assert len(dated) >= 3 and dated[0] > dated[-1]


def test_deterministic_bytes(tmp_path):
    for name in ("a", "b"):
        generate_corpus(tmp_path / name, records=4, seed=11, variant="mixed")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 5
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    other = generate_corpus(tmp_path / "c", records=4, seed=12, variant="mixed")
    assert (tmp_path / "c" / "gold.jsonl").read_bytes() != (tmp_path / "a" / "gold.jsonl").read_bytes()
    assert len(other) == 4


def _counter(furniture: Furniture) -> re.Pattern:
    """The page counter of the furniture as a pattern: the literal text around {k} and {m}, pages as digits."""
    piece = next(p for p in re.split(r"\{(?![km][:}])\w+\}", furniture.counter) if "{k" in p)
    return re.compile(re.sub(r"\\\{[km](?::\w+)?\\\}", r"\\d+", re.escape(piece)))


def test_hard_is_clean_plus_edits(corpus):
    _, golds, texts = corpus
    fewer_fields = 0
    for clean, hard in zip(golds[::2], golds[1::2]):
        clean_text, hard_text = texts[clean["record"]], texts[hard["record"]]
        assert hard_text != clean_text
        assert (hard["family"], hard["families"], hard["group"]) == (clean["family"], clean["families"], clean["group"])
        assert [e["notes"] for e in hard["encounters"]] == [e["notes"] for e in clean["encounters"]]
        for h, c in zip(hard["encounters"], clean["encounters"]):
            for name in ("date", "type", "provider", "facility", "family"):
                assert h[name] is None or h[name] == c[name], "hard may only lose fields, never change them"
            fewer_fields += sum(h[k] is None and c[k] is not None for k in ("date", "type", "provider", "facility"))
    assert fewer_fields > 0, "header removal should null some fields"
    hard_all = "".join(texts[g["record"]] for g in golds[1::2])
    assert re.search(r"carried forward from|Copied from prior encounter", hard_all)
    assert re.search(r"last seen on|Last visit:|Date of last visit:|Previously evaluated on|Seen in clinic on",
                     hard_all)


def test_inpatient_stays_are_one_multi_note_encounter(corpus):
    _, golds, texts = corpus
    stays = [enc for g in golds for enc in g["encounters"] if enc["type"] in TYPE_NAMES["inpatient"]]
    assert stays
    assert all(3 <= enc["notes"] <= 15 for enc in stays)
    for gold in golds:
        for enc, span in _spans(gold, texts[gold["record"]]):
            if "DISCHARGE SUMMARY" in span:
                assert enc["notes"] >= 3


def test_generate_record_sizes_and_variants():
    text, gold = generate_record(random.Random(5), "b1", "clean", "small")
    assert 5_000 <= len(text) <= 16_000 and gold["record"] == "b1_clean.txt"
    text, gold = generate_record(random.Random(5), "b1", "hard", "medium")
    assert 30_000 <= len(text) <= 85_000 and gold["variant"] == "hard"
    text, gold = generate_record(random.Random(5), "b1", "clean", "large")
    assert 200_000 <= len(text) <= 600_000 and 24 <= len(gold["encounters"]) <= 40


def test_twenty_medium_records_are_fast():
    t0 = time.perf_counter()
    for k in range(20):
        generate_record(random.Random(k), f"b{k}", "hard", "medium")
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("records, variant, families", [(0, "clean", None), (-2, "mixed", None), (3, "noisy", None),
                                                       (2, "clean", ["G9-99"]), (2, "clean", "G0-01"),
                                                       (2, "clean", ["L-admission", "L-exam"])])
def test_corpus_rejects_bad_arguments(tmp_path, records, variant, families):
    with pytest.raises(ValueError):
        generate_corpus(tmp_path, records=records, seed=1, variant=variant, families=families)


@pytest.mark.parametrize("variant, size", [("mixed", "small"), ("clean", "huge")])
def test_record_rejects_bad_arguments(variant, size):
    with pytest.raises(ValueError):
        generate_record(random.Random(1), "b", variant, size)


# --------------------------------------------------------------------------------------------
# Header families
# --------------------------------------------------------------------------------------------

def test_fmt_date_family_styles():
    day = date(2019, 3, 4)
    printed = {style: fmt_date(day, style, (10, 15)) for style in DATE_STYLES}
    assert printed["iso_t"] == "2019-03-04T10:15:00" and printed["iso_sp"] == "2019-03-04 10:15"
    assert printed["dmy_long"] == "4 March 2019" and printed["dmon_title"] == "04-Mar-2019"
    assert printed["wday"] == "Mon 04 Mar 2019" and printed["ordinal"] == "March 4th, 2019"
    assert fmt_date(date(2019, 3, 22), "ordinal") == "March 22nd, 2019"
    assert fmt_date(date(2019, 3, 13), "ordinal") == "March 13th, 2019"
    assert printed["mdy"] == "03/04/2019" and printed["dmon"] == "04-MAR-2019"  # the legacy styles are unchanged
    assert len(set(printed.values())) == len(DATE_STYLES)


def test_catalogue_size_layouts_and_signatures():
    assert len(GRAMMAR) >= 60 and len(FAMILIES) == len(GRAMMAR) + 17
    assert len({f.id for f in FAMILIES}) == len(FAMILIES)
    assert len({f.layout for f in GRAMMAR}) >= 12
    assert {f.group for f in GRAMMAR} == set(range(6)) and all(len(GROUP_LAYOUTS[g]) >= 9 for g in range(6))
    assert all(re.fullmatch(rf"G{f.group}-\d\d", f.id) for f in GRAMMAR)
    assert len({(f.layout, f.labels, f.separator, f.date_style) for f in GRAMMAR}) >= 50
    for f in GRAMMAR:
        slots = [slot for slot, _ in f.fields]
        assert "date" in slots and len(set(slots)) == len(slots) and len(f.sub_styles) == 2 and f.furniture, f.id
        if f.layout == "date_line":  # a note export's bare date line, maybe with the visit's kind beside it
            assert set(slots) == {"date", "type"}, f.id
        else:
            assert len({"type", "provider", "facility"} & set(slots)) >= 2, f.id
    assert sum(f.newest_first for f in GRAMMAR) >= 5
    assert {f.id for f in FAMILIES if f.categories} == {"L-admission", "L-exam"}


def test_catalogue_ids_and_contents_are_stable():
    assert [(f.id, f.layout) for f in FAMILIES[:4]] == [
        ("G0-00", "ascii_box"), ("G0-01", "unicode_box"), ("G0-02", "ascii_box"), ("G0-03", "unicode_box")]
    assert [(f.id, f.layout) for f in FAMILIES if f.id.endswith("-00")] == [
        ("G0-00", "ascii_box"), ("G1-00", "stamp_line"), ("G2-00", "account_banner"), ("G3-00", "label_block"),
        ("G4-00", "md_table"), ("G5-00", "prose")]
    first = FAMILIES[0]
    assert (first.fields, first.separator, first.date_style) == ((
        ("date", "Svc Dt"), ("type", "Category"), ("provider", "Practitioner"), ("time", "Door Time")), "colon", "long")
    assert FAMILIES[len(GRAMMAR)].id == "L-dos_block" and FAMILIES[-1].id == "L-exam"


def test_catalogue_does_not_depend_on_the_hash_seed():
    code = ("import hashlib, dataclasses; from pipeline.synth import FAMILIES; "
            "print(hashlib.sha256(repr([dataclasses.astuple(f) for f in FAMILIES]).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert digests == {hashlib.sha256(repr([astuple(f) for f in FAMILIES]).encode()).hexdigest() + "\n"}


def _words(group: int) -> set[str]:
    lex = LEXICONS[group]
    return {*lex.date, *lex.discharge, *lex.provider, *lex.facility, *lex.type, *lex.titles,
            *(label for _, label in lex.distractors)}


def test_group_vocabularies_are_disjoint():
    for f in GRAMMAR:
        assert set(f.labels) | ({f.title} if f.title else set()) <= _words(f.group), f.id
        lex = LEXICONS[f.group]
        assert set(f.sig_styles) <= set(lex.signatures), f.id
        assert all(line in lex.banners + lex.counters + lex.notices or any(x in line for x in lex.stamps + lex.counters)
                   for furniture in f.furniture for line in furniture.top + furniture.bottom), f.id
    for g, h in combinations(range(6), 2):
        for a, b in ((a, b) for x, y in ((g, h), (h, g)) for a in _words(x) for b in _words(y)):
            assert not re.search(rf"(?<!\w){re.escape(a.lower())}(?!\w)", b.lower()), (g, a, h, b)
        for kind in ("signatures", "counters", "banners", "stamps", "notices"):
            assert not set(getattr(LEXICONS[g], kind)) & set(getattr(LEXICONS[h], kind)), kind
        subs = [{s for f in GRAMMAR if f.group == x for s in f.sub_styles} for x in (g, h)]
        assert not subs[0] & subs[1]
        assert not {f.layout for f in GRAMMAR if f.group == g} & {f.layout for f in GRAMMAR if f.group == h}


def test_no_label_or_title_holds_a_field_value():
    values = {name.lower() for names in TYPE_NAMES.values() for name in names}
    for f in GRAMMAR:
        for text in (*f.labels, f.title):
            assert text.lower() not in values and not any(v in text.lower() for v in values), (f.id, text)


@pytest.mark.parametrize("group", range(6))
def test_excluding_a_group_leaves_none_of_its_families_or_words(tmp_path, group):
    allowed = select_families(exclude_groups=[group])
    assert allowed and all(FAMILY_BY_ID[fid].group != group for fid in allowed)
    golds = generate_corpus(tmp_path, records=12, seed=100 + group, variant="mixed", families=allowed)
    text = "".join((tmp_path / "records" / g["record"]).read_text(encoding="utf-8") for g in golds)
    used = {fid for g in golds for fid in g["families"]} | {e["family"] for g in golds for e in g["encounters"]}
    assert used - {None} and all(FAMILY_BY_ID[fid].group != group for fid in used - {None})
    held_out = [f for f in GRAMMAR if f.group == group]
    assert not [m for f in held_out for m in f.marks if m in text]
    phrases = [s.split("{")[0] for s in LEXICONS[group].signatures]
    assert not [p for p in phrases if re.search("[A-Za-z]", p) and p in text]


def test_gold_names_the_families_that_printed_headers(corpus):
    _, golds, texts = corpus
    for gold in golds:
        families = gold["families"]
        assert families[0] == gold["family"] and len(set(families)) == len(families) <= 3 + 2
        assert gold["group"] == FAMILY_BY_ID[gold["family"]].group
        headed = [e["family"] for e in gold["encounters"] if e["family"]]
        assert set(headed) <= set(families)
        if gold["variant"] == "clean":
            assert set(families) == set(headed) | {gold["family"]}
            assert headed.count(gold["family"]) == max(map(headed.count, headed))
            for enc, span in _spans(gold, texts[gold["record"]]):
                family = FAMILY_BY_ID.get(enc["family"] or "")
                if family and family.layout in LABELLED:
                    assert any(mark in span for mark in family.marks), (gold["record"], enc)


def test_every_group_renders_exact_gold(tmp_path):
    for group in range(6):
        golds = generate_corpus(tmp_path / str(group), records=4, seed=group, variant="mixed",
                                families=select_families(groups=[group]))
        texts = {g["record"]: (tmp_path / str(group) / "records" / g["record"]).read_text(encoding="utf-8")
                 for g in golds}
        _check_dates(golds, texts)
        for gold in golds:
            text, encs = texts[gold["record"]], gold["encounters"]
            assert encs[0]["start"] == 0 and encs[-1]["end"] == len(text)
            assert all(a["end"] == b["start"] and text[b["start"] - 1] == "\n" for a, b in zip(encs, encs[1:]))
            assert {FAMILY_BY_ID[fid].group for fid in gold["families"]} == {group}
            for enc, span in _spans(gold, text):
                for name in ("type", "provider", "facility"):
                    assert enc[name] is None or enc[name].lower() in span.lower(), (gold["record"], name, enc[name])


def test_hard_variant_paginates_with_the_primary_familys_furniture(corpus):
    _, golds, texts = corpus
    for clean, hard in zip(golds[::2], golds[1::2]):
        counters = {_counter(f) for f in FAMILY_BY_ID[hard["family"]].furniture}
        hard_text = texts[hard["record"]]
        assert max(len(c.findall(hard_text)) for c in counters) >= max(1, len(hard_text) // 4000), hard["record"]
        assert not any(c.search(texts[clean["record"]]) for c in counters), clean["record"]


def test_select_families():
    assert select_families() == tuple(f.id for f in FAMILIES)
    assert {FAMILY_BY_ID[x].group for x in select_families(groups=[0, 3])} == {0, 3}
    assert select_families(ids=["G2-04"], groups=[5]) == ("G2-04", *(f.id for f in GRAMMAR if f.group == 5))
    assert LEGACY_GROUP in {FAMILY_BY_ID[x].group for x in select_families(exclude_groups=[2])}
    assert select_families(ids=["G2-04", "G3-01"], exclude_groups=[2]) == ("G3-01",)
    for bad in ({"ids": ["nope"]}, {"groups": [9]}, {"exclude_groups": list(range(7))}, {"ids": ["L-exam"]}):
        with pytest.raises(ValueError):
            select_families(**bad)


def test_family_examples_print_the_familys_marks():
    for f in FAMILIES:
        lines = family_example(f.id)
        assert lines and all(lines), f.id
        assert all(mark in "\n".join(lines) for mark in f.marks), f.id


def test_cli_lists_and_selects_families(tmp_path, capsys):
    assert main(["synth", "--list-families"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == len(FAMILIES) and listing[0].split()[:3] == ["G0-00", "0", "ascii_box"]
    assert main(["synth", "--list-families", "--exclude-groups", "1,6"]) == 0
    assert {line.split()[1] for line in capsys.readouterr().out.splitlines()} == {"0", "2", "3", "4", "5"}
    assert main(["synth", "--out", str(tmp_path), "--records", "2", "--seed", "3", "--groups", "4",
                 "--families", "G1-02"]) == 0
    golds = [json.loads(line) for line in (tmp_path / "gold.jsonl").read_text().splitlines()]
    assert {fid for g in golds for fid in g["families"]} <= {f.id for f in GRAMMAR if f.group == 4} | {"G1-02"}
    with pytest.raises(SystemExit) as help_exit:
        main(["synth", "--help"])
    assert help_exit.value.code == 0
    helped = " ".join(capsys.readouterr().out.split())
    flags = ("--families ID,ID", "--groups G,G", "--exclude-groups G,G", "--list-families")
    assert all(flag in helped for flag in flags)
    assert main(["synth", "--out", str(tmp_path), "--records", "1", "--families", "G7-01"]) == 2
    assert main(["synth", "--records", "1"]) == 2
    capsys.readouterr()
