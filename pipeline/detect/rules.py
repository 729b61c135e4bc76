"""The rules detector: scored, explainable cues over the line structure of a record.

A candidate is the first line of a block: a paragraph start (after blank lines or a separator rule,
page furniture being transparent), the line after a signature (or after a closing line the record's
own template prints after its notes, see pipeline.layout), or a header-like line (an encounter
header, a note sub-header, a note title, a letterhead, an opening section) that follows body text.
A candidate's block reaches up over a banner box ("=====" / title / "=====") and down over its
contiguous header lines, stopping at its first line of text, a separator or a signature. Its date is
the one its header or sub-header prints, or else the first date of a short line among its first three
that is no sentence and whose words give the date to no other day ("_Recorded 07/14/2014, 12:11p_").

Its score adds named cues: the blank-line gap or separator before it (and "record_gap" when the gap is
as wide as the one this record leaves before its own encounter headers), an encounter-level header, a
note sub-header (more for a note that opens with nothing but its own date line), a note-type title or
opening section, a signature or closing line just before it, a note date later than the current
encounter's; and subtracts contrary cues: a section right under a note's title, a line split by a page
break, a body sentence citing an earlier visit, a signature block, a hospital-day note.

Candidates at or above the threshold start a new encounter, unless the encounter being read keeps
them, and each reason is named in the trace: a note right under its encounter header; a hospital-day
or shift note; a note of an open inpatient stay (opened by an admission cue, bounded by its printed
discharge date, a discharge summary or a date gap); an addendum; the dated main note after a short
undated first note; a note dated the same day as the current encounter (a visit's triage, rooming,
imaging and provider notes); an admission header printing a day the encounter's notes have already
passed (a discharge summary's own admission block). A discharge summary that prints its admission date re-reads the notes
dated after that admission into one stay; undated text between a signature and a new dated note
opens that note's encounter; a cover sheet before the first document belongs to it.
A stay or a visit is ONE encounter.

With a scorer (the default), a learned model reads every candidate of that trace through features that
name no format (pipeline.detect.features) and gives the probability that an encounter starts there. The
decision is asymmetric. A candidate the cues passed over opens an encounter when the model gives it at
least ``threshold`` (``misread_threshold``, near even odds, in a record the cues misread: there the cues'
silence says little) and the encounter above it keeps a body (MIN_BODY_LINES content lines); when its
own encounter would have none (a signature above the next header, a box above the note the cues read
as the start), only one of the two starts stands: in a record the cues misread the likelier one, in a
record they read the next one. A start the cues made falls when the model
gives it less than ``keep_threshold``, but only in a record where the model rejects at least
``veto_share`` of the cues' starts, i.e. the cues misread the record's template; in a record the cues
read, their starts all stand (but one that rests on a header's form alone, with no header or title the
cues' vocabulary knows: the model weighs that form in its context, and a dated "Comparison: Prior study
<date>" line has the form too) and so do the reasons they kept a candidate inside an encounter (an open
stay, the same day, an addendum). A record of a dozen candidates or fewer keeps the cues' starts.
Why: the model is trained on generated records only, and the generator under-represents the sources
the cues were written from; measured, the model alone loses 0.12 F1 on the dev corpus, a plain
asymmetric rule 0.01, and this one nothing, while keeping the model's gain on formats no cue names.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, NamedTuple

from pipeline import cues, layout
from pipeline.dates import find_dates
from pipeline.detect.base import Detection, DetectionInput, Detector, EncounterBoundary, ScoredCandidate, register
from pipeline.detect.features import KEEP_REASONS, candidate_table, explain, review_reasons
from pipeline.detect.scorer import load as load_scorer
from pipeline.errors import UsageError

# Lines of a block inspected for header cues: header blocks are short.
HEADER_WINDOW = 4
# Lines a header block may run to when every one of them is a label and its value.
PAIR_RUN_LINES = 10
# Content lines under a note's title or sub-header that still belong to the top of that note.
NOTE_TOP_LINES = 4
# Most content lines of an undated, headerless first note (a rooming or triage note) that the dated
# note after it still joins.
UNDATED_LEAD_LINES = 10
# Most content lines of an undated lead note before the dated note whose encounter it opens.
LEAD_LINES = 40
# Most content lines of a cover sheet before the first document.
FRONT_MATTER_LINES = 5
# Longest line that can be a letterhead or a title line.
SHORT_LINE = 70
# A markdown heading ("# Title", "### Title"): a block of its own by its syntax, whatever it says.
MARKDOWN_HEADING = re.compile(r"^ {0,3}#{1,6}\s+\S")
# Longest line that can be a sign-off's bare name or date.
SIGN_OFF_CHARS = 60
# Share of such a line its name or date must fill.
SIGN_OFF_SHARE = 0.7
# Longest line that can be an attestation (a clinician's name and a date) under a note's last paragraph.
ATTESTATION_CHARS = 100
# Content lines from a candidate's top in which a stay's day ("Hospital day 2") says the note continues a stay.
STAY_DAY_LINES = 4
# Longest line that can state a visit (its date, clinician and organisation) by itself.
STATED_VISIT_CHARS = 240
# Longest line that can be a labelled stamp ("_Recorded 16-Aug-2015, 14h35_"), and the most words it may
# hold besides its date and time (one without a time).
STAMP_CHARS = 60
STAMP_WORDS = 2
# Most words of a valediction line ("Kind regards,", "With best wishes,").
VALEDICTION_WORDS = 4
# Most lines of text inside a box ("+----+" / "| ... |" / "+----+") that still make one header block.
BOX_LINES = 10
# Most days between the two dates of a header block that make an admission-to-discharge pair.
STAY_SPAN_DAYS = 60
# Longest line of a header block found by its form.
HEADER_LINE_CHARS = 140
# Characters of a line's start that make its template key ("provider:", "acct9|adm9/9/9").
TEMPLATE_PREFIX = 10
# Content lines an encounter holds below its header block before the scorer may open another one.
MIN_BODY_LINES = 2
# Candidates a record needs before the scorer may overrule a start the cues made: its features are
# relative to the record (recurrence, date direction, neighbours) and a short record gives them no footing.
MIN_SCORED_CANDIDATES = 12
# The trace's reasons for keeping a candidate inside the encounter above it.
KEEP_ONLY = frozenset(KEEP_REASONS)


@dataclass(frozen=True)
class LineCues:
    line: int  # first line of the candidate's block: where the encounter would start
    gap: int
    separator: bool
    encounter_header: str | None
    note_header: str | None
    titles: frozenset[str]
    after_signature: bool
    after_closing: bool
    false_cue: bool
    closes_note: bool
    after_closing_section: bool
    continues_stay: bool
    addendum: bool
    split_line: bool
    date: date | None  # the date printed in the block's header or sub-header
    admitted: date | None  # an admission date printed in the block
    discharge_by: date | None  # a discharge date printed in the block
    opens_stay: bool
    discharge_note: bool
    block: tuple[int, ...] = ()  # the block's lines
    record_gap: bool = False  # as wide a gap as this record leaves before its encounter headers
    content_before: int = 0  # content lines of the record before the block
    content_end: int = 0  # content lines of the record up to the end of the block
    after_next_visit: bool = False  # the line before books the next visit
    structural_header: bool = False  # a dated header block found by its form (labels, box, stamp), not its words
    after_sign_off: bool = False  # right under a sign-off: a bare clinician's name (and its date), or an attestation


@register
class RulesDetector(Detector):
    name = "rules"
    version = "3.0"

    def __init__(
        self,
        threshold: float = 0.8,
        misread_threshold: float = 0.6,
        keep_threshold: float = 0.05,
        veto_share: float = 0.15,
        scorer: str | None = "default",
        cue_threshold: float = 3.0,
        gap_weights: tuple[float, ...] = (-1.5, 0.0, 1.5, 2.5),
        separator_weight: float = 2.0,
        record_gap_weight: float = 1.5,
        encounter_header_weight: float = 4.0,
        note_header_weight: float = 2.0,
        dated_note_bonus: float = 1.0,
        title_weight: float = 1.0,
        note_title_weight: float = 1.5,
        opening_weight: float = 3.0,
        signature_weight: float = 1.5,
        closing_weight: float = 1.0,
        new_date_weight: float = 1.0,
        note_top_penalty: float = 2.0,
        stay_gap_days: int = 2,
        structural_header_weight: float = 3.0,
    ) -> None:
        if not (0.0 <= keep_threshold <= min(threshold, misread_threshold) and max(threshold, misread_threshold) <= 1.0):
            raise UsageError(
                f"rules detector: probabilities need 0 <= keep_threshold ({keep_threshold}) <= threshold ({threshold}), "
                f"misread_threshold ({misread_threshold}) <= 1"
            )
        self.threshold = threshold
        self.misread_threshold = misread_threshold
        self.keep_threshold = keep_threshold
        if not 0.0 <= veto_share <= 1.0:
            raise UsageError(f"rules detector: veto_share ({veto_share}) must lie in [0, 1]")
        self.veto_share = veto_share
        self.scorer = None if scorer in (None, "none") else load_scorer(None if scorer == "default" else scorer)
        self.cue_threshold = cue_threshold
        self.gap_weights = tuple(gap_weights)
        self.separator_weight = separator_weight
        self.record_gap_weight = record_gap_weight
        self.encounter_header_weight = encounter_header_weight
        self.note_header_weight = note_header_weight
        self.dated_note_bonus = dated_note_bonus
        self.title_weight = title_weight
        self.note_title_weight = note_title_weight
        self.opening_weight = opening_weight
        self.signature_weight = signature_weight
        self.closing_weight = closing_weight
        self.new_date_weight = new_date_weight
        self.note_top_penalty = note_top_penalty
        self.stay_gap_days = stay_gap_days
        self.structural_header_weight = structural_header_weight

    def config(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "misread_threshold": self.misread_threshold,
            "keep_threshold": self.keep_threshold,
            "veto_share": self.veto_share,
            "scorer": self.scorer.sha256 if self.scorer else None,
            "cue_threshold": self.cue_threshold,
            "gap_weights": list(self.gap_weights),
            "separator_weight": self.separator_weight,
            "record_gap_weight": self.record_gap_weight,
            "encounter_header_weight": self.encounter_header_weight,
            "note_header_weight": self.note_header_weight,
            "dated_note_bonus": self.dated_note_bonus,
            "title_weight": self.title_weight,
            "note_title_weight": self.note_title_weight,
            "opening_weight": self.opening_weight,
            "signature_weight": self.signature_weight,
            "closing_weight": self.closing_weight,
            "new_date_weight": self.new_date_weight,
            "note_top_penalty": self.note_top_penalty,
            "stay_gap_days": self.stay_gap_days,
            "structural_header_weight": self.structural_header_weight,
        }

    # -- line analysis -------------------------------------------------------------------------

    def _paragraph_cues(self, doc: DetectionInput, lay: layout.Layout | None = None) -> list[LineCues]:
        lines = doc.lines.lines
        n = len(lines)
        lay = lay or record_layout(doc)
        blank, furniture = lay.blank, lay.furniture
        rule = [lay.rule[i] and not furniture[i] for i in range(n)]
        content = lay.content
        enc_header = {i: h for i in content if (h := cues.encounter_header(lines[i]))}
        note_header = {i: h for i in content if i not in enc_header and (h := cues.note_header(lines[i]))}
        # a recurring closing line of this record's template, and a name under a valediction, sign off
        # like a signature
        sign_offs = _sign_offs(lay)
        sign_off = sign_offs.ends
        signature = {i for i in content if cues.SIGNATURE.search(lines[i])} | lay.closing_lines | sign_offs.signed
        # Title lines are looked up only among short lines that could be one (the matcher is the slow part).
        short = [i for i in content if len(lines[i]) <= SHORT_LINE and ":" not in lines[i]]
        maybe = [i for i in short if cues.maybe_title(lines[i])]
        title_only = {i for i, found in zip(maybe, cues.title_cues([lines[i] for i in maybe]), strict=True) if "note_title" in found}
        letterhead = {i for i in short if _letterhead(lines[i])}
        template = _template_lines(lay, blank, rule)
        # A line that says when, who and where by itself (a visit's summary sentence, in any words)
        stated = {i for i in content if _states_visit(lines[i])}
        headerish = set(enc_header) | set(note_header) | title_only | letterhead | template | stated
        # An opening section run into the text (no blank line before it): a candidate too; so is a
        # markdown heading, which sets itself off by its syntax.
        opening = {i for i in content if cues.OPENING_LEAD.match(lines[i]) or MARKDOWN_HEADING.match(lines[i])}
        # A box: a rule, a few lines of text, a rule (page furniture between them being transparent). Its
        # top rule opens the block; its rules are no separator.
        box_top: dict[int, int] = {}
        box_end: dict[int, int] = {}
        boxed_rules: set[int] = set()
        titled_tops: set[int] = set()  # read as the box's rule, not as its first line of text
        banners: set[int] = set()  # a titled rule outside any box: a note's own banner, the top of a block
        for i in content:
            # the first line inside a top rule, or a top edge with a title in it
            titled = layout.titled_rule(lines[i])
            inside = bool(box_end) and i <= max(box_end.values())
            if titled and not inside:
                banners.add(i)
            if (titled or (0 < i and rule[i - 1])) and not inside:
                j, inside = i + 1, 1
                while j < n and not rule[j] and inside <= BOX_LINES:
                    if blank[j] and not any(furniture[j - 2 : j + 3]):
                        break
                    inside += not (blank[j] or furniture[j])
                    j += 1
                if j < n and rule[j] and inside <= BOX_LINES and (j > i + 1 or not titled):
                    box_top[i] = i if titled else i - 1
                    if titled:
                        titled_tops.add(i)
                    box_end[i] = j
                    boxed_rules.update((box_top[i], j))

        starts: list[tuple[int, int, bool, int | None]] = []  # (line, gap, separator, previous content line)
        prev: int | None = None
        for i in content:
            if prev is None:
                gap, separator = 99, False
            else:
                between = range(prev + 1, i)
                blanks = sum(1 for j in between if blank[j])
                # A page break brings its own blank line before and after its furniture: transparent.
                furniture_blocks = sum(1 for j in between if furniture[j] and (j == prev + 1 or not furniture[j - 1]))
                gap = max(0, blanks - 2 * furniture_blocks)
                separator = any(rule[j] and j not in boxed_rules for j in between)
            if i in signature or cues.END_MARKER.match(lines[i]) or i in sign_offs.dates:
                pass  # a signature or a signing's date closes a note and an end marker the record: neither opens one
            elif (
                prev is None
                or gap > 0
                or separator
                or i in box_top
                or i in banners
                or prev in signature
                or prev in sign_off
                or (i in headerish and prev not in headerish)
                # two lines that each open paragraphs in this record, one right under the other: the
                # upper one closed a note (a recurring sign-off), the lower one opens the next
                or (i in template and prev in template and lay.keys[i][:TEMPLATE_PREFIX] != lay.keys[prev][:TEMPLATE_PREFIX])
                or (i in opening and prev not in headerish)
                or (i in enc_header and not _same_block(starts, i, blank))
            ):
                starts.append((i, gap, separator, prev))
            prev = i
        titles = cues.title_cues([lines[i] for i, _, _, _ in starts])
        out = []
        for (i, gap, separator, prev_line), title in zip(starts, titles, strict=True):
            top = box_top.get(i, i)
            window = []
            pair_run = True  # every line of the window so far prints a label and its value
            width = max(HEADER_WINDOW, box_end.get(i, 0) - i)
            for j in range(i, n):
                if blank[j] or (rule[j] and j not in boxed_rules and not _inside_table(lines, j)):
                    break  # a header block is contiguous; a separator or a signature ends it
                head = lines[j][:HEADER_LINE_CHARS]
                pairs = layout.label_value_pairs(head)
                if len(window) >= width and not (len(window) < PAIR_RUN_LINES and pair_run and pairs):
                    break  # ... and short, unless it is a run of label-value lines
                if not (rule[j] or furniture[j] or j in titled_tops):
                    window.append(j)
                    pair_run = pair_run and pairs > 0
                    if j in signature or not (j in headerish or cues.LABEL_LINE.match(head) or pairs or layout.table_row(head)):
                        break  # ... and so does its first line of text
            header = next((enc_header[j] for j in window if j in enc_header), None)
            note = next((note_header[j] for j in window[:3] if j in note_header), None)
            if i in title_only:
                title = title | {"note_title"}
            previous = lines[prev_line] if prev_line is not None else ""
            first_content = bisect_left(content, i)
            block_text = "\n".join(lines[j] for j in window)
            closes_note = header is None and _signs_off(i, n, blank, furniture, signature)
            dated = [j for j in window if j in enc_header or j in note_header]
            when = None
            for j in dated:
                mention = cues.date_in(layout.ocr_digits(lines[j]), compact=enc_header.get(j) == "hl7_segment")
                if mention:
                    when = mention.value
                    break
            admitted = _labelled_date(block_text, cues.ADMISSION_DATE)
            discharge_by = _labelled_date(block_text, cues.DISCHARGE_DATE)
            dates = _structural_dates(lines, window, i in box_top, pair_run) if header is None and note is None else []
            structural = bool(dates)
            if structural:
                # A header in a format no label list names: its dates are the encounter's (an admission
                # and a later discharge date when it prints two).
                when = dates[0]
                if len(dates) > 1 and 0 < (dates[1] - dates[0]).days <= STAY_SPAN_DAYS:
                    admitted, discharge_by = admitted or dates[0], discharge_by or dates[1]
            elif when is None and not closes_note:
                when = _stamped_date(lines, [j for j in window if j not in signature])  # a signature's date is its signing's
            out.append(
                LineCues(
                    line=top,
                    gap=gap,
                    separator=separator,
                    encounter_header=header,
                    note_header=note,
                    titles=frozenset(title),
                    after_signature=prev_line in signature,
                    after_closing=bool(cues.CLOSING.search(previous)),
                    after_next_visit=bool(cues.NEXT_VISIT.search(previous)),
                    false_cue=bool(cues.FALSE_CUE.search(lines[i])) and header is None,
                    closes_note=closes_note,
                    after_closing_section=prev_line is not None
                    and any(cues.CLOSING_SECTION.search(lines[j]) for j in range(max(0, prev_line - 6), prev_line + 1)),
                    # the day of a stay, printed in the note's first lines (under a sub-header of up to three lines)
                    continues_stay=header is None and any(cues.HOSPITAL_DAY.search(lines[j]) for j in content[first_content : first_content + STAY_DAY_LINES]),
                    addendum=header is None and any(cues.ADDENDUM.search(lines[j]) for j in window[:2]),
                    split_line=_looks_split(previous, lines[i]) and header is None and note in (None, "bare_date") and not separator,
                    date=when,
                    admitted=admitted,
                    discharge_by=discharge_by,
                    opens_stay=bool(cues.STAY_OPEN.search(block_text)) or (structural and discharge_by is not None),
                    structural_header=structural,
                    after_sign_off=prev_line in sign_off,
                    # a discharge summary's title in the block, or right above it in the same paragraph
                    discharge_note=bool(cues.DISCHARGE_NOTE.search("\n".join(lines[j] for j in [*_paragraph_above(blank, top), *window[:3]]))),
                    block=tuple(range(top, window[-1] + 1)) if window else (top,),
                    content_before=bisect_left(content, top),
                    content_end=bisect_right(content, window[-1] if window else top),
                )
            )
        wide = _record_gap(out)
        return [replace(c, record_gap=True) if wide and wide <= c.gap < 99 else c for c in out]

    def score(self, c: LineCues, last_date: date | None = None) -> tuple[float, tuple[str, ...]]:
        """The boundary score of one candidate and the names of the cues that made it; ``last_date`` is
        the latest note date of the current encounter, when known."""
        parts: list[tuple[str, float]] = []
        if c.gap < 99:
            gap = self.gap_weights[min(c.gap, len(self.gap_weights) - 1)]
            if c.separator and self.separator_weight > gap:
                parts.append(("separator", self.separator_weight))
            elif not (c.gap == 0 and (c.encounter_header or c.note_header or c.after_signature)):
                parts.append((f"gap_{min(c.gap, len(self.gap_weights) - 1)}", gap))
        if c.record_gap:
            parts.append(("record_gap", self.record_gap_weight))
        if c.encounter_header:
            parts.append((f"header:{c.encounter_header}", self.encounter_header_weight))
        if c.structural_header:
            parts.append(("structural_header", self.structural_header_weight))
        if c.note_header:
            # A note that opens with nothing but its own date line is an exported visit note: stronger than
            # a sibling note's sub-header (title, time, author).
            bonus = self.dated_note_bonus if c.note_header == "bare_date" else 0.0
            parts.append((f"note:{c.note_header}", self.note_header_weight + bonus))
        for title in sorted(c.titles):
            weight = {"strong_opening": self.opening_weight, "note_title": self.note_title_weight}.get(title, self.title_weight)
            parts.append((title, weight))
        if c.after_closing_section and "strong_opening" in c.titles:
            parts.append(("section_order_reset", self.title_weight))
        if c.after_signature:
            parts.append(("after_signature", self.signature_weight))
        elif c.after_next_visit:
            parts.append(("after_next_visit", self.signature_weight))
        elif c.after_closing:
            parts.append(("after_closing", self.closing_weight))
        if c.date and last_date and c.date > last_date:
            parts.append(("new_date", self.new_date_weight))
        if c.false_cue:
            parts.append(("false_date_cue", -3.0))
        if c.split_line:
            parts.append(("split_line", -3.0))
        if c.closes_note:
            parts.append(("signature_block", -3.0))
        if c.continues_stay:
            parts.append(("hospital_day", -3.0))
        return sum(w for _, w in parts), tuple(name for name, _ in parts)

    # -- decision ------------------------------------------------------------------------------

    def detect(self, doc: DetectionInput) -> list[EncounterBoundary]:
        return self.run(doc).boundaries

    def run(self, doc: DetectionInput) -> Detection:
        """Boundaries with their probabilities: the trace's decisions, overruled where the scorer is
        confident (see the module docstring), or the trace's own decisions when no scorer is configured."""
        lay = record_layout(doc)
        furniture = frozenset(i for i, aside in enumerate(lay.furniture) if aside)
        decisions = self.trace(doc, lay)
        start = EncounterBoundary(0, 0, 1.0, ("record_start",))
        if len(decisions) < 2:
            return Detection([start], furniture=furniture)
        if self.scorer is None:
            chosen = [(d, d.score) for d in decisions[1:] if d.start]
            boundaries = [start] + [EncounterBoundary(doc.lines.starts[d.cues.line], d.cues.line, score, d.names) for d, score in chosen]
            return Detection(boundaries, furniture=furniture)
        table = candidate_table(lay, decisions)
        rows = table.rows
        probabilities = self.scorer.probabilities(table)
        chosen: list[tuple[EncounterBoundary, int | None]] = []  # with the block end of a scorer-only start
        block_end = decisions[0].cues.block[-1] if decisions[0].cues.block else 0
        keep = self._keep(decisions, probabilities)
        misread = keep > 0.0
        threshold = self.misread_threshold if misread else self.threshold
        for d, row, p in zip(decisions[1:], rows[1:], probabilities[1:], strict=True):
            # A start only the scorer sees must leave the encounter above it a body, not just its header;
            # in a record the cues read, a candidate they kept inside an encounter for a stated reason
            # (an open stay, the same day, an addendum) stays kept.
            body = d.start or self._body(lay, block_end, d.cues.line)
            reasoned = not d.start and not misread and not KEEP_ONLY.isdisjoint(d.names)
            floor = (keep or (self.keep_threshold if _form_only(d.cues) else 0.0)) if d.start else threshold
            if p >= floor and d.cues.line > block_end and body and not reasoned:
                block_end = max(block_end, d.cues.block[-1] if d.cues.block else d.cues.line)
                boundary = EncounterBoundary(doc.lines.starts[d.cues.line], d.cues.line, round(float(p), 4), explain(d, row))
                chosen.append((boundary, None if d.start else block_end))
            elif d.cues.line <= block_end and d.cues.block:
                # a block that begins inside the header block of the start above goes on with it (a box
                # under a titled box): its lines are that header's, and the note under it its body
                block_end = max(block_end, d.cues.block[-1])
        boundaries = [start] + self._bodied(lay, chosen, misread)
        candidates = tuple(ScoredCandidate(d.cues.line, round(float(p), 4)) for d, p in zip(decisions[1:], probabilities[1:], strict=True))
        return Detection(
            boundaries, candidates=candidates, review_reasons=review_reasons(doc, boundaries, probabilities[1:]), furniture=furniture
        )

    def _keep(self, decisions: list[Decision], probabilities: Any) -> float:
        """The probability below which a start the cues made falls: ``keep_threshold`` where the scorer
        rejects at least ``veto_share`` of the cues' starts (the cues misread this record's template),
        0 where it rejects fewer (the cues read the record; a lone disagreement is more often the
        model's) or the record is too short for the model's record-relative features."""
        if len(decisions) <= MIN_SCORED_CANDIDATES:
            return 0.0
        cue_starts = [p for d, p in zip(decisions[1:], probabilities[1:], strict=True) if d.start]
        rejected = sum(p < self.keep_threshold for p in cue_starts)
        return self.keep_threshold if cue_starts and rejected >= self.veto_share * len(cue_starts) else 0.0

    def _bodied(self, lay: layout.Layout, chosen: list[tuple[EncounterBoundary, int | None]], misread: bool) -> list[EncounterBoundary]:
        """A start only the scorer made needs a body of its own too: it and the next start, with no body
        between them (a signature above the next header, a box above the note the cues read as the
        start), cannot both stand. In a record the cues misread the one the scorer finds likelier
        stands (the next one on a tie); in a record they read, the next one."""
        kept: list[EncounterBoundary] = []
        i = 0
        while i < len(chosen):
            boundary, own_end = chosen[i]
            after = chosen[i + 1][0] if i + 1 < len(chosen) else None
            i += 1
            if own_end is None or after is None or self._body(lay, own_end, after.line):
                kept.append(boundary)
            elif misread and boundary.score > after.score:
                kept.append(boundary)
                i += 1  # the next start gives way
        return kept

    @staticmethod
    def _body(lay: layout.Layout, block_end: int, next_line: int) -> bool:
        """Whether at least MIN_BODY_LINES content lines lie below ``block_end`` and above ``next_line``."""
        return bisect_left(lay.content, next_line) - bisect_right(lay.content, block_end) >= MIN_BODY_LINES

    def trace(self, doc: DetectionInput, lay: layout.Layout | None = None) -> list[Decision]:
        """Every candidate with its score, the cues behind it and whether it starts an encounter."""
        candidates = self._paragraph_cues(doc, lay)
        if not candidates:
            return []
        decisions = [Decision(candidates[0], 0.0, ("record_start",), True)]
        encounters = [_Encounter(candidates[0], 0)]
        block_end = candidates[0].block[-1]
        front_matter = not _clinical(candidates[0])
        lead: int | None = None  # an undated note opening (or block after a signature) since the last start
        opened = _opener_end(candidates[0])
        for c in candidates[1:]:
            current = encounters[-1]
            score, names = self.score(c, current.last_date)
            later_day = bool(c.date and current.last_date and c.date > current.last_date)
            if not (_headed(c) or c.after_signature or c.record_gap or later_day) and 0 <= c.content_before - opened <= NOTE_TOP_LINES:
                # A section right under a note's title or sub-header belongs to that note (unless it prints a later day).
                score -= self.note_top_penalty
                names += ("under_note_top",)
            if _opens_note(c):
                opened = _opener_end(c)
            # Spacing and a closed note before are not enough by themselves: the block itself must look
            # like the top of a document (a header, sub-header, title or opening section), or be set off
            # the way this record sets off its documents.
            is_start = score >= self.cue_threshold and c.line > block_end and (_clinical(c) or c.record_gap or c.separator)
            block_end = max(block_end, c.block[-1])
            if front_matter and (_clinical(c) or c.content_before > FRONT_MATTER_LINES):
                # A records-release cover sheet or a page header before the first document: its lines
                # belong to the first encounter.
                front_matter = False
                if is_start and c.content_before <= FRONT_MATTER_LINES:
                    is_start = False
                    names += ("front_matter",)
            if _looks_back(c):
                # A discharge summary looks back: its admission date says where its stay began, so
                # notes dated after that admission (and not after the discharge: in a record printed
                # newest first, later visits sit above the stay) that were read as new encounters
                # rejoin the stay.
                discharged = c.discharge_by or c.date
                while (
                    len(encounters) > 1
                    and not encounters[-1].headed
                    and encounters[-1].opening_date
                    and c.admitted < encounters[-1].opening_date
                    and (discharged is None or encounters[-1].opening_date <= discharged)
                ):
                    merged = encounters.pop()
                    opening = decisions[merged.decision]
                    decisions[merged.decision] = Decision(opening.cues, opening.score, opening.names + ("stay_reread",), False)
                    for k in range(merged.decision, len(decisions)):
                        encounters[-1].observe(decisions[k].cues)
                current = encounters[-1]
                if (
                    is_start
                    and not current.stay
                    and current.opening_date in (None, c.admitted)
                    and (current.first_date is None or current.first_date >= c.admitted)
                ):
                    current.admit(c.admitted)  # the encounter opened on the admission day: it is the stay
            if is_start:
                reason = current.keeps(c, self.stay_gap_days)
                if reason:
                    is_start = False
                    names += (reason,)
            if (
                is_start
                and lead is not None
                and c.encounter_header is None
                and c.date
                and c.content_before - decisions[lead].cues.content_before <= LEAD_LINES
            ):
                # Undated text between a signature and this dated note opens the same encounter: the note
                # before it was closed, and a first note (a rooming or triage note) often lacks the
                # sub-header that the visit's main note has.
                first = decisions[lead]
                decisions[lead] = Decision(first.cues, first.score, first.names + ("undated_lead",), True)
                encounters.append(_Encounter(first.cues, lead))
                for k in range(lead + 1, len(decisions)):
                    encounters[-1].observe(decisions[k].cues)
                decisions.append(Decision(c, score, names + ("after_undated_lead",), False))
                encounters[-1].observe(c)
                lead = None
                continue
            decisions.append(Decision(c, score, names, is_start))
            if is_start:
                encounters.append(_Encounter(c, len(decisions) - 1))
                lead = None
            else:
                current.observe(c)
                if c.date or c.encounter_header:
                    lead = None
                elif c.after_signature and lead is None and encounters[-1].decision < len(decisions) - 1:
                    lead = len(decisions) - 1
        return decisions


@dataclass(frozen=True)
class Decision:
    """One candidate, its score and cue names, and whether it opens an encounter."""

    cues: LineCues
    score: float
    names: tuple[str, ...]
    start: bool


class _Encounter:
    """The encounter being read: its dates and whether it is an inpatient stay that further notes
    still belong to."""

    def __init__(self, first: LineCues, decision: int) -> None:
        self.decision = decision  # index of the opening decision
        self.headed = first.encounter_header is not None
        self.header_end = first.content_end  # content lines up to the end of the opening block
        self.opening_date = first.date  # the date printed where the encounter opens
        self.opened_at = first.content_before
        self.first_date: date | None = None
        self.last_date: date | None = None
        self.stay = first.opens_stay
        self.admitted: date | None = first.admitted or (first.date if first.opens_stay else None)
        self.until: date | None = first.discharge_by  # printed discharge date
        self.discharged: date | bool = False  # the discharge note's date, or True when it had none
        self.observe(first, opening=True)

    def admit(self, when: date) -> None:
        """A discharge summary showed this encounter to be its stay."""
        self.stay = True
        self.admitted = when
        self.first_date = self.first_date or when

    def observe(self, c: LineCues, opening: bool = False) -> None:
        if c.date and self.first_date is None:
            self.first_date = c.date
        if c.discharge_note and self.stay:
            self.discharged = c.date or self.last_date or True
        elif (c.opens_stay or c.continues_stay) and not self.stay and (opening or c.encounter_header is None):
            self.stay = True
            self.admitted = c.admitted or c.date
        if self.stay and c.discharge_by and not self.until:
            self.until = c.discharge_by
        if c.date and not (self.last_date and c.date < self.last_date):
            self.last_date = c.date

    def keeps(self, c: LineCues, gap_days: int) -> str | None:
        """Why a scored candidate still belongs to this encounter, or None when it opens a new one."""
        if c.encounter_header is not None:
            # A discharge summary repeats its stay's admission header (an admission date the stay has
            # already passed); any other header opens an encounter.
            if self.stay and _looks_back(c) and self.last_date and c.admitted <= self.last_date:
                return "inside_stay"
            if c.admitted and self.first_date and self.last_date and self.first_date <= c.admitted < self.last_date:
                # ... or any admission date this encounter's notes have already passed, from inside it
                # (a discharge summary's header under its own note title and date)
                return "inside_stay"
            return None
        if self.headed and c.content_before - self.header_end <= 1 and (c.date is None or c.date == self.first_date):
            return "under_header"  # the first note right under its encounter header
        if c.continues_stay:
            return "hospital_day"  # "Hospital day 3", "Day 3 / LOS", a nursing shift note: a stay goes on
        is_note = c.note_header is not None or "note_title" in c.titles or c.date is not None
        if self.stay and is_note and self._stay_continues(c.date, gap_days):
            return "inside_stay"
        if c.addendum:
            return "addendum"
        if (
            not self.headed
            and self.first_date is None
            and c.date
            and c.content_before - self.opened_at <= UNDATED_LEAD_LINES
        ):
            return "dates_undated_lead"  # a short undated first note (rooming, triage) and the dated main note
        if (
            c.date
            and self.last_date
            and c.date == self.last_date
            and not (c.opens_stay and not self.stay)
            and c.note_header != "bare_date"  # a note opening with only its date is a visit note of its own
        ):
            return "same_day_note"
        return None

    def _stay_continues(self, when: date | None, gap_days: int) -> bool:
        """After a discharge note only same-day notes still belong to the stay (the physician's
        summary after the nurse's); a printed discharge date bounds the stay; otherwise a note belongs
        unless its date jumps past the gap. A note dated days before the admission (printed, or else the
        stay's first date) belongs to an earlier encounter (a record printed newest first lists those
        below the stay)."""
        began = self.admitted or self.first_date
        if when is not None and began and when < began - timedelta(days=1):
            return False
        if self.discharged:
            return isinstance(self.discharged, date) and when is not None and when <= self.discharged
        if when is None:
            return True
        if self.until:
            return when <= self.until
        return not (self.last_date and when > self.last_date + timedelta(days=gap_days))


def _paragraph_above(blank: list[bool], top: int) -> list[int]:
    """The lines right above ``top`` in its paragraph, up to three (a note's title and stamp over its
    admission block)."""
    above: list[int] = []
    j = top - 1
    while j >= 0 and not blank[j] and len(above) < 3:
        above.insert(0, j)
        j -= 1
    return above


def _looks_back(c: LineCues) -> bool:
    """A note that restates an earlier admission: a discharge summary, or a note dated after the
    admission date it prints."""
    return bool(c.admitted and (c.discharge_note or (c.date and c.admitted < c.date)))


def _form_only(c: LineCues) -> bool:
    """A candidate the cues call a header by its form alone (a dated label-value block, a stamp), with no
    header or title their vocabulary knows: the scorer, which weighs the same form in context, may veto it
    in any record."""
    return c.structural_header and not (c.encounter_header or c.note_header or c.titles)


def _headed(c: LineCues) -> bool:
    return bool(c.encounter_header or c.note_header or "note_title" in c.titles or c.structural_header)


def _opens_note(c: LineCues) -> bool:
    return bool(c.encounter_header or c.note_header or c.structural_header or c.titles & {"note_title", "strong_opening"})


def _opener_end(c: LineCues) -> int:
    """Content lines up to the end of a note-opening header block, or up to an opening section's own
    line (far back when ``c`` opens no note)."""
    if not _opens_note(c):
        return -(10**9)
    return c.content_end if _headed(c) else c.content_before + 1


def _clinical(c: LineCues) -> bool:
    """Whether a block is part of a clinical document (a header, a sub-header, a title or a section)."""
    return bool(c.encounter_header or c.note_header or c.titles or c.structural_header)


def _record_gap(candidates: list[LineCues]) -> int | None:
    """The blank-line gap this record leaves between documents, when it has one: the smallest gap that
    precedes most of its encounter headers but hardly any plain body paragraph. Exports space documents
    consistently, so a gap that wide before a headerless note is a cue in this record (and in no other)."""
    headed = [c.gap for c in candidates if c.encounter_header and c.gap < 99 and not c.separator]
    plain = [
        c.gap
        for c in candidates
        if not (c.encounter_header or c.note_header or c.titles or c.after_signature or c.separator) and 0 < c.gap < 99
    ]
    if len(headed) < 3 or len(plain) < 5:
        return None
    for wide in (1, 2, 3):
        # plain paragraphs that wide are rare (a few are the starts of headerless encounters themselves)
        if sum(g >= wide for g in headed) >= 0.8 * len(headed) and sum(g >= wide for g in plain) <= max(3, 0.12 * len(plain)):
            return wide
    return None


def _signs_off(i: int, n: int, blank: list[bool], furniture: list[bool], signature: set[int]) -> bool:
    """Whether a signature line comes within the first three lines of the paragraph at ``i``: the
    paragraph closes a note ("Name, MD" / "Electronically signed ...")."""
    seen = 0
    for j in range(i, n):
        if blank[j] or seen >= 3:
            return False
        if not furniture[j]:
            if j in signature:
                return True
            seen += 1
    return False


def _same_block(starts: list[tuple[int, int, bool, int | None]], line: int, blank: list[bool]) -> bool:
    """Whether ``line`` lies in the contiguous header window of the last candidate."""
    if not starts:
        return False
    last = starts[-1][0]
    return line - last < HEADER_WINDOW and not any(blank[last:line])


def _letterhead(line: str) -> bool:
    """A letterhead line above a header: an address/telephone line, or a short name in capitals."""
    stripped = line.strip()
    if cues.LETTERHEAD.search(stripped):
        return True
    words = stripped.split()
    return (
        2 <= len(words) <= 7
        and stripped.isupper()
        and not any(ch.isdigit() for ch in stripped)
        and stripped[-1:].isalpha()
    )


def _labelled_date(block: str, label: Any) -> date | None:
    """The date right after ``label`` in the block, if any."""
    match = label.search(block)
    if not match:
        return None
    block = layout.ocr_digits(block)
    mention = cues.date_in(block, match.end(), min(len(block), match.end() + 30))
    return mention.value if mention and mention.start - match.end() <= 2 else None


def _sign_offs(lay: layout.Layout) -> SignOffs:
    """Lines that end a sign-off: a bare clinician's name (a short line the name fills, found by its
    credential or title, not by a label), a bare date right under one, or an attestation (a clinician and
    a date in one short line right under a paragraph). A note that signs off this way may run straight
    into the next document with no blank line or signature label between them.

    Also, apart, the sign-offs a valediction leads (a name, and its date, right under a short line of
    words that ends in a comma: "Kind regards,"): these close a letter or a note as surely as a signature
    label does, while a bare name alone may be a header block's clinician."""
    lines, blank, rule = lay.lines, lay.blank, lay.rule
    out = SignOffs(set(), set(), set())
    prev: int | None = None
    for i in lay.content:
        line = lines[i].strip()
        if len(line) <= SIGN_OFF_CHARS and ":" not in line and (person := layout.person_in(line)) and _fills(person.end() - person.start(), line):
            out.ends.add(i)
            if prev == i - 1 and _valediction(lines[prev]):
                out.signed.add(i)
        elif prev in out.ends and len(line) <= SIGN_OFF_CHARS and (date := cues.date_in(line)) and _fills(date.end - date.start, line):
            out.ends.add(i)
            if prev in out.signed:
                out.signed.add(i)
            if prev in out.signed or i + 1 == len(lines) or blank[i + 1] or rule[i + 1]:
                out.dates.add(i)  # a date the paragraph ends on, or a letter's; one the next lines run on from may head them
        elif prev == i - 1 and len(line) <= ATTESTATION_CHARS and layout.names_person(line) and cues.date_in(line):
            out.ends.add(i)
        prev = i
    return out


class SignOffs(NamedTuple):
    """What ``_sign_offs`` finds: every line that ends a sign-off, the bare dates among them that end
    their paragraph (a signing's date, under its name), and the sign-offs a valediction leads."""

    ends: set[int]
    dates: set[int]
    signed: set[int]


def _states_visit(line: str) -> bool:
    """Whether one line names a date, a clinician and an organisation: a visit stated in a line, as a
    summary sentence or a one-line header does, whatever its words."""
    return (
        len(line) <= STATED_VISIT_CHARS
        and any(ch.isdigit() for ch in line)
        and layout.person_in(line) is not None
        and layout.names_organisation(line)
        and cues.date_in(line) is not None
    )


def _valediction(line: str) -> bool:
    """A short line of a few words and no digits that ends in a comma, as a letter's closing does."""
    stripped = line.strip()
    return (
        stripped.endswith(",")
        and 1 <= len(stripped.split()) <= VALEDICTION_WORDS
        and stripped[:1].isupper()
        and not any(ch.isdigit() or ch == ":" for ch in stripped)
    )


def _fills(length: int, line: str) -> bool:
    return length >= SIGN_OFF_SHARE * len(line)


def _looks_split(previous: str, line: str) -> bool:
    """A line cut by a page break: the previous line ends mid-sentence and this one continues it, or it
    ends on a word that wants a date ("Signed", "on") and this line is that date."""
    prev = previous.rstrip()
    head = line.lstrip()[:1]
    if prev and prev[-1] not in ".:;!?)" and head.islower():
        return True
    return bool(_WANTS_DATE.search(prev)) and bool(cues.NOTE_HEADERS["bare_date"].match(line))


_WANTS_DATE = re.compile(r"\b(?:" + cues._labels("signed", "on", "dated", "date", "authenticated", "at", "by") + r")\s*:?$", re.I)


def record_layout(doc: DetectionInput) -> layout.Layout:
    """The record's layout with the page furniture that the vocabulary recognises added to what
    recurrence finds."""
    lines = doc.lines.lines
    known = [bool(line.strip()) and cues.is_furniture(line) for line in lines]
    return layout.analyse(doc.lines, known)


def _template_lines(lay: layout.Layout, blank: list[bool], rule: list[bool]) -> set[int]:
    """Lines that start the way this record's documents start: their first characters (digits masked,
    OCR folded) recur at least three times, mostly at the top of a paragraph. A header printed right
    under the last line of the previous note is found by its template, whatever its words."""
    keys = lay.keys
    tops: dict[str, list[bool]] = {}
    content = lay.content
    prev = -1
    for i in content:
        key = keys[i][:TEMPLATE_PREFIX]
        if len(key) >= 4 and any(ch.isalpha() for ch in key):
            opened = prev < 0 or any(blank[j] or rule[j] for j in range(prev + 1, i))
            tops.setdefault(key, []).append(opened)
        prev = i
    template = {k for k, v in tops.items() if len(v) >= layout.MIN_REPEATS and sum(v) >= 0.5 * len(v)}
    return {i for i in content if keys[i][:TEMPLATE_PREFIX] in template}


def _inside_table(lines: list[str], j: int) -> bool:
    """A rule between two rows of a table (under its column names): part of the table, no separator."""
    return 0 < j < len(lines) - 1 and layout.table_row(lines[j - 1]) and layout.table_row(lines[j + 1])


def _block_dates(lines: list[str], window: list[int], pair_run: bool) -> list[date]:
    """Dates printed in a block's first lines (in all of them when it is a run of label-value lines),
    skipping sentences that cite another visit and dates whose words name another day (a prior study,
    a birth)."""
    found = []
    for j in window if pair_run else window[:3]:
        if not cues.FALSE_CUE.search(lines[j]):
            head = layout.ocr_digits(lines[j][:HEADER_LINE_CHARS])
            found += [m.value for m in find_dates(head) if not cues.OTHER_DAY.search(head, max(0, m.start - 40), m.start)]
    return found


def _stamped_date(lines: list[str], window: list[int]) -> date | None:
    """The date a block's first lines print for the block itself, whatever words stand around it
    ("_Recorded 29-Sep-2009, 14h14_", "Entered 07/14/2014 by ..."): the first date of a short line that
    is no sentence, unless its words give it to another day (a birth, a prior study)."""
    for j in window[:3]:
        text = layout.unbox(lines[j])
        if len(text) > HEADER_LINE_CHARS or (len(text) > 40 and layout.ends_sentence(text)):
            continue
        found = _block_dates(lines, [j], False)
        if found:
            return found[0]
    return None


def _structural_dates(lines: list[str], window: list[int], boxed: bool, pair_run: bool) -> list[date]:
    """The dates of a dated header block told by its form (none when the block is not one): short
    lines, no sentences, label-value pairs (any labels, any separator), cells, a box, or a date-time
    stamp opening its first line."""
    text = [layout.unbox(lines[j]) for j in window[:4]]
    if not text or any(len(t) > HEADER_LINE_CHARS or (len(t) > 40 and layout.ends_sentence(t)) for t in text):
        return []
    formed = (
        boxed
        or sum(1 for t in text if layout.label_value_pairs(t)) * 2 >= len(text)
        or max(layout.cells(t) for t in text) >= 3
        or bool(_STAMP.match(layout.ocr_digits(text[0])))
        or _labelled_stamp(text[0])
    )
    return _block_dates(lines, window, pair_run) if formed else []


def _labelled_stamp(line: str) -> bool:
    """A short line that is a date (and a time) with a word or two beside it ("_Recorded 16-Aug-2015, 14h35_",
    "Entered 2019-03-04 10:15"): a note's time stamp, whatever its word says."""
    text = layout.ocr_digits(line).strip()
    if len(text) > STAMP_CHARS or text.endswith((":", ".")) or not (mention := cues.date_in(text)):
        return False  # a colon introduces what follows ("Collected 03/23/2017:"); a full stop ends a sentence's tail
    rest = text[: mention.start] + " " + text[mention.end :]
    timed = _TIME.search(rest) is not None
    rest = _TIME.sub(" ", rest)
    words = len(_WORD.findall(rest))
    return words <= (STAMP_WORDS if timed else 1) and not any(ch.isdigit() for ch in rest)


_TIME = re.compile(r"(?<![A-Za-z0-9])\d{1,2}(?:[:h.]\d{2}){1,2}(?:\s*[AaPp]\.?[Mm]\.?)?(?![A-Za-z0-9])|(?<![A-Za-z0-9])[0-2]\d[0-5]\d(?![A-Za-z0-9])")
_WORD = re.compile(r"[^\W\d_]{2,}")
# A line that opens with a date (and maybe a time): "2019-03-04T10:15  OFFICE VISIT", "04 Mar 2019 10:15 - ...".
_STAMP = re.compile(r"^\W{0,3}(?:\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,2}[ -][A-Za-z]{3,9}[ -]\d{2,4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,? )", re.I)
