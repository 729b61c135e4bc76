"""The layout read from a record itself (pipeline.layout): shapes, recurrence, furniture, structure.

The cases are built by hand in formats no detector rule names, so each assertion is about form."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.layout import (
    ORGANISATION,
    PERSON,
    analyse,
    boxed,
    cells,
    is_rule,
    label_value_pairs,
    ocr_digits,
    recurrence_keys,
    shape_text,
    shapes_of,
    titled_rule,
    unbox,
)
from pipeline.text import LineIndex


def test_two_prints_of_one_template_share_a_shape_whatever_the_values() -> None:
    assert shape_text("Provider:  Jane M. Roe, MD") == shape_text("Provider:  Al Li, NP")
    assert shape_text("Seen 03/04/2019 09:15 by clinic") == shape_text("Seen 12/31/2021 16:40 by clinic")
    # a date in words and one in digits are both a date
    assert shape_text("** 4 March 2019 **") == shape_text("** 2020-11-02 **")
    # but prose and a label-value line do not collapse into one shape
    assert shape_text("Patient tolerated the procedure well.") != shape_text("Visit Kind: Follow up")


def test_shapes_of_many_lines_equal_shapes_of_each_and_keep_the_line_count() -> None:
    lines = ["VISIT 1999-01-02 :: Dr Ann Bee", "", "plain words here", "Page 3 of 12"]
    assert shapes_of(lines) == [shape_text(line) for line in lines]
    assert len(shapes_of(lines)) == len(lines)


def test_ocr_digits_keep_length_and_read_letters_beside_digits() -> None:
    assert ocr_digits("2O23-O7-l5") == "2023-07-15"
    assert ocr_digits("Page l2") == "Page 12"
    assert ocr_digits("Oliver Stone") == "Oliver Stone"  # letters among letters stay letters


def test_recurrence_keys_survive_page_numbers_and_scan_noise() -> None:
    keys = recurrence_keys("Fax  Page 1 of 9 -- Oakview\nFax Page 2 of 9 -- Oakvlew\nsomething else")
    assert keys[0] == keys[1]
    assert keys[2] != keys[0]


@pytest.mark.parametrize(
    ("line", "pairs"),
    [
        ("Seen on: 03/04/2019", 1),
        ("DOS :: 03/04/2019    Clinician :: A. Bee, NP", 2),
        ("[Where] Oak Partners", 1),
        ("when = 2019-03-04; who = Ann Bee", 2),
        ("| Kind - Follow up |", 1),
        ("Point of Care -> Oak Partners", 1),
        ("Seen by => A. Bee, NP", 1),
        ("POINT OF CARE      Oak Partners", 1),
        ("Seen by\tA. Bee, NP", 1),
        ("Ann said it.   Then she left.", 0),
        ("The patient said that she was fine and went home after lunch.", 0),
    ],
)
def test_label_value_pairs_are_found_whatever_the_labels_and_separators(line: str, pairs: int) -> None:
    assert label_value_pairs(line) == pairs


def test_boxes_rules_and_cells() -> None:
    assert is_rule("+--------------+") and is_rule("* * * *") and is_rule("═════")
    assert not is_rule("-- see above --")
    assert boxed("| Seen: 2019-03-04 |") and unbox("| Seen: 2019-03-04 |") == "Seen: 2019-03-04"
    assert not boxed("plain text")
    assert cells("03/04/2019 | Clinic | Ann Bee, MD") == 3
    assert cells("03/04/2019    Oak Clinic    Ann Bee, MD") == 3


@pytest.mark.parametrize("line", ["┌── VISIT FACTS ──────┐", "+--- Seen ---+", "*** Summary of care ******", "~~ Intake ~~"])
def test_a_rule_with_words_in_it_is_a_titled_rule(line: str) -> None:
    assert titled_rule(line) and not is_rule(line)


@pytest.mark.parametrize("line", ["-----", "____________", "## Visit", "-- Ann Bee, MD, 9/24/16", "Seen: 2019-03-04"])
def test_plain_rules_headings_and_signatures_are_no_titled_rule(line: str) -> None:
    assert not titled_rule(line)


TITLED_BOXES = """Intake reviewed.
Return in 3 weeks.

┌── VISIT FACTS ─────────────────────────┐
│ Seen ..... 2019-03-04   Kind ..... Walk-in │
│ Clinician .. Ann Bee, MD               │
└─────────────────────────────────────────┘
CLINIC NOTE
Reason: cough for two weeks.
Lungs clear. Plan: fluids, rest.

┌── VISIT FACTS ─────────────────────────┐
│ Seen ..... 2019-05-12   Kind ..... Follow-up │
│ Clinician .. Ann Bee, MD               │
└─────────────────────────────────────────┘
CLINIC NOTE
Reason: cough resolved.
"""


def test_a_titled_box_is_one_header_block_and_its_bottom_edge_no_separator() -> None:
    """The note under a box belongs to the box's encounter: the box's closing rule does not set it off
    as a block of its own, so the cues open the encounter at the box's top edge."""
    from pipeline.detect import DetectionInput
    from pipeline.detect.rules import RulesDetector

    text = TITLED_BOXES
    doc = DetectionInput("boxes.txt", text, LineIndex(text))
    decisions = RulesDetector(scorer="none").trace(doc)
    by_line = {d.cues.line: d for d in decisions}
    assert {3, 11} <= set(by_line), sorted(by_line)  # the top edges open blocks
    assert all(not by_line[i].cues.separator for i in (7, 15) if i in by_line)  # the notes under them
    boundaries = [b.line for b in RulesDetector(scorer="none").detect(doc)]
    assert 11 in boundaries and 15 not in boundaries, boundaries


def test_a_titled_rule_printed_right_under_a_paragraph_opens_a_block() -> None:
    """A note's own banner ("###[ date ]###[ VISIT ]###") needs no blank line before it: a rule with
    words in it starts a block wherever it stands, so the cues weigh it as a start."""
    from pipeline.detect import DetectionInput
    from pipeline.detect.rules import RulesDetector

    text = (
        "###[ 12 May 2015 ]###[ CLINIC VISIT ]###\nOrigin | HARBOR CLINIC\nCare Lead | ANA RUIZ, MD\n\nCough for a week.\n"
        "Vital signs stable and reviewed.\n###[ 18 September 2015 ]###[ FOLLOW-UP VISIT ]###\nOrigin | HARBOR CLINIC\n"
        "Care Lead | ANA RUIZ, MD\n\nCough resolved.\n"
    )
    decisions = RulesDetector(scorer="none").trace(DetectionInput("banners.txt", text, LineIndex(text)))
    assert 6 in {d.cues.line for d in decisions}


def test_a_letter_that_signs_off_and_runs_into_the_next_document_leaves_a_candidate_there() -> None:
    """No blank line, no signature label: the bare name (and the bare date under it) closes the letter,
    so the line after them is weighed as a start; a name inside a labelled header line is no sign-off."""
    from pipeline.detect import DetectionInput
    from pipeline.detect.rules import RulesDetector

    text = (
        "Seen for knee pain.\nProvider: Ana Ruiz, MD\nPlan: rest and ice.\nWith best wishes,\nAna Ruiz, MD\n"
        "14.03.2015\nWalk-in visit for a cough, seen by the nurse.\nLungs clear.\nBest,\nKofi Mensah, PA-C\n"
        "The next morning the patient called about the inhaler.\n"
    )
    decisions = RulesDetector(scorer="none").trace(DetectionInput("letters.txt", text, LineIndex(text)))
    after = {d.cues.line: d.cues.after_sign_off for d in decisions}
    assert after.get(6) is True and after.get(10) is True  # under the date that follows a name; under a name
    assert 2 not in after  # "Provider: Ana Ruiz, MD" is a header line, not a sign-off


def test_an_attestation_under_a_notes_last_paragraph_leaves_a_candidate_below_it() -> None:
    """A clinician and a date in one short line right under the text closes the note, whatever its words."""
    from pipeline.detect import DetectionInput
    from pipeline.detect.rules import RulesDetector

    text = (
        "Knee pain, better with rest.\nPlan: ice.\nChecked over by Ana Ruiz, MD on 05-JUN-2015\nTRIAGE NOTE\n"
        "Arrived by car.\nMet Ana Ruiz, MD in the hall and talked about the weather.\nStill waiting.\n"
    )
    decisions = RulesDetector(scorer="none").trace(DetectionInput("attest.txt", text, LineIndex(text)))
    after = {d.cues.line: d.cues.after_sign_off for d in decisions}
    assert after.get(3) is True
    assert 6 not in after  # a name in a line of prose with no date is no attestation


def test_a_markdown_heading_opens_a_block_without_a_blank_line_before_it() -> None:
    from pipeline.detect import DetectionInput
    from pipeline.detect.rules import RulesDetector

    text = "# 2 May 2015 - Clinic\n- Seen by: Ana Ruiz, MD\nCough.\nTable | 1 | 2\n## 9 June 2015 - Clinic\n- Seen by: Ana Ruiz, MD\nBetter.\n"
    decisions = RulesDetector(scorer="none").trace(DetectionInput("md.txt", text, LineIndex(text)))
    assert 4 in {d.cues.line for d in decisions}


def test_a_run_of_label_value_lines_is_one_header_block_with_its_date_wherever_it_stands() -> None:
    """Seven aligned label-value lines, the date in the last: one block, read as a dated header; a
    four-line window would have seen no date."""
    from pipeline.detect import DetectionInput
    from pipeline.detect.rules import RulesDetector

    header = (
        "WHERE SEEN      Oak Partners\nSEEN FOR        Follow-up\nPAYER           Self\nARRIVED         8:58p\n"
        "ROOM            2W-06\nSEEN WITH       Ana Ruiz, MD\nCARE DATE       {}\n"
    )
    text = "Cough for two days, no fever.\n\n" + header.format("06-MAY-2008") + "Rested at home all week.\n\n" + header.format("09-JUN-2008") + "Better.\n"
    decisions = RulesDetector(scorer="none").trace(DetectionInput("aligned.txt", text, LineIndex(text)))
    blocks = {d.cues.line: d.cues for d in decisions}
    assert blocks[2].block == tuple(range(2, 9)) and blocks[2].structural_header
    assert blocks[2].date == date(2008, 5, 6) and blocks[11].date == date(2008, 6, 9)


def test_a_tables_rule_under_its_column_names_does_not_end_the_header_block() -> None:
    from pipeline.detect import DetectionInput
    from pipeline.detect.rules import RulesDetector

    table = "**EXTRACT**\n| Time | Day | Site |\n|---|---|---|\n| 17:31 | {} | Oak Partners |\nSeen for cough.\n\n"
    text = "Cough for two days.\n\n" + table.format("09.09.2013") + table.format("12.02.2014") + table.format("03.03.2015")
    decisions = RulesDetector(scorer="none").trace(DetectionInput("table.txt", text, LineIndex(text)))
    blocks = {d.cues.line: d.cues for d in decisions}
    assert {3, 4, 5} <= set(blocks[2].block) and blocks[2].date == date(2013, 9, 9)


def test_a_recurring_sign_off_right_above_a_recurring_header_leaves_the_header_a_candidate() -> None:
    """Each of the two lines opens paragraphs elsewhere in the record; printed one under the other, the
    lower one is a candidate too, whatever the words."""
    from pipeline.detect import DetectionInput
    from pipeline.detect.rules import RulesDetector

    note = "[evt]\nwhen: 2015060{}\nwhere: Oak Partners\nCough, better.\n"
    text = (
        note.format(1) + "\nok_by=Ana Ruiz, MD 6/1/15\n\n" + note.format(2) + "\nok_by=Ana Ruiz, MD 6/2/15\n"
        + note.format(3) + "\nok_by=Ana Ruiz, MD 6/3/15\n\n" + note.format(4)
    )
    lines = text.splitlines()
    decisions = RulesDetector(scorer="none").trace(DetectionInput("tops.txt", text, LineIndex(text)))
    glued = next(i for i in range(1, len(lines)) if lines[i] == "[evt]" and lines[i - 1].startswith("ok_by"))
    assert glued in {d.cues.line for d in decisions}


def test_a_valediction_signs_a_note_off_as_a_signature_label_does_and_its_date_is_the_signings() -> None:
    """"Kind regards," over a bare name and a date: the next line is weighed as after a signature, and
    the date under the name is the signing's, no note's header, even where the next header follows it
    with no blank line. A title block's bare name (under a date, not a valediction) signs nothing off."""
    from pipeline.detect import DetectionInput
    from pipeline.detect.rules import RulesDetector

    text = (
        "Contact Synopsis\nDecember 11, 2010\nAna Ruiz, MD\nOak Partners Clinic\nCough for a week.\nPlan: rest.\n"
        "Kind regards,\nAna Ruiz, MD\n12/11/10\n**Chief Complaint**\nKnee pain.\n"
    )
    decisions = {d.cues.line: d.cues for d in RulesDetector(scorer="none").trace(DetectionInput("letter.txt", text, LineIndex(text)))}
    assert 8 not in decisions  # the signing's date
    assert decisions[9].after_signature
    assert all(not c.after_signature for line, c in decisions.items() if line < 6)


@pytest.mark.parametrize(
    ("line", "stamp"),
    [
        ("_Recorded 16-Aug-2015, 14h35_", True),
        ("Entered 2019-03-04 10:15", True),
        ("Seen 12/01/2010", True),
        ("Collected 03/23/2017:", False),  # introduces what follows
        ("Prior study 11/22/10.", False),  # a sentence's tail
        ("BP 120/80 12/01/2010", False),  # other figures beside the date
        ("Seen on 12/01/2010 for cough and fever", False),
    ],
)
def test_a_labelled_stamp_is_a_date_and_time_with_a_word_or_two(line: str, stamp: bool) -> None:
    from pipeline.detect.rules import _labelled_stamp

    assert _labelled_stamp(line) is stamp


def test_a_block_opening_on_a_labelled_stamp_is_a_dated_header_and_a_stay_day_under_it_continues_the_stay() -> None:
    from pipeline.detect import DetectionInput
    from pipeline.detect.rules import RulesDetector

    text = (
        "Cough.\n\n_Recorded 07-Apr-2009, 18h34_\n*H&P*\nDocumented by Ana Ruiz, MD\nAdmit for cellulitis.\n\n"
        "_Recorded 08-Apr-2009, 09h37_\n*Progress Note*\nDocumented by Ana Ruiz, MD\nHospital day 2.\nBetter.\n"
    )
    decisions = {d.cues.line: d.cues for d in RulesDetector(scorer="none").trace(DetectionInput("stamps.txt", text, LineIndex(text)))}
    assert decisions[2].structural_header and decisions[2].date == date(2009, 4, 7)
    assert decisions[7].date == date(2009, 4, 8) and decisions[7].continues_stay


def test_a_line_stating_when_who_and_where_is_a_candidate_with_no_blank_line_above() -> None:
    from pipeline.detect import DetectionInput
    from pipeline.detect.rules import RulesDetector

    text = (
        "Cough, better.\nReturn to clinic in 6 months.\n"
        "This visit took place on Jan 15, 2011 at Pinecrest Internal Medicine with Ana Ruiz, MD.\nKnee pain.\n"
        "Seen at Pinecrest Internal Medicine for knee pain, improving.\n"
    )
    lines = {d.cues.line for d in RulesDetector(scorer="none").trace(DetectionInput("stated.txt", text, LineIndex(text)))}
    assert 2 in lines and 4 not in lines  # no date and no clinician: a sentence of the note


@pytest.mark.parametrize("text", ["Jane M. Roe, MD", "ROE, JANE MD", "RENATA G. UMBERGER, MD", "BEATRICE MARCHETTI, PA-C", "Dr. Amos Quill", "Ann Bee NP", "Kofi Mensah, PA-C"])
def test_people_are_found_by_shape(text: str) -> None:
    assert PERSON.search(text)


@pytest.mark.parametrize("text", ["the patient was seen", "Blood pressure 120/80", "Follow Up Visit", "LAB VISIT, PT", "CHEST PA, LATERAL"])
def test_prose_and_titles_are_no_people(text: str) -> None:
    assert not PERSON.search(text)


@pytest.mark.parametrize("text", ["Harbor Lake Clinic", "ST. BRENDAN REGIONAL MEDICAL CENTER", "Oak Partners", "Clinic of Saint Ives"])
def test_organisations_are_found_by_their_head_words(text: str) -> None:
    assert ORGANISATION.search(text)


def _paginated_record(pages: int = 8) -> str:
    """Pages of prose, each ending with a footer nobody's rules name and a counter."""
    out = []
    for page in range(1, pages + 1):
        out += [f"Some clinical prose line {k} of page {page}, nothing repeats here {page * 7 + k}." for k in range(12)]
        out += ["", f"zzq-transmit ref 88{page}1 // sheet {page}/{pages}", "Quill & Ives Records Bureau", ""]
    return "\n".join(out)


def test_furniture_is_what_recurs_with_a_page_counter_whatever_it_says() -> None:
    lines = LineIndex(_paginated_record())
    layout = analyse(lines)
    counters = [i for i, line in enumerate(lines.lines) if line.startswith("zzq-transmit")]
    banners = [i for i, line in enumerate(lines.lines) if line.startswith("Quill & Ives")]
    assert all(layout.furniture[i] for i in counters + banners)
    assert not any(layout.furniture[i] for i, line in enumerate(lines.lines) if line.startswith("Some clinical"))
    # furniture is no content: paragraphs run across it
    assert not set(counters + banners) & set(layout.content)


def test_a_dated_title_that_recurs_with_growing_numbers_is_no_page_counter() -> None:
    """Visit titles that carry an increasing number (a visit count) recur, but not at page spacing
    from the first page: they must stay content."""
    out = ["Intro line.", ""] * 40
    for visit in range(1, 6):
        out += [f"Visit number {visit} on 2019-0{visit}-1{visit}", "Text of the visit.", ""] + ["Filler sentence here."] * (visit * 9)
    lines = LineIndex("\n".join(out))
    layout = analyse(lines)
    titles = [i for i, line in enumerate(lines.lines) if line.startswith("Visit number")]
    assert not any(layout.furniture[i] for i in titles)


def test_recurring_closing_lines_are_note_closers() -> None:
    out = []
    for k in range(4):
        out += [f"Note {k} body sentence one.", "Body sentence two.", f"e-signed by Ann Bee NP at 1{k}:05 on 0{k + 1}/02/2020", ""]
    layout = analyse(LineIndex("\n".join(out)))
    signed = [i for i, line in enumerate(layout.lines) if line.startswith("e-signed")]
    assert all(i in layout.paragraph_ends for i in signed)
    assert layout.shape(signed[0]) in layout.closers
    assert layout.shape(0) not in layout.closers


def test_a_decorated_line_that_closes_several_notes_is_a_closing_line_and_opens_nothing() -> None:
    """A line printed after every note ("~~ fin du compte rendu 12 ~~", in words no rule names) closes the
    notes under their signature: it is no candidate itself, and the header below it is weighed as a start
    after a sign-off. A sentence that many notes end with, a table's last row, or a marker that closes
    copied text with no signature above it, is no closing line."""
    from pipeline.detect import DetectionInput
    from pipeline.detect.rules import RulesDetector

    out = []
    for k in range(4):
        out += [f"VISITE 0{k + 1}/02/2020  Ana Ruiz, MD", "Cough, better.", "Patient agrees with plan.", "| Na | 140 | mmol/L |",
                "", "Meds: aspirin.", ">> end of copied list <<", "", "Plan: rest.", "Patient agrees with plan.", "Ana Ruiz, MD",
                f"~~ fin du compte rendu {k + 10} ~~", "", ""]
    text = "\n".join(out)
    layout = analyse(LineIndex(text))
    closing = sorted(layout.closing_lines)
    assert [layout.lines[i][:6] for i in closing] == ["~~ fin"] * 4
    decisions = {d.cues.line: d.cues for d in RulesDetector(scorer="none").trace(DetectionInput("closing.txt", text, LineIndex(text)))}
    assert not set(closing) & set(decisions)
    assert all(decisions[i + 3].after_signature for i in closing[:-1])



def test_a_banner_misread_by_the_scanner_is_furniture_and_a_header_beside_a_page_break_is_not() -> None:
    """Lines glued to a page counter are furniture only when they read like the recurring banner with a
    few characters misread; a note's dated header that a page break lands beside stays content."""
    pages, out = 8, []
    for page in range(1, pages + 1):
        out += [f"Some clinical prose line {k} of page {page}, nothing repeats here {page * 7 + k}." for k in range(12)]
        banner = "Quill & Ives Records Bureau 4471" if page not in (3, 6) else "Qui11 & lves Rec0rds Bureau 4471"
        header = ["Follow-up Visit - Office Note - 04/18/2015 3:53 PM - Evelyn N. Whitfield, DO"] if page == 5 else []
        out += ["", f"zzq-transmit ref 88{page}1 // sheet {page}/{pages}", banner, *header]
    lines = LineIndex("\n".join(out))
    layout = analyse(lines)
    misread = [i for i, line in enumerate(lines.lines) if line.startswith("Qui11")]
    assert len(misread) == 2 and all(layout.furniture[i] for i in misread)
    note = next(i for i, line in enumerate(lines.lines) if line.startswith("Follow-up Visit"))
    assert not layout.furniture[note] and note in layout.content


def test_the_shape_patterns_match_what_their_plain_look_behind_forms_match() -> None:
    """Shape patterns open with a character class (for speed); they must match what the plain forms
    (a leading look-behind or \\b) match, on text that puts words, dates and times beside every kind
    of neighbour."""
    import random
    import re

    from pipeline import layout as lay

    plain = {
        "_DATE_NUMERIC": r"(?<![\w.])\d(?:\d{0,3}[/.-]\d{1,2}[/.-]\d{2,4}(?!\d)|\d?(?:st|nd|rd|th)?[ \t-]+[A-Za-z]" + lay._MONTH
        + r"[ \t,-]+\d{2,4}(?!\d)|(?:(?<=1)9|(?<=2)0)\d{6}(?!\d))" + lay._CLOCK,
        "_TIME": r"\b\d{1,2}:\d{2}(?::\d{2})?(?:[ \t]*[apAP]\.?[mM]\.?\b)?|\b[0-2]\d[0-5]\d[ \t]*(?:hrs?|h)\b",
        "_WORD_UPPER": r"\b[A-Z][A-Z'’&.-]*[A-Z]\b\.?",
        "_WORD_CAP": r"\b[A-Z][A-Za-z'’-]*\.?",
        "_WORD_LOWER": r"\b[a-z][A-Za-z'’-]*\.?",
        "_WEEKDAY": r"\b(?:[Mm]on|[Tt]ue|[Ww]ed|[Tt]hu|[Ff]ri|[Ss]at|[Ss]un|MON|TUE|WED|THU|FRI|SAT|SUN)[a-zA-Z]{0,6}\.?,?[ \t]+(?=\x01)",
    }
    rng = random.Random(11)
    pieces = ["Jane", "ROE", "MD", "o'Neil", "Tue", "MON", "sat", "\x01", "12:30", "9:05 pm", "1430 hrs", "0830h", "2019-03-04",
              "4 Mar 2019", "04-MAR-19", "20190304", "3/4/19", "x", "_", "1", ".", "é", "Ñu", "-", " ", "\t", "\n", ",", "’s"]
    text = "".join(rng.choice(pieces) + rng.choice(["", " ", "  ", "\t"]) for _ in range(20000))
    for name, form in plain.items():
        expected = [m.span() for m in re.finditer(form, text)]
        assert [m.span() for m in getattr(lay, name).finditer(text)] == expected, name
        assert expected, name


def test_a_stack_of_short_lines_under_a_title_is_read_as_the_titles_block() -> None:
    """A title the rules do not know over a date, a clinician and a place: the scorer's block holds all
    four, so it sees a dated header with a person and an organisation; a stack stops at a long line."""
    from pipeline.detect import DetectionInput
    from pipeline.detect.features import INDEX, candidate_table
    from pipeline.detect.rules import RulesDetector, record_layout

    stack = "Contact Digest\nNovember 14, 2011\nRussell Rinaldi, MD\nPinecrest Internal Medicine\nCough for a week.\n\n"
    prose = (
        "Quiet Overview\nThe patient walked in on November 14, 2011 and told Russell Rinaldi, MD at Pinecrest "
        "Internal Medicine about her cough, which had lasted a week.\n\n"
    )
    stamp = "November 14, 2011 - Russell Rinaldi, MD - Pinecrest Internal Medicine\nCough.\n"
    text = "Seen before.\n\n" + stack + prose + stamp
    doc = DetectionInput("stack.txt", text, LineIndex(text))
    lay = record_layout(doc)
    decisions = RulesDetector(scorer="none").trace(doc, lay)
    rows = {d.cues.line: row for d, row in zip(decisions, candidate_table(lay, decisions).rows)}
    titled = rows[2]
    assert titled[INDEX["blk_dates"]] == 1 and titled[INDEX["blk_person"]] == 1 and titled[INDEX["blk_org"]] == 1
    assert titled[INDEX["first_facts"]] == 0  # the title line itself says none of when, who, where
    assert rows[8][INDEX["blk_dates"]] == 0  # the long sentence under the title is not part of its block
    assert rows[11][INDEX["first_facts"]] == 3
