"""Features of boundary candidates for the learned scorer: what an encounter start looks like in any format.

Why: the rules' cues name the words of the formats they were written from; a new source's header says the
same things in other words and layouts. Each candidate (the top of a block, as the rules detector finds
it) is described by four kinds of evidence, none of which names a format:

* the rules' own reading (their cues, score and decision, so known formats keep their precision);
* the block's structure: label-value lines (any labels, any separator), cells, boxes, titles, how many
  dates, a person's name with a credential, an organisation's name, line lengths and case;
* recurrence inside the record: how often the block's shape recurs among candidates, how often those
  recurrences carry a date and sit after a break (a header template), whether the line before is a
  recurring closer (a signature template);
* the dates: a new date after the current one, the same date, a date inside an admission-to-discharge
  span printed earlier, and which way the record runs (oldest or newest first).

A second, record-context stage (CONTEXT_FEATURES) reads the first stage's probabilities back into the
record: a block whose shape the record's confident starts share is likely a start too, whatever its words,
and a long stretch with no confident start is where a missed one hides. This is the record's own
template, learned per record at run time rather than named in advance.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline import cues, layout
from pipeline.dates import find_dates

if TYPE_CHECKING:
    from pipeline.detect.rules import Decision

# Keep reasons of the rules' trace, each a feature (the names they add to a decision).
KEEP_REASONS = (
    "under_header", "hospital_day", "inside_stay", "addendum", "dates_undated_lead", "same_day_note",
    "front_matter", "stay_reread", "undated_lead", "after_undated_lead", "under_note_top",
)
# Words that name a kind of visit (domain vocabulary, not one format's labels).
VISIT_WORDS = re.compile(
    r"\b(?:visit|encounter|consult\w*|admission|admit\w*|follow[- ]?up|check[- ]?up|appointment|tele\w+|phone|"
    r"video|virtual|emergency|urgent|procedure|surgery|surgical|inpatient|outpatient|office|exam\w*|imaging|"
    r"radiology|lab\w*|ED|ER|observation|discharge\w*|stay|hospitali[sz]ation)\b",
    re.I,
)
_NO_DIGITS = str.maketrans("", "", "0123456789")
_HEADING = re.compile(r"^\s*(?:#+\s*)?[A-Z][A-Za-z /&'()-]{1,45}:\s*(?:$|\S)")
# Characters of a block line that its features read (a header line is short; prose is cut).
BLOCK_LINE_CHARS = 200
# Longest line of a stack of short lines read as one block (a title, a date, a name, a place).
STACK_LINE_CHARS = 60
# Longest span of days an admission-to-discharge pair in one header block may cover.
SPAN_DAYS = 120

FEATURES: tuple[str, ...] = (
    # the rules' reading
    "r_score", "r_start", *(f"r_keep_{k}" for k in KEEP_REASONS),
    "r_enc_header", "r_note_header", "r_bare_date", "r_note_title", "r_strong_opening", "r_weak_opening",
    "r_after_signature", "r_after_closing", "r_after_next_visit", "r_false_cue", "r_closes_note",
    "r_after_closing_section", "r_continues_stay", "r_addendum", "r_split_line", "r_opens_stay",
    "r_discharge_note", "r_record_gap", "r_has_date", "r_admitted", "r_discharge_by", "r_structural_header",
    "r_after_sign_off",
    # the break before
    "gap", "separator", "page_break", "first", "prev_closer", "prev_ends_sentence", "prev_len", "prev_short",
    # the block
    "blk_lines", "blk_boxed", "blk_lv_frac", "blk_lv_pairs", "blk_cells", "blk_mean_len", "blk_max_len",
    "blk_sentence_frac", "blk_upper", "blk_title_first", "blk_markdown", "blk_dates", "blk_date_first",
    "blk_time", "blk_span", "blk_span_days", "blk_person", "blk_org", "blk_visit_word", "blk_digit_frac",
    "first_len", "first_words", "first_digit", "first_pipe", "first_colon", "first_indent", "first_facts",
    "next_heading", "next_gap",
    # recurrence in the record
    "rec_top", "rec_block", "rec_dated", "rec_break", "rec_distinct_dates", "rec_template", "rec_rank",
    # dates
    "d_has", "d_delta", "d_same", "d_in_span", "d_direction", "d_delta_dir", "d_lines_since",
    # the neighbouring candidates
    "prev_cand_lines", "next_cand_lines", "prev_cand_header", "next_cand_header", "next_cand_dated",
    "next_same_date", "prev_same_date",
    # position
    "pos_rel", "content_before",
)
INDEX = {name: k for k, name in enumerate(FEATURES)}

# The record-context stage's features, computed from the first stage's probabilities (see context_matrix).
CONTEXT_FEATURES: tuple[str, ...] = (
    "ctx_p", "ctx_top_others", "ctx_top_confident", "ctx_top_max", "ctx_block_confident", "ctx_block_max",
    "ctx_prev_p", "ctx_next_p", "ctx_since_confident", "ctx_until_confident", "ctx_interval_rel", "ctx_since_rel",
    "ctx_confident_share", "ctx_rank", "ctx_date_gap",
)
# A first-stage probability at or above which a candidate counts as a confident start of its record.
CONFIDENT = 0.5


# The rules' yes/no cues copied as features, with their column.
_CUE_FLAGS = tuple(
    (name, INDEX[f"r_{name}"])
    for name in ("after_signature", "after_closing", "after_next_visit", "false_cue", "closes_note", "after_closing_section",
                 "continues_stay", "addendum", "split_line", "opens_stay", "discharge_note", "record_gap", "structural_header",
                 "after_sign_off")
)


class _Block:
    """The text facts of one candidate's block."""

    __slots__ = ("text_lines", "dates", "span", "top_shape", "block_shape", "breaks", "header_like", "row")

    def __init__(self) -> None:
        self.text_lines: list[str] = []
        self.dates: list[date] = []
        self.span: tuple[date, date] | None = None
        self.top_shape = ""
        self.block_shape = ""
        self.breaks = False
        self.header_like = False


@dataclass(frozen=True)
class CandidateTable:
    """One record's candidates: a row of FEATURES each, and what the context stage groups them by."""

    rows: np.ndarray
    top_shapes: tuple[str, ...]
    block_shapes: tuple[str, ...]
    positions: np.ndarray  # content lines above each candidate
    days: tuple[int | None, ...]  # each block's first date (proleptic ordinal), if it has one

    def __len__(self) -> int:
        return len(self.rows)


def candidate_table(lay: layout.Layout, decisions: list[Decision]) -> CandidateTable:
    """The candidates of the rules' trace (the first decision is the record start), described."""
    lines, n = lay.lines, len(lay.lines)
    content = lay.content
    closers = lay.closers
    # Rows are filled as lists (setting a numpy element costs several times a list's) and stacked once.
    table = [[0.0] * len(FEATURES) for _ in decisions]
    blocks = [_Block() for _ in decisions]
    tops = []
    block_lines_all: list[list[int]] = []
    rest_all: list[list[int]] = []  # a long block's further lines: read for its dates, names and places
    for d, b in zip(decisions, blocks, strict=True):
        text_idx = _stacked(lay, [j for j in d.cues.block if not (lay.rule[j] or lay.furniture[j] or lay.blank[j])] or [d.cues.line])
        block_lines_all.append(text_idx[:4])
        rest_all.append(text_idx[4:])
        tops.append(text_idx[0])
    shapes_needed = sorted({j for idx in block_lines_all for j in idx})
    prevs = []
    for d in decisions:
        k = d.cues.content_before
        prevs.append(content[k - 1] if 0 < k <= len(content) else None)
    lay.shapes(shapes_needed + [p for p in prevs if p is not None])

    for r, (d, b, idx, rest, prev) in enumerate(zip(decisions, blocks, block_lines_all, rest_all, prevs, strict=True)):
        c = d.cues
        row = table[r]
        b.text_lines = [layout.unbox(lines[j][:BLOCK_LINE_CHARS]) for j in idx]
        b.top_shape = lay.shape(idx[0])
        b.block_shape = "/".join(lay.shape(j) for j in idx)
        # the rules' reading
        row[INDEX["r_score"]] = d.score
        row[INDEX["r_start"]] = d.start
        for name in d.names:
            key = f"r_keep_{name}"
            if key in INDEX:
                row[INDEX[key]] = 1.0
        row[INDEX["r_enc_header"]] = c.encounter_header is not None
        row[INDEX["r_note_header"]] = c.note_header is not None
        row[INDEX["r_bare_date"]] = c.note_header == "bare_date"
        row[INDEX["r_note_title"]] = "note_title" in c.titles
        row[INDEX["r_strong_opening"]] = "strong_opening" in c.titles
        row[INDEX["r_weak_opening"]] = "weak_opening" in c.titles
        for name, k in _CUE_FLAGS:
            row[k] = bool(getattr(c, name))
        row[INDEX["r_has_date"]] = c.date is not None
        row[INDEX["r_admitted"]] = c.admitted is not None
        row[INDEX["r_discharge_by"]] = c.discharge_by is not None
        # the break before
        first = r == 0
        row[INDEX["gap"]] = 6 if first else min(c.gap, 5)
        row[INDEX["separator"]] = c.separator
        row[INDEX["first"]] = first
        if prev is not None:
            between = range(prev + 1, c.line)
            row[INDEX["page_break"]] = any(lay.furniture[j] for j in between)
            prev_text = lines[prev]
            row[INDEX["prev_closer"]] = lay.shape(prev) in closers
            row[INDEX["prev_ends_sentence"]] = layout.ends_sentence(prev_text)
            row[INDEX["prev_len"]] = min(len(prev_text), 300) / 100
            row[INDEX["prev_short"]] = len(prev_text.strip()) < 40
        # the block
        _block_features(row, b, lines, idx, c.block, lay, [layout.unbox(lines[j][:BLOCK_LINE_CHARS]) for j in rest])
        after = (c.block[-1] if c.block else c.line) + 1
        while after < n and (lay.furniture[after] or lay.rule[after]):
            after += 1
        gap_after = 0
        while after < n and lay.blank[after]:
            gap_after += 1
            after += 1
        row[INDEX["next_gap"]] = min(gap_after, 3)
        row[INDEX["next_heading"]] = after < n and bool(_HEADING.match(lines[after]))
        b.breaks = first or c.gap > 0 or c.separator or c.after_signature or row[INDEX["prev_closer"]] > 0 or c.line != idx[0]
        row[INDEX["pos_rel"]] = c.line / max(n, 1)
        row[INDEX["content_before"]] = math.log1p(c.content_before)
    rows = np.array(table, dtype=np.float32).reshape(len(decisions), len(FEATURES))
    _recurrence_features(rows, blocks)
    _date_features(rows, blocks, decisions)
    _neighbour_features(rows, blocks, decisions)
    return CandidateTable(
        rows,
        tuple(b.top_shape for b in blocks),
        tuple(b.block_shape for b in blocks),
        np.array([d.cues.content_before for d in decisions], dtype=np.float64),
        tuple(b.dates[0].toordinal() if b.dates else None for b in blocks),
    )


def context_matrix(table: CandidateTable, first: np.ndarray) -> np.ndarray:
    """One row of CONTEXT_FEATURES per candidate, from the first stage's probabilities ``first`` (the
    record start counts as a confident start): how the record's confident starts look and where they sit
    relative to this candidate."""
    n = len(table)
    out = np.zeros((n, len(CONTEXT_FEATURES)), dtype=np.float32)
    if n == 0:
        return out
    p = np.asarray(first, dtype=np.float64).copy()
    p[0] = 1.0
    confident = p >= CONFIDENT
    pos = table.positions
    col = {name: k for k, name in enumerate(CONTEXT_FEATURES)}
    out[:, col["ctx_p"]] = p
    for shapes, share_col, max_col in (
        (table.top_shapes, col["ctx_top_confident"], col["ctx_top_max"]),
        (table.block_shapes, col["ctx_block_confident"], col["ctx_block_max"]),
    ):
        members: dict[str, list[int]] = defaultdict(list)
        for i, shape in enumerate(shapes):
            members[shape].append(i)
        for rows in members.values():
            if len(rows) == 1:
                out[rows, share_col] = out[rows, max_col] = -1.0  # a shape of its own
                continue
            group_p = p[rows]
            out[rows, share_col] = (confident[rows].sum() - confident[rows]) / (len(rows) - 1)
            second, best = np.sort(group_p)[-2:]
            out[rows, max_col] = np.where(group_p >= best, second, best)  # the best of the others
    top_counts: dict[str, int] = defaultdict(int)
    for shape in table.top_shapes:
        top_counts[shape] += 1
    out[:, col["ctx_top_others"]] = [math.log1p(top_counts[shape] - 1) for shape in table.top_shapes]
    out[:, col["ctx_prev_p"]] = np.concatenate(([1.0], p[:-1]))
    out[:, col["ctx_next_p"]] = np.concatenate((p[1:], [1.0]))
    # content lines since the last confident start above, and until the next one below
    since = np.empty(n)
    last = None
    for i in range(n):
        since[i] = pos[i] - last if last is not None else pos[i]
        if confident[i]:
            last = pos[i]
    until = np.empty(n)
    nxt = None
    for i in range(n - 1, -1, -1):
        until[i] = nxt - pos[i] if nxt is not None else pos[-1] - pos[i] + 1
        if confident[i]:
            nxt = pos[i]
    starts = pos[confident]  # the typical stretch between confident starts
    typical = max(float(np.median(np.diff(starts))), 1.0) if len(starts) > 1 else max(float(pos[-1]), 1.0)
    out[:, col["ctx_since_confident"]] = np.log1p(since)
    out[:, col["ctx_until_confident"]] = np.log1p(until)
    out[:, col["ctx_interval_rel"]] = np.log((since + until + 1) / typical)
    out[:, col["ctx_since_rel"]] = np.log((since + 1) / typical)
    out[:, col["ctx_confident_share"]] = confident.sum() / n
    out[:, col["ctx_rank"]] = p.argsort(kind="stable").argsort() / max(n - 1, 1)
    out[:, col["ctx_date_gap"]] = _date_gaps(table.days, confident)
    return out


def _date_gaps(days: tuple[int | None, ...], confident: np.ndarray) -> list[float]:
    """Per candidate, log1p of the days between its date and the nearest date printed since the last
    confident start (that start included): a note dated like the encounter above it belongs to it, a
    date far from all of them is a new date of service. -1 for an undated candidate or none to compare."""
    gaps: list[float] = []
    seen: set[int] = set()
    for day, sure in zip(days, confident, strict=True):
        gaps.append(math.log1p(min(abs(day - d) for d in seen)) if day is not None and seen else -1.0)
        if sure:
            seen = set()
        if day is not None:
            seen.add(day)
    return gaps


def _stacked(lay: layout.Layout, text_idx: list[int]) -> list[int]:
    """A block of short lines goes on through the short lines printed right under it, up to four: a
    title over a date, a name and a place is one header, whatever the rules read in its first line."""
    lines, n = lay.lines, len(lay.lines)
    if any(len(lines[j].strip()) > STACK_LINE_CHARS for j in text_idx):
        return text_idx
    out = list(text_idx)
    j = out[-1] + 1
    while len(out) < 4 and j < n and not (lay.blank[j] or lay.rule[j]):
        if not lay.furniture[j]:
            line = lines[j].strip()
            if len(line) > STACK_LINE_CHARS or layout.ends_sentence(line):
                break
            out.append(j)
        j += 1
    return out


def second_stage_rows(table: CandidateTable, first: np.ndarray) -> np.ndarray:
    """What the second stage reads per candidate: its FEATURES, then its CONTEXT_FEATURES."""
    return np.hstack([table.rows, context_matrix(table, first)])


def _block_features(
    row: list[float], b: _Block, lines: list[str], idx: list[int], block: tuple[int, ...], lay: layout.Layout, rest: list[str]
) -> None:
    """The block's form from its first lines (``b.text_lines``); its dates, names and places from all of
    them (``rest`` follows the first lines in a long block)."""
    text_lines = b.text_lines
    first = text_lines[0] if text_lines else ""
    pairs = [layout.label_value_pairs(t) for t in text_lines]
    k = len(text_lines) or 1
    row[INDEX["blk_lines"]] = len(text_lines)
    row[INDEX["blk_boxed"]] = any(lay.rule[j] for j in block) or any(layout.boxed(lines[j]) for j in idx)
    row[INDEX["blk_lv_frac"]] = sum(1 for p in pairs if p) / k
    row[INDEX["blk_lv_pairs"]] = min(sum(pairs), 8)
    row[INDEX["blk_cells"]] = min(max((layout.cells(t) for t in text_lines), default=0), 8)
    lengths = [len(t) for t in text_lines] or [0]
    row[INDEX["blk_mean_len"]] = min(sum(lengths) / k, 300) / 100
    row[INDEX["blk_max_len"]] = min(max(lengths), 300) / 100
    row[INDEX["blk_sentence_frac"]] = sum(1 for t in text_lines if layout.ends_sentence(t)) / k
    letters = "".join(filter(str.isalpha, first))
    row[INDEX["blk_upper"]] = sum(map(str.isupper, letters)) / len(letters) if letters else 0.0
    words = first.split()
    row[INDEX["blk_title_first"]] = (
        0 < len(words) <= 6 and not any(ch.isdigit() for ch in first) and not layout.ends_sentence(first) and ":" not in first
    )
    row[INDEX["blk_markdown"]] = first.lstrip().startswith(("#", "**", "__"))
    joined = "\n".join(text_lines)
    whole = "\n".join([*text_lines, *rest])
    fixed = layout.ocr_digits(whole)
    mentions = list(find_dates(fixed))
    if not mentions and ("|" in fixed or "^" in fixed):
        mentions = list(find_dates(fixed, compact=True))
    dates = [m.value for m in mentions]
    b.dates = dates
    row[INDEX["blk_dates"]] = min(len(dates), 4)
    first_end = len(text_lines[0]) if text_lines else 0
    row[INDEX["blk_date_first"]] = bool(mentions) and mentions[0].start <= first_end
    row[INDEX["blk_time"]] = bool(layout._TIME.search(whole))
    span = _span(dates)
    b.span = span
    row[INDEX["blk_span"]] = span is not None and span[1] > span[0]
    row[INDEX["blk_span_days"]] = math.log1p((span[1] - span[0]).days) if span else 0.0
    row[INDEX["blk_person"]] = layout.names_person(whole)
    row[INDEX["blk_org"]] = layout.names_organisation(whole)
    row[INDEX["blk_visit_word"]] = bool(VISIT_WORDS.search(whole))
    chars = sum(lengths) or 1
    row[INDEX["blk_digit_frac"]] = (len(joined) - len(joined.translate(_NO_DIGITS))) / chars
    # when, who and where in the first line alone: a stamp, a banner or a sentence that states the visit
    row[INDEX["first_facts"]] = (row[INDEX["blk_date_first"]] > 0) + layout.names_person(first) + layout.names_organisation(first)
    row[INDEX["first_len"]] = min(len(first), 300) / 100
    row[INDEX["first_words"]] = min(len(words), 30)
    row[INDEX["first_digit"]] = first[:1].isdigit()
    row[INDEX["first_pipe"]] = "|" in first or "│" in first
    row[INDEX["first_colon"]] = ":" in first
    raw = lines[idx[0]] if idx else ""
    row[INDEX["first_indent"]] = min(len(raw) - len(raw.lstrip()), 8)
    b.header_like = bool(dates) and (
        row[INDEX["blk_lv_frac"]] >= 0.5 or row[INDEX["blk_cells"]] >= 3 or row[INDEX["blk_boxed"]] > 0 or row[INDEX["r_enc_header"]] > 0
        or row[INDEX["r_note_header"]] > 0 or (row[INDEX["blk_date_first"]] > 0 and len(first) < 100)
    )


def _span(dates: list[date]) -> tuple[date, date] | None:
    """An admission-to-discharge pair: the first date and a later one within SPAN_DAYS (or the same day
    printed twice, as outpatient arrival and departure)."""
    if len(dates) < 2:
        return None
    start = dates[0]
    for later in dates[1:]:
        if 0 <= (later - start).days <= SPAN_DAYS:
            return start, later
    return None


def _recurrence_features(rows: np.ndarray, blocks: list[_Block]) -> None:
    by_top: dict[str, list[int]] = defaultdict(list)
    by_block: dict[str, int] = defaultdict(int)
    for r, b in enumerate(blocks):
        by_top[b.top_shape].append(r)
        by_block[b.block_shape] += 1
    template_sizes = []
    stats: dict[str, tuple[float, float, float]] = {}
    for shape, members in by_top.items():
        dated = [blocks[r].dates[0] for r in members if blocks[r].dates]
        breaks = sum(1 for r in members if blocks[r].breaks)
        stats[shape] = (len(dated) / len(members), breaks / len(members), len(set(dated)) / len(members))
        if len(members) >= layout.MIN_REPEATS and stats[shape][0] >= 0.7 and stats[shape][1] >= 0.6:
            template_sizes.append((len(members), shape))
    top_templates = {shape for _, shape in sorted(template_sizes, reverse=True)[:2]}
    for r, b in enumerate(blocks):
        members = by_top[b.top_shape]
        dated, breaks, distinct = stats[b.top_shape]
        row = rows[r]
        row[INDEX["rec_top"]] = math.log1p(len(members) - 1)
        row[INDEX["rec_block"]] = math.log1p(by_block[b.block_shape] - 1)
        row[INDEX["rec_dated"]] = dated
        row[INDEX["rec_break"]] = breaks
        row[INDEX["rec_distinct_dates"]] = distinct
        row[INDEX["rec_template"]] = len(members) >= layout.MIN_REPEATS and dated >= 0.7 and breaks >= 0.6
        row[INDEX["rec_rank"]] = b.top_shape in top_templates


def _date_features(rows: np.ndarray, blocks: list[_Block], decisions: list[Decision]) -> None:
    header_dates = [b.dates[0] for b in blocks if b.header_like and b.dates]
    ups = sum(1 for a, c in zip(header_dates, header_dates[1:]) if c > a)
    downs = sum(1 for a, c in zip(header_dates, header_dates[1:]) if c < a)
    direction = 0 if ups == downs else (1 if ups > downs else -1)
    last: date | None = None
    last_line = 0
    span: tuple[date, date] | None = None
    for r, (b, d) in enumerate(zip(blocks, decisions, strict=True)):
        row = rows[r]
        row[INDEX["d_direction"]] = direction
        when = b.dates[0] if b.dates else None
        row[INDEX["d_has"]] = when is not None
        if when is not None and last is not None:
            delta = (when - last).days
            row[INDEX["d_delta"]] = math.copysign(math.log1p(abs(delta)), delta)
            row[INDEX["d_same"]] = delta == 0
            row[INDEX["d_delta_dir"]] = row[INDEX["d_delta"]] * direction
        if when is not None and span is not None and b.span is None and span[0] <= when <= span[1]:
            row[INDEX["d_in_span"]] = 1.0
        row[INDEX["d_lines_since"]] = math.log1p(max(0, d.cues.content_before - last_line))
        if b.header_like and when is not None:
            last, last_line = when, d.cues.content_before
            if b.span is not None:
                span = b.span
            elif span is not None and not (span[0] <= when <= span[1]):
                span = None


def _neighbour_features(rows: np.ndarray, blocks: list[_Block], decisions: list[Decision]) -> None:
    """How the candidates before and after this one look: a header block directly above a dated note
    (one encounter start printed as two blocks) reads differently from a header after a long note."""
    at = [d.cues.content_before for d in decisions]
    for r, b in enumerate(blocks):
        row = rows[r]
        when = b.dates[0] if b.dates else None
        if r > 0:
            p = blocks[r - 1]
            row[INDEX["prev_cand_lines"]] = math.log1p(at[r] - at[r - 1])
            row[INDEX["prev_cand_header"]] = p.header_like
            row[INDEX["prev_same_date"]] = when is not None and bool(p.dates) and p.dates[0] == when
        else:
            row[INDEX["prev_cand_lines"]] = math.log1p(at[r])
        if r + 1 < len(blocks):
            q = blocks[r + 1]
            row[INDEX["next_cand_lines"]] = math.log1p(at[r + 1] - at[r])
            row[INDEX["next_cand_header"]] = q.header_like
            row[INDEX["next_cand_dated"]] = bool(q.dates)
            row[INDEX["next_same_date"]] = when is not None and bool(q.dates) and q.dates[0] == when
        else:
            row[INDEX["next_cand_lines"]] = 8.0


# Structural features named in a boundary's cues when they are present (the rules' cue names come first).
_EXPLAINED = (
    ("rec_template", "template"), ("blk_boxed", "boxed"), ("blk_span", "date_span"), ("d_in_span", "inside_span"),
    ("blk_person", "person"), ("blk_org", "organisation"), ("prev_closer", "after_closer"), ("page_break", "page_break"),
    ("d_same", "same_date"),
)


def explain(decision: Decision, row: np.ndarray) -> tuple[str, ...]:
    """The cues behind a candidate, for people: the rules' cue names, the block's structure and the
    date's relation to the encounter before."""
    names = list(decision.names)
    if row[INDEX["blk_lv_frac"]] >= 0.5:
        names.append("label_value_block")
    names += [label for feature, label in _EXPLAINED if row[INDEX[feature]] > 0]
    if row[INDEX["d_delta_dir"]] > 0:
        names.append("new_date")
    return tuple(dict.fromkeys(names))


# A decision this close to a coin toss is uncertain.
UNCERTAIN = (0.2, 0.8)
# Share of a record's candidates decided near a coin toss before the record as a whole is flagged.
UNCERTAIN_SHARE = 0.15
# Characters per encounter above which a long record is suspiciously sparse.
SPARSE_CHARS = 60_000


def review_reasons(doc: Any, boundaries: list, probabilities: np.ndarray) -> tuple[str, ...]:
    """Why a person should review a record's segmentation as a whole (counts only, never its text):
    many decisions close to a coin toss, or too few encounters for the record's length. One uncertain
    decision is an encounter's reason, not the record's (see encounter_review_reasons). (Dated
    header-like blocks that opened nothing were tried as a reason and dropped: note stamps inside a
    stay are such blocks, and the reason fired on 47 of 48 records of formats we had not seen.)"""
    reasons = []
    uncertain = int(((probabilities >= UNCERTAIN[0]) & (probabilities < UNCERTAIN[1])).sum())
    if uncertain >= 3 and uncertain > UNCERTAIN_SHARE * len(probabilities):
        reasons.append(f"{uncertain} of {len(probabilities)} boundary decisions with probability between {UNCERTAIN[0]} and {UNCERTAIN[1]}")
    length = len(doc.text)
    if length > 2 * SPARSE_CHARS and length / len(boundaries) > SPARSE_CHARS:
        reasons.append(f"{len(boundaries)} encounter(s) for {length // 1000} KB")
    return tuple(reasons)


def encounter_review_reasons(candidates: tuple, record_reasons: tuple[str, ...], first_line: int, last_line: int) -> tuple[str, ...]:
    """Why a person should check one encounter's bounds: its start, or a split passed over inside it,
    decided near a coin toss; then its record's reasons. ``candidates`` are ScoredCandidate."""
    low, high = UNCERTAIN
    reasons = [
        f"start decided with probability {c.probability:.2f}"
        for c in candidates
        if c.line == first_line and low <= c.probability < high
    ]
    passed = sum(1 for c in candidates if first_line < c.line <= last_line and low <= c.probability < high)
    if passed:
        reasons.append(f"{passed} split(s) passed over inside with probability between {low} and {high}")
    return (*reasons, *(f"record: {r}" for r in record_reasons))
