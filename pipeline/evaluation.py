"""Score encounter segmentations against a gold corpus.

Why this module exists: a segmenter is only as good as we can show it to be,
and "looks right on a few records" does not survive noisy, paginated input.
Scoring is therefore done at LINE level (every gold encounter start is at a
line start, and a system that lands one character off should not get zero),
reported per corpus slice (variant, source, source/variant) so that a gain on
clean text cannot hide a loss on hard text, and with several complementary
figures: exact and +/-2-line boundary P/R/F1, Pk and WindowDiff (which reward
near misses and penalise over/under-segmentation differently), the
encounter-count error, and per-field accuracy of the extracted date, type,
provider and facility.

Corpus format (gold and predictions alike): JSON Lines, one object per record,
``{"record": "<id>.txt", "source"?, "variant"?, "encounters": [{"start",
"end", "date", "type", "provider", "facility"}]}`` with code-point offsets
whose spans tile the record text.

Conventions (decided here, relied on by the tests):

* Line i covers ``[line_start_i, next_line_start)``; a trailing newline does
  not open an extra empty line. An encounter start maps to the line that
  contains it (bisect on line starts). Boundaries are the distinct lines of
  the starts of encounters 2..n; a boundary on line 0 is dropped (it cannot
  separate two lines).
* Precision is ``None`` when nothing was predicted, recall ``None`` when the
  gold has no boundary, F1 = 2TP / (gold + pred), ``None`` when both are 0.
  Every ratio is micro-averaged over the records of a slice.
* +/-2 matching is one-to-one and greedy by distance (ties: lower gold line,
  then lower predicted line). Greedy is not always a maximum matching, but it
  only differs when boundaries less than 5 lines apart compete, which is rare
  and bounded.
* Pk / WindowDiff: per record, k = max(1, round(lines / gold segments / 2))
  (Python ``round``, i.e. half to even, as NLTK's ``pk`` does); the slice
  figure is errors / windows summed over its records, so long records weigh
  by their number of windows. Records with no more lines than k have no
  window and do not count.
* Field accuracy: each gold encounter with a non-null value is matched to the
  predicted encounter overlapping strictly more than half of its characters
  (at most one can); no match counts as wrong.
* A gold record missing from the predictions is scored as one encounter over
  the whole text with null fields; predicted records absent from the gold are
  ignored. Spans that do not tile the text raise ``InputError``: a scorer
  that silently repairs broken output would hide the bug.
"""

from __future__ import annotations

import json
import math
import operator
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from functools import reduce
from itertools import accumulate
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.text import LineIndex

FIELDS = ("date", "type", "provider", "facility")
NEAR_TOLERANCE = 2
"""Lines a predicted boundary may be off and still count in the +/-2 scores."""

_TITLES = frozenset(
    """dr mr mrs ms miss prof jr sr ii iii md do phd rn np pa pa-c facp facs
    fache mbbs mbchb dds dmd dpm pharmd aprn crnp fnp fnp-c dnp lpn cnm mph
    msn bsn""".split()
)
_DELETED = re.compile(r"[.'\u2019]")  # "Dr." -> "dr", "M.D." -> "md", "Luke's" -> "lukes"
_PUNCTUATION = re.compile(r"[^\w\s-]|_")  # hyphens kept until titles such as PA-C are gone


def load_jsonl(path: str | Path) -> list[dict]:
    """Read a JSON Lines corpus (blank lines skipped)."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise InputError(str(path), f"line {number} is not JSON ({error.msg})") from None
    return records


@dataclass(frozen=True)
class SliceScores:
    """Every figure for one slice of one system (see the module docstring for
    the conventions; ``None`` means undefined, e.g. no gold values). Count
    errors are predicted minus gold encounters per record (mean of the
    absolute and of the signed value); ``<field>_gold`` is the number of gold
    encounters with a value for that field."""

    records: int
    gold_boundaries: int
    pred_boundaries: int
    exact_precision: float | None
    exact_recall: float | None
    exact_f1: float | None
    near_precision: float | None
    near_recall: float | None
    near_f1: float | None
    pk: float | None
    windowdiff: float | None
    count_abs_error: float
    count_signed_error: float
    date_accuracy: float | None
    type_accuracy: float | None
    provider_accuracy: float | None
    facility_accuracy: float | None
    date_gold: int
    type_gold: int
    provider_gold: int
    facility_gold: int


@dataclass(frozen=True)
class _Counts:
    """Additive raw counts of one record (or a sum of records)."""

    records: int
    gold_boundaries: int
    pred_boundaries: int
    exact_hits: int
    near_hits: int
    windows: int
    pk_errors: int
    wd_errors: int
    count_abs: int
    count_signed: int
    field_correct: tuple[int, ...]
    field_gold: tuple[int, ...]

    def __add__(self, other: _Counts) -> _Counts:
        sums = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            sums[f.name] = tuple(map(operator.add, a, b)) if isinstance(a, tuple) else a + b
        return _Counts(**sums)

    def scores(self) -> SliceScores:
        def ratio(num: int, den: int) -> float | None:
            return num / den if den else None

        gold, pred = self.gold_boundaries, self.pred_boundaries
        accuracy = [ratio(c, g) for c, g in zip(self.field_correct, self.field_gold)]
        return SliceScores(
            records=self.records,
            gold_boundaries=gold,
            pred_boundaries=pred,
            exact_precision=ratio(self.exact_hits, pred),
            exact_recall=ratio(self.exact_hits, gold),
            exact_f1=ratio(2 * self.exact_hits, gold + pred),
            near_precision=ratio(self.near_hits, pred),
            near_recall=ratio(self.near_hits, gold),
            near_f1=ratio(2 * self.near_hits, gold + pred),
            pk=ratio(self.pk_errors, self.windows),
            windowdiff=ratio(self.wd_errors, self.windows),
            count_abs_error=self.count_abs / self.records,
            count_signed_error=self.count_signed / self.records,
            **{f"{name}_accuracy": acc for name, acc in zip(FIELDS, accuracy)},
            **{f"{name}_gold": n for name, n in zip(FIELDS, self.field_gold)},
        )


@dataclass(frozen=True)
class _Record:
    """One gold record aligned with its prediction, boundaries in lines."""

    gold: dict
    pred_encounters: list[dict]
    lines: LineIndex
    gold_boundaries: list[int]
    pred_boundaries: list[int]


def score(gold: list[dict], pred: list[dict], texts: Mapping[str, str], by: Iterable[str] = ()) -> dict[str, SliceScores]:
    """Score ``pred`` against ``gold``; ``texts`` is keyed by gold "record".

    Returns slice name -> scores, ordered: per variant, per source, per
    source/variant, per value of each gold key in ``by`` ("family=G2-07",
    and "family/variant=G2-07/hard"), each sorted by name, then "all".
    """
    counts = [(rec.gold, _count(rec)) for rec in _align(gold, pred, texts)]
    keys: list[Callable[[dict], str | None]] = [
        lambda g: g.get("variant"),
        lambda g: g.get("source"),
        lambda g: f"{g['source']}/{g['variant']}" if g.get("source") and g.get("variant") else None,
    ]
    for key in by:
        keys.append(lambda g, key=key: f"{key}={g[key]}" if g.get(key) is not None else None)
        keys.append(lambda g, key=key: f"{key}/variant={g[key]}/{g['variant']}" if g.get(key) is not None and g.get("variant") else None)
    slices: dict[str, SliceScores] = {}
    for key in keys:
        groups: dict[str, _Counts] = {}
        for record, c in counts:
            name = key(record)
            if name is not None:
                groups[name] = groups[name] + c if name in groups else c
        slices.update((name, groups[name].scores()) for name in sorted(groups))
    if counts:
        slices["all"] = reduce(operator.add, (c for _, c in counts)).scores()
    return slices


def render_table(systems: Mapping[str, dict[str, SliceScores]]) -> str:
    """Fixed-width plain-text table, one row per (slice, system)."""
    columns = [  # (group, header, cell)
        ("", "slice", None),
        ("", "system", None),
        ("", "records", lambda s: str(s.records)),
        ("exact", "P", lambda s: format_figure(s.exact_precision)),
        ("exact", "R", lambda s: format_figure(s.exact_recall)),
        ("exact", "F1", lambda s: format_figure(s.exact_f1)),
        ("\u00b12 lines", "P", lambda s: format_figure(s.near_precision)),
        ("\u00b12 lines", "R", lambda s: format_figure(s.near_recall)),
        ("\u00b12 lines", "F1", lambda s: format_figure(s.near_f1)),
        ("", "Pk", lambda s: format_figure(s.pk)),
        ("", "WD", lambda s: format_figure(s.windowdiff)),
        ("", "count err", lambda s: f"{s.count_abs_error:.2f} ({s.count_signed_error:+.2f})"),
        ("accuracy", "date", lambda s: format_figure(s.date_accuracy)),
        ("accuracy", "type", lambda s: format_figure(s.type_accuracy)),
        ("accuracy", "provider", lambda s: format_figure(s.provider_accuracy)),
        ("accuracy", "facility", lambda s: format_figure(s.facility_accuracy)),
    ]
    slice_names = list(dict.fromkeys(name for slices in systems.values() for name in slices))
    rows = [
        [name, system] + [cell(slices[name]) for _, _, cell in columns[2:]]
        for name in slice_names
        for system, slices in systems.items()
        if name in slices
    ]
    headers = [header for _, header, _ in columns]
    widths = [max(len(c) for c in column) for column in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    groups = []  # group label centred over its run of columns
    i = 0
    while i < len(columns):
        j = i
        while j + 1 < len(columns) and columns[j + 1][0] == columns[i][0]:
            j += 1
        span = sum(widths[i : j + 1]) + 2 * (j - i)
        groups.append(columns[i][0].center(span, "-") if columns[i][0] else " " * span)
        i = j + 1
    rule = "  ".join("-" * w for w in widths)
    return "\n".join(["  ".join(groups).rstrip(), line(headers), rule, *map(line, rows)]) + "\n"


def to_json(systems: Mapping[str, dict[str, SliceScores]]) -> dict:
    """The same figures as :func:`render_table`, JSON-serialisable."""
    return {system: {name: asdict(s) for name, s in slices.items()} for system, slices in systems.items()}


def worst_errors(
    gold: list[dict], pred: list[dict], texts: Mapping[str, str], n: int, context_lines: int = 3
) -> str:
    """The ``n`` worst boundary errors, for the developer's terminal.

    An error is a gold boundary with no predicted boundary on the same line
    (missed) or the reverse (spurious), ranked by distance in lines to the
    nearest boundary of the other side (none at all ranks first), ties by
    record then line. Each comes with ``context_lines`` lines either side,
    marked G (gold boundary) / P (predicted boundary). Line numbers are
    1-based, as in an editor.
    """
    errors = []
    for rec in _align(gold, pred, texts):
        for kind, own, other in (
            ("missed gold", rec.gold_boundaries, rec.pred_boundaries),
            ("spurious predicted", rec.pred_boundaries, rec.gold_boundaries),
        ):
            other_set = set(other)
            for line in own:
                if line not in other_set:
                    errors.append((-_distance(line, other), rec.gold["record"], line, kind, rec))
    errors.sort(key=lambda e: e[:3])
    blocks = []
    for rank, (neg_distance, record, line, kind, rec) in enumerate(errors[:n], 1):
        counterpart = (
            "other side has none" if neg_distance == -math.inf else f"nearest {-neg_distance} lines away"
        )
        blocks.append(
            f"{rank}. {record}  {kind} boundary at line {line + 1} ({counterpart})\n"
            + _context(rec, line, context_lines)
        )
    return "\n".join(blocks) if blocks else "no boundary errors\n"


@dataclass(frozen=True)
class Calibration:
    """How far a detector's boundary probabilities can be trusted, on a scored corpus.

    * ``boundary_ece``: expected calibration error of the stated boundaries (probability against
      "a gold encounter starts within 2 lines");
    * ``candidate_ece``: the same over every candidate the detector weighed;
    * ``least_confident_fp_share``: the share of the spurious boundaries that sit among the 10% of
      stated boundaries with the lowest probability;
    * ``least_confident_error_share``: the share of wrong decisions (spurious boundaries, and gold
      starts on a candidate that was passed over) among the 10% of candidate decisions nearest a coin
      toss (confidence ``max(p, 1 - p)``).
    """

    boundaries: int
    boundary_ece: float | None
    false_positives: int
    least_confident_fp_share: float | None
    candidates: int
    candidate_ece: float | None
    errors: int
    least_confident_error_share: float | None

    def render(self) -> str:
        return (
            f"calibration: {self.boundaries} boundaries, ECE {format_figure(self.boundary_ece)}; "
            f"{self.false_positives} spurious, {format_figure(self.least_confident_fp_share)} of them in the 10% least confident; "
            f"{self.candidates} candidates, ECE {format_figure(self.candidate_ece)}; {self.errors} wrong decisions, "
            f"{format_figure(self.least_confident_error_share)} of them in the 10% least confident\n"
        )


LEAST_CONFIDENT = 0.10
ECE_BINS = 10


def expected_calibration_error(probabilities: Iterable[float], outcomes: Iterable[bool], bins: int = ECE_BINS) -> float | None:
    """Mean |mean probability - observed rate| over equal-width probability bins, weighted by size."""
    pairs = list(zip(probabilities, outcomes))
    if not pairs:
        return None
    sums: dict[int, list[float]] = {}
    for p, outcome in pairs:
        b = min(int(p * bins), bins - 1)
        acc = sums.setdefault(b, [0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += p
        acc[2] += bool(outcome)
    return sum(abs(p_sum - hits) for _, p_sum, hits in sums.values()) / len(pairs)


def calibration(gold: list[dict], predictions: Iterable[Any], texts: Mapping[str, str]) -> Calibration:
    """Calibration of ``predictions`` (objects with ``record``, ``encounters`` carrying a
    ``probability`` and ``candidates`` of ``(line, probability)``; see ``pipeline.offline``)."""
    by_record = {p.record: p for p in predictions}
    stated: list[tuple[float, bool]] = []
    decisions: list[tuple[float, bool, bool]] = []  # (probability, outcome, wrong)
    for g in gold:
        pred = by_record.get(g["record"])
        if pred is None:
            continue
        lines = LineIndex(texts[g["record"]])
        gold_lines = _boundaries(g["encounters"], lines)
        stated_lines = {lines.line_of(e["start"]): e.get("probability") for e in pred.encounters[1:]}
        for line, p in stated_lines.items():
            if p is not None:
                stated.append((p, _distance(line, gold_lines) <= NEAR_TOLERANCE))
        chosen = sorted(stated_lines)
        for c in pred.candidates:
            near_gold = _distance(c.line, gold_lines) <= NEAR_TOLERANCE
            said = c.line in stated_lines
            wrong = (said and not near_gold) or (not said and c.line in set(gold_lines) and _distance(c.line, chosen) > NEAR_TOLERANCE)
            decisions.append((c.probability, near_gold, wrong))
    false_positives = sum(1 for _, hit in stated if not hit)
    least = sorted(stated)[: max(1, round(LEAST_CONFIDENT * len(stated)))] if stated else []
    errors = sum(1 for *_, wrong in decisions if wrong)
    unsure = sorted(decisions, key=lambda d: max(d[0], 1 - d[0]))[: max(1, round(LEAST_CONFIDENT * len(decisions)))] if decisions else []
    return Calibration(
        boundaries=len(stated),
        boundary_ece=expected_calibration_error(*zip(*stated)) if stated else None,
        false_positives=false_positives,
        least_confident_fp_share=sum(1 for _, hit in least if not hit) / false_positives if false_positives else None,
        candidates=len(decisions),
        candidate_ece=expected_calibration_error([d[0] for d in decisions], [d[1] for d in decisions]) if decisions else None,
        errors=errors,
        least_confident_error_share=sum(1 for *_, wrong in unsure if wrong) / errors if errors else None,
    )


def format_figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _distance(line: int, others: list[int]) -> float:
    """Distance from ``line`` to the nearest of the sorted ``others``."""
    i = bisect_left(others, line)
    return min((abs(others[j] - line) for j in (i - 1, i) if 0 <= j < len(others)), default=math.inf)


def _context(rec: _Record, line: int, context_lines: int) -> str:
    gold, pred = set(rec.gold_boundaries), set(rec.pred_boundaries)
    out = []
    for i in range(max(0, line - context_lines), min(len(rec.lines), line + context_lines + 1)):
        mark = ("G" if i in gold else " ") + ("P" if i in pred else " ")
        out.append(f"  {mark} {i + 1:>6} | {rec.lines.line(i)[:120]}")
    return "\n".join(out) + "\n"


def suffix_index(names: Iterable[str]) -> dict[str, list[str]]:
    """Every path suffix of each record name ("records/x.txt" -> "records/x.txt", "x.txt"), for ``find_record``."""
    index: dict[str, list[str]] = {}
    for name in names:
        parts = name.split("/")
        for i in range(len(parts)):
            index.setdefault("/".join(parts[i:]), []).append(name)
    return index


def find_record(record: str, index: Mapping[str, list[str]]) -> list[str]:
    """The names a gold record id matches: itself when present, else every path ending in "/" + id."""
    names = index.get(record, [])
    return [record] if record in names else names


def _align(gold: list[dict], pred: list[dict], texts: Mapping[str, str]) -> Iterator[_Record]:
    """Pair each gold record with its prediction (exact id, else a unique
    predicted path ending in "/" + id) and convert both to line boundaries."""
    by_name = {p["record"]: p for p in pred}
    index = suffix_index(by_name)
    seen = set()
    for g in gold:
        record = g["record"]
        if record in seen:
            raise InputError(record, "listed twice in the gold")
        seen.add(record)
        if record not in texts:
            raise InputError(record, "no text for this gold record")
        text = texts[record]
        candidates = [by_name[name] for name in find_record(record, index)]
        if len(candidates) > 1:
            raise InputError(record, f"{len(candidates)} predicted records match this gold record")
        pred_encounters = (
            candidates[0]["encounters"]
            if candidates
            else [{"start": 0, "end": len(text), **dict.fromkeys(FIELDS)}]
        )
        gold_encounters = g["encounters"]
        _check_tiling(record, "gold", gold_encounters, len(text))
        _check_tiling(record, "predicted", pred_encounters, len(text))
        lines = LineIndex(text)
        yield _Record(
            gold=g,
            pred_encounters=pred_encounters,
            lines=lines,
            gold_boundaries=_boundaries(gold_encounters, lines),
            pred_boundaries=_boundaries(pred_encounters, lines),
        )


def _check_tiling(record: str, side: str, encounters: list[dict], length: int) -> None:
    ends = [0] + [e["end"] for e in encounters[:-1]]
    if (
        not encounters
        or any(e["start"] != end or e["end"] <= e["start"] for e, end in zip(encounters, ends))
        or encounters[-1]["end"] != length
    ):
        raise InputError(record, f"{side} encounters do not tile its {length} characters")


def _boundaries(encounters: list[dict], lines: LineIndex) -> list[int]:
    return sorted({lines.line_of(e["start"]) for e in encounters[1:]} - {0})


def _count(rec: _Record) -> _Counts:
    gold_b, pred_b = rec.gold_boundaries, rec.pred_boundaries
    windows, pk_errors, wd_errors = _window_errors(gold_b, pred_b, len(rec.lines))
    correct, total = _field_counts(rec.gold["encounters"], rec.pred_encounters)
    count_diff = len(rec.pred_encounters) - len(rec.gold["encounters"])
    return _Counts(
        records=1,
        gold_boundaries=len(gold_b),
        pred_boundaries=len(pred_b),
        exact_hits=len(set(gold_b) & set(pred_b)),
        near_hits=_near_hits(gold_b, pred_b, NEAR_TOLERANCE),
        windows=windows,
        pk_errors=pk_errors,
        wd_errors=wd_errors,
        count_abs=abs(count_diff),
        count_signed=count_diff,
        field_correct=correct,
        field_gold=total,
    )


def _near_hits(gold_b: list[int], pred_b: list[int], tolerance: int) -> int:
    """One-to-one matches within ``tolerance`` lines, greedy by distance."""
    pairs = sorted(
        (abs(p - g), g, p)
        for g in gold_b
        for p in pred_b[bisect_left(pred_b, g - tolerance) : bisect_right(pred_b, g + tolerance)]
    )
    used_gold, used_pred = set(), set()
    for _, g, p in pairs:
        if g not in used_gold and p not in used_pred:
            used_gold.add(g)
            used_pred.add(p)
    return len(used_gold)


def _window_errors(gold_b: list[int], pred_b: list[int], n_lines: int) -> tuple[int, int, int]:
    """(windows, Pk errors, WindowDiff errors) over the line sequence.

    Window i spans lines i and i+k; the boundaries inside it are those on
    lines i+1..i+k. Pk errs when exactly one side has none (Beeferman et al.
    1999), WindowDiff when the two counts differ (Pevzner & Hearst 2002).
    """
    k = max(1, round(n_lines / (len(gold_b) + 1) / 2))
    gold_cum, pred_cum = (_cumulative(b, n_lines) for b in (gold_b, pred_b))
    pk_errors = wd_errors = 0
    for i in range(n_lines - k):
        g = gold_cum[i + k] - gold_cum[i]
        p = pred_cum[i + k] - pred_cum[i]
        pk_errors += (g == 0) != (p == 0)
        wd_errors += g != p
    return max(0, n_lines - k), pk_errors, wd_errors


def _cumulative(boundaries: list[int], n_lines: int) -> list[int]:
    """cum[j] = number of boundaries on lines 0..j."""
    marks = [0] * n_lines
    for b in boundaries:
        marks[b] = 1
    return list(accumulate(marks))


def _field_counts(
    gold_encounters: list[dict], pred_encounters: list[dict]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(correct, gold with a value) per field in FIELDS."""
    starts = [p["start"] for p in pred_encounters]
    correct, total = [0] * len(FIELDS), [0] * len(FIELDS)
    for g in gold_encounters:
        wanted = [i for i, name in enumerate(FIELDS) if g.get(name) is not None]
        if not wanted:
            continue
        match = None
        first = bisect_right(starts, g["start"]) - 1  # spans tile: the overlaps are contiguous
        for p in pred_encounters[first : bisect_left(starts, g["end"])]:
            overlap = min(g["end"], p["end"]) - max(g["start"], p["start"])
            if 2 * overlap > g["end"] - g["start"]:
                match = p
        for i in wanted:
            normalise = _NORMALISERS[FIELDS[i]]
            value = None if match is None else match.get(FIELDS[i])
            total[i] += 1
            correct[i] += value is not None and normalise(value) == normalise(g[FIELDS[i]])
    return tuple(correct), tuple(total)


def _tokens(value: str) -> list[str]:
    """Casefolded words with punctuation removed (hyphens still attached)."""
    text = _DELETED.sub("", unicodedata.normalize("NFKC", value).casefold())
    return _PUNCTUATION.sub(" ", text).split()


def normalise_name(value: str) -> tuple[str, ...]:
    """Comparable form of a person or facility name: casefolded, titles and
    credentials dropped, punctuation removed, token order ignored, so
    "Dr. Ana Ruiz, MD" == "ana ruiz" == "Ruiz, Ana"."""
    words = (w for w in _tokens(value) if w not in _TITLES)
    return tuple(sorted(part for w in words for part in w.split("-") if part))


def normalise_text(value: str) -> tuple[str, ...]:
    """Comparable form of a free-text value such as an encounter type:
    casefolded, punctuation removed, whitespace collapsed, order kept."""
    return tuple(part for w in _tokens(value) for part in w.split("-") if part)


_NORMALISERS: dict[str, Callable[[str], object]] = {
    "date": str,
    "type": normalise_text,
    "provider": normalise_name,
    "facility": normalise_name,
}
