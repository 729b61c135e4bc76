"""Header families: a grammar of how source systems print the start of an encounter.

Why: a boundary detector trained on a handful of hard-coded header formats learns those words, not
what an encounter start looks like. A Family fixes everything one source system does (layout,
labels and their order, separator, label case, date and time style, distractor fields, note
sub-headers, signatures, page furniture, record order); GRAMMAR_FAMILIES enumerates 64 of them.
Families are split into six groups by layout cluster, and every group draws its words (labels,
titles, sub-header and signature phrases, furniture) from its own slice of each vocabulary, so a
model trained on five groups has never seen the sixth group's layouts or words (leave-family-out).

Each family is built from its own string-seeded generator (SHA-512 of its id, never hash()), so ids
and contents are identical across runs and Python versions, and adding a family never changes the
others. Rendering here only arranges printed segments: values arrive formatted and gold-tagged from
pipeline.synth, and stay separate segments so the tags survive.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import product
from typing import NamedTuple

# --------------------------------------------------------------------------------------------
# Dates and times
# --------------------------------------------------------------------------------------------

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# The first eight are the styles the legacy formats print; the rest are family-only.
DATE_STYLES = ("mdy", "mdy_short", "iso", "dmon", "long", "abbr", "compact", "dmy",
               "iso_t", "iso_tm", "iso_sp", "dmy_long", "dmon_title", "wday", "ordinal", "mdy_dash",
               "dmy_dot", "ymd_slash")
TIMESTAMP_STYLES = ("iso_t", "iso_tm", "iso_sp")  # print the time of day as part of the date
NOTE_DATE_STYLES = ("mdy", "mdy_short", "iso", "dmon", "abbr", "dmy", "dmy_long", "dmon_title", "mdy_dash",
                    "dmy_dot")
TIME_STYLES = ("24", "24c", "12", "24s", "12n", "h")


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


_DATE_FORMATS = {
    "mdy": lambda d, mon, hm: f"{d.month:02d}/{d.day:02d}/{d.year}",
    "mdy_short": lambda d, mon, hm: f"{d.month}/{d.day}/{d.year % 100:02d}",
    "iso": lambda d, mon, hm: d.isoformat(),
    "dmon": lambda d, mon, hm: f"{d.day:02d}-{mon[:3].upper()}-{d.year}",
    "long": lambda d, mon, hm: f"{mon} {d.day}, {d.year}",
    "abbr": lambda d, mon, hm: f"{mon[:3]} {d.day}, {d.year}",
    "compact": lambda d, mon, hm: f"{d.year}{d.month:02d}{d.day:02d}",
    "dmy": lambda d, mon, hm: f"{d.day:02d} {mon[:3]} {d.year}",
    "iso_t": lambda d, mon, hm: f"{d.isoformat()}T{hm[0]:02d}:{hm[1]:02d}:00",
    "iso_tm": lambda d, mon, hm: f"{d.isoformat()}T{hm[0]:02d}:{hm[1]:02d}",
    "iso_sp": lambda d, mon, hm: f"{d.isoformat()} {hm[0]:02d}:{hm[1]:02d}",
    "dmy_long": lambda d, mon, hm: f"{d.day} {mon} {d.year}",
    "dmon_title": lambda d, mon, hm: f"{d.day:02d}-{mon[:3]}-{d.year}",
    "wday": lambda d, mon, hm: f"{WEEKDAYS[d.weekday()]} {d.day:02d} {mon[:3]} {d.year}",
    "ordinal": lambda d, mon, hm: f"{mon} {_ordinal(d.day)}, {d.year}",
    "mdy_dash": lambda d, mon, hm: f"{d.month:02d}-{d.day:02d}-{d.year}",
    "dmy_dot": lambda d, mon, hm: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "ymd_slash": lambda d, mon, hm: f"{d.year}/{d.month:02d}/{d.day:02d}",
}


def fmt_date(d: date, style: str, at: tuple[int, int] = (0, 0)) -> str:
    """Print a date in one of DATE_STYLES (locale-independent); timestamp styles print `at` (hour, minute)."""
    return _DATE_FORMATS[style](d, MONTHS[d.month - 1], at)


def fmt_time(hour: int, minute: int, style: str) -> str:
    """Print a time of day in one of TIME_STYLES."""
    half = f"{(hour - 1) % 12 + 1}:{minute:02d}"
    return {"24": f"{hour:02d}:{minute:02d}", "24c": f"{hour:02d}{minute:02d}", "24s": f"{hour:02d}:{minute:02d}:00",
            "12": f"{half} {'AM' if hour < 12 else 'PM'}", "12n": f"{half}{'a' if hour < 12 else 'p'}",
            "h": f"{hour:02d}h{minute:02d}"}[style]


# --------------------------------------------------------------------------------------------
# The catalogue's data model
# --------------------------------------------------------------------------------------------

FIELD_SLOTS = ("date", "discharge", "type", "provider", "facility")  # discharge: a stay's end (printed for stays)
DISTRACTOR_SLOTS = ("recno", "acct", "visit_no", "room", "time", "reason", "referrer", "payer", "unit", "order")


@dataclass(frozen=True)
class Furniture:
    """Lines a source system prints on every page of an export (hard variant); str.format templates
    over k, m (page, pages), last, first, mi, LAST, FIRST, mrn, dob, printed, at, vendor, phone."""

    top: tuple[str, ...]
    bottom: tuple[str, ...]
    date_style: str  # of {dob} and {printed}

    @property
    def counter(self) -> str:
        """The line that numbers the page."""
        return next(line for line in self.top + self.bottom if "{k" in line)


@dataclass(frozen=True)
class Family:
    """How one source system prints an encounter start, and the rest of its house style.

    `fields` is (slot, label) in print order, slot in FIELD_SLOTS or DISTRACTOR_SLOTS, label "" for a
    value printed without a label. `separator`, `joiner`, `per_line`, `frame`, `width` and `variant`
    mean what the layout's renderer makes of them. `sub_styles` and `sig_styles` are templates over
    {title} {TITLE} {date} {time} {author} {type} (signatures also {date2} {time2}); a record whose
    primary family this is picks two sub-header and up to three signature styles from them and one of
    `furniture`. `categories`, when set, limits the family to those encounter categories.
    """

    id: str
    group: int
    layout: str
    fields: tuple[tuple[str, str], ...] = ()
    separator: str = ""
    label_case: str = "title"
    date_style: str = "mdy"
    time_style: str = "24"
    note_date: str = "mdy"
    upper_values: bool = False
    title: str = ""
    joiner: str = ""
    per_line: int = 0
    frame: str = ""
    width: int = 0
    variant: str = ""
    sub_styles: tuple[str, ...] = field(default=(), repr=False)
    sig_styles: tuple[str, ...] = field(default=(), repr=False)
    furniture: tuple[Furniture, ...] = field(default=(), repr=False)
    newest_first: bool = False
    categories: tuple[str, ...] = ()
    section_mark: str = ""  # how the notes of this family's records head their sections: "" ("Label:"), or markdown

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for _, label in self.fields if label)

    @property
    def marks(self) -> tuple[str, ...]:
        """Exact strings this family prints around its labels and titles: no other group's text has them."""
        return tuple(_mark(self, label) for label in self.labels) + ((_printed_title(self),) if self.title else ())


# --------------------------------------------------------------------------------------------
# Vocabularies: one slice per group, no word of a slice inside another group's words
# --------------------------------------------------------------------------------------------

class Lexicon(NamedTuple):
    date: tuple[str, ...]
    discharge: tuple[str, ...]
    provider: tuple[str, ...]
    facility: tuple[str, ...]
    type: tuple[str, ...]
    distractors: tuple[tuple[str, str], ...]  # (slot, label)
    titles: tuple[str, ...]
    sub_titles: tuple[str, ...]  # note sub-header parts: title, stamp, author, and what joins them
    sub_stamps: tuple[str, ...]
    sub_authors: tuple[str, ...]
    sub_joins: tuple[str, ...]
    signatures: tuple[str, ...]
    counters: tuple[str, ...]
    banners: tuple[str, ...]
    stamps: tuple[str, ...]
    notices: tuple[str, ...]


GROUP_NAMES = {0: "boxes", 1: "one-line stamps and rule banners", 2: "hospital-account banners",
               3: "label-value blocks", 4: "tables, columns and key-value", 5: "prose, markdown, title blocks and date lines"}

LEXICONS = {
    0: Lexicon(
        date=("Svc Dt", "Appt Date", "Seen On", "Visit Dt", "Day of Care", "Serviced"),
        discharge=("Left On", "Release Dt"),
        provider=("Clinician", "Treating", "Caregiver", "Rendering", "Practitioner"),
        facility=("Care Site", "Campus", "Practice", "Venue", "Centre"),
        type=("Care Type", "Appt Type", "Category", "Svc Type"),
        distractors=(("recno", "Chart #"), ("room", "Rm"), ("reason", "Chief Concern"), ("payer", "Insurer"),
                     ("time", "Door Time"), ("referrer", "Sent From")),
        titles=("VISIT SUMMARY", "CARE EPISODE", "SERVICE DETAIL", "CHART ENTRY"),
        sub_titles=("{TITLE}", "» {title}"),
        sub_stamps=("«{date} {time}»", "⟨{date} · {time}⟩"),
        sub_authors=("Entered by {author}", "Writer: {author}"),
        sub_joins=(" ▪ ", "  "),
        signatures=("E-signed: {author} {date} {time}", "Verified by {author} on {date}",
                    "Sign-off: {author} | {date} {time}", "Completed by {author} ({date} {time})"),
        counters=("Sheet {k}", "Sheet {k} of {m}", "Leaf {k}/{m}"),
        banners=("Client: {last}, {first}   ID#: {mrn}   Born: {dob}", "{first} {last} · ID# {mrn} · Born {dob}"),
        stamps=("Output {printed} {at}", "Copy made {printed}"),
        notices=("Contains protected health information", "Release only to authorized parties"),
    ),
    1: Lexicon(
        date=("Stamp", "Logged", "Timestamp", "Event Time", "Occurred", "Start"),
        discharge=("Ended", "Stop"),
        provider=("Clin", "Staff", "Doc", "Lead", "Care Lead"),
        facility=("Loc", "Where", "Place", "Bldg", "Origin"),
        type=("Class", "Mode", "Activity", "Nature"),
        distractors=(("visit_no", "Seq"), ("recno", "Subject #"), ("reason", "Why"), ("unit", "Bay"),
                     ("referrer", "From Dr"), ("time", "Clock")),
        titles=(),
        sub_titles=("{TITLE}", "{title}"),
        sub_stamps=("<{date} {time}>", "::{date} {time}::"),
        sub_authors=("Note by {author}", "Scribe {author}"),
        sub_joins=(" ~ ", "  "),
        signatures=("/s/ {author} {date} {time}", "-- Closed by {author} @ {date} {time}",
                    "Sealed {date} {time} {author}", "Locked by {author} {date}", "-- {author}, {date}"),
        counters=("- {k} -", "— {k} of {m} —", "<{k}>"),
        banners=("{LAST}/{FIRST} #{mrn} b.{dob}", "{first} {last} ~ {mrn} ~ {dob}"),
        stamps=("Run {printed}@{at}", "Spooled {printed} {at}"),
        notices=("RCVD {printed} {at} VIA FAX {phone}", "Do not file without review"),
    ),
    2: Lexicon(
        date=("ADM", "ARR", "ADMIT DT", "REG DT", "ARRV", "Check-in"),
        discharge=("DSC", "DEP", "DISCH", "D/C DT"),
        provider=("ATT", "ATND", "ADM MD", "RESP MD", "HOSP MD"),
        facility=("FAC", "HOSP", "SVC AREA", "POS", "INST"),
        type=("PT TYPE", "ENC TYP", "ADM TYPE", "PAT STATUS"),
        distractors=(("acct", "ACCT"), ("unit", "UNIT"), ("room", "BED"), ("payer", "FC"), ("recno", "MR#"),
                     ("visit_no", "FIN"), ("referrer", "REF")),
        titles=(),
        sub_titles=("DOCTYPE: {TITLE}",),
        sub_stamps=("DTTM: {date} {time}",),
        sub_authors=("USR: {author}", "OPID {author}"),
        sub_joins=("  ", " / "),
        signatures=("Attested: {author} {date} {time}", "Auth by {author} {date} {time}",
                    "Finalized by {author} on {date} at {time}", "Countersigned {author} {date}"),
        counters=("PG {k}", "PG {k} OF {m}", "PG:{k}/{m}"),
        banners=("PT {LAST},{FIRST}  UNIT#{mrn}  BD {dob}", "{LAST},{FIRST} {mi}  MR#{mrn}  BD:{dob}"),
        stamps=("RPT DT {printed} {at} HIMOP", "REQ {printed} {at}"),
        notices=("RESTRICTED RECORD - HIM USE", "NOT FOR REDISTRIBUTION"),
    ),
    3: Lexicon(
        date=("Date Seen", "Svc Date", "Appointment", "DOV", "Seen Date", "Date of Care"),
        discharge=("Date Discharged", "Released"),
        provider=("Seen With", "Care Team", "Treated By", "Responsible", "Examiner"),
        facility=("Treatment Site", "Seen At", "Organisation", "Point of Care", "Service Point"),
        type=("Type of Visit", "Service Kind", "Appointment Kind", "Seen For"),
        distractors=(("reason", "Reason for Appointment"), ("referrer", "Referred By"), ("payer", "Insurance"),
                     ("recno", "Chart No."), ("room", "Exam Room"), ("time", "Arrival Time")),
        titles=("PATIENT CONTACT", "CLINICAL ENTRY", "Visit Record", "Outpatient Summary"),
        sub_titles=("Note Title: {title}", "{title}"),
        sub_stamps=("Written: {date} at {time}",),
        sub_authors=("Written by {author}", "{author}"),
        sub_joins=(" - ", ", "),
        signatures=("Signature on file: {author}\n{date} {time}", "Authenticated by {author}, {date}",
                    "Approved by {author} on {date} {time}", "Responsible party: {author}"),
        counters=("p. {k} of {m}", "Pp. {k}", "Folio {k}"),
        banners=("Name: {first} {last}   Chart No. {mrn}   Birth Date: {dob}",
                 "{first} {mi}. {last} | Chart No. {mrn}"),
        stamps=("Generated {printed}", "Compiled {printed} {at}"),
        notices=("Confidential: do not redisclose", "For continuity of care only"),
    ),
    4: Lexicon(
        date=("Posting Date", "Encntr Dt", "Visit On", "SvcDate", "Event Dt", "Rendered On"),
        discharge=("Dschg Dt", "End Dt"),
        provider=("Prov", "Servicing", "Perf Prov", "Rndr", "Billing Prov"),
        facility=("Svc Site", "Bill Area", "Org Nm", "Branch", "Delivery Site"),
        type=("Encntr Type", "Visit Kind", "Enc Cat", "Svc Line"),
        distractors=(("visit_no", "Enc No"), ("order", "Order Id"), ("payer", "Payor Cd"), ("recno", "Pat Id"),
                     ("unit", "Cost Ctr"), ("time", "Begin Tm")),
        titles=("SERVICE EXTRACT", "svc_event", "care_item", "appt_rec"),
        sub_titles=("doc_title={title}",),
        sub_stamps=("doc_ts={date} {time}",),
        sub_authors=("doc_auth={author}",),
        sub_joins=(" ", " | "),
        signatures=("sig_by={author}; {date} {time}", "attest_user={author} {date}", "e-sig: {author} / {date} {time}",
                    "validated_by={author} {date} {time}"),
        counters=("[pg {k}]", "[{k}/{m}]", "img {k} of {m}"),
        banners=("pid={mrn} | nm={last}^{first} | b_dt={dob}", "{LAST}^{FIRST}^{mi} pid:{mrn}"),
        stamps=("exported_at={printed}T{at}", "batch {printed} {at}"),
        notices=("tx {phone} -> rx HIM", "pii=true; handle per policy"),
    ),
    5: Lexicon(
        date=("When Seen", "Evaluated", "Session Date", "Care Date", "Visit Held", "Attended On"),
        discharge=("Discharged On", "Went Home"),
        provider=("Evaluating", "Consultant", "Attended By", "Managed By", "Doctor"),
        facility=("Setting", "Premises", "Held At", "Institution", "Establishment"),
        type=("Occasion", "Context", "Format", "Visit Form"),
        distractors=(("reason", "Presenting Concern"), ("referrer", "Sent By"), ("payer", "Coverage"),
                     ("recno", "Record Number"), ("visit_no", "Visit Number"), ("time", "Time Seen")),
        titles=("CLINICAL SUMMARY", "Care Narrative", "Contact Synopsis", "Correspondence"),
        sub_titles=("### {title}", "*{title}*"),
        sub_stamps=("_Recorded {date}, {time}_",),
        sub_authors=("Documented by {author}",),
        sub_joins=("\n", " · "),
        signatures=("Sincerely,\n{author}\n{date}", "Kind regards,\n{author}",
                    "Dictated and reviewed by {author} on {date}.", "With thanks,\n{author} ({date})"),
        counters=("Frame {k}", "Part {k} of {m}", "Screen {k}/{m}"),
        banners=("Concerning: {first} {last} · Date of birth {dob} · Identifier {mrn}",
                 "{first} {last} (Identifier {mrn})"),
        stamps=("This page was produced on {printed}.", "Prepared {printed}"),
        notices=("Privileged communication", "Please shred after use"),
    ),
}

PROSE_TEMPLATES = (
    "Evaluated on {date} by {provider} at {facility} ({type}).",
    "{type} at {facility} on {date}, under the care of {provider}.",
    "On {date} the patient came to {facility} and was evaluated by {provider} ({type}).",
    "This {type} took place on {date} at {facility} with {provider}.",
    "{provider} evaluated the patient at {facility} on {date} ({type}).",
    "Patient attended {facility} on {date} for {type} with {provider}.",
)
# Markdown section headings the notes of a markdown export print ("# Chief Complaint", "**Plan**"): most
# markdown and date-line families, and some of every group (a body's headings do not follow its header's).
SECTION_MARKS = ("# {name}", "## {name}", "**{name}**")
MARKDOWN_HEADINGS = ("## {type} — {date}", "# {date} · {type}", "### {type} ({date})", "## {date} | {type}")

# --------------------------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------------------------

GROUP_LAYOUTS = {  # family k of group g has layout GROUP_LAYOUTS[g][k]; append to add families
    0: ("ascii_box", "unicode_box") * 5,
    1: ("stamp_line", "rule_banner") * 5,
    2: ("account_banner", "account_banner", "account_grid") * 3 + ("account_banner",),
    3: ("label_block", "inline_pairs", "one_line") * 3 + ("label_block",),
    4: ("md_table", "fixed_columns", "key_value", "pipe_cells", "xml_tag", "json_line", "md_table",
        "fixed_columns", "key_value", "pipe_cells"),
    5: ("prose", "markdown", "title_block") * 3 + ("prose",) + ("date_line",) * 4,
}
LABELLED = {"ascii_box", "unicode_box", "account_banner", "account_grid", "label_block", "inline_pairs", "one_line",
            "md_table", "fixed_columns", "key_value", "xml_tag", "json_line"}
ACCOUNT_LAYOUTS = ("account_banner", "account_grid")
LAYOUT_DATES = {
    "ascii_box": ("mdy", "iso", "dmon", "long", "dmy", "dmy_long", "mdy_dash", "iso_sp"),
    "unicode_box": ("mdy", "iso", "abbr", "dmy", "dmon_title", "wday", "ordinal", "iso_sp"),
    "stamp_line": ("iso_t", "iso_tm", "iso_sp", "dmy", "dmon_title", "mdy", "wday"),
    "rule_banner": ("mdy", "iso", "dmon", "dmy_long", "mdy_dash", "dmy_dot", "abbr"),
    "account_banner": ("mdy", "mdy_short", "dmon", "iso", "mdy_dash"),
    "account_grid": ("mdy", "mdy_short", "dmon", "iso"),
    "label_block": ("mdy", "mdy_short", "long", "dmon", "dmy_long", "ordinal", "mdy_dash", "dmy_dot", "wday"),
    "inline_pairs": ("mdy", "iso", "abbr", "dmy", "dmon_title", "mdy_dash", "ymd_slash"),
    "one_line": ("mdy", "iso", "abbr", "dmy", "dmon_title", "iso_sp", "ymd_slash"),
    "md_table": ("iso", "mdy", "dmy_dot", "ymd_slash", "dmon"),
    "fixed_columns": ("mdy", "iso", "dmon", "mdy_dash", "dmy_dot", "ymd_slash"),
    "pipe_cells": ("iso", "mdy", "compact", "ymd_slash", "dmon"),
    "key_value": ("iso", "iso_t", "iso_sp", "compact", "ymd_slash"),
    "xml_tag": ("iso", "iso_t", "compact"),
    "json_line": ("iso", "iso_t", "iso_tm"),
    "prose": ("long", "ordinal", "dmy_long", "abbr", "wday", "mdy"),
    "markdown": ("iso", "long", "ordinal", "dmy_long", "wday", "abbr"),
    "title_block": ("wday", "long", "ordinal", "dmy_long", "mdy", "dmon_title"),
    "date_line": ("iso", "long", "mdy", "wday", "dmy_long", "iso_sp"),
}
LAYOUT_SEPARATORS = {
    "ascii_box": ("colon", "dcolon", "dots", "align", "colon_align", "dash"),
    "unicode_box": ("colon", "dcolon", "dots", "align", "colon_align", "arrow"),
    "label_block": ("colon", "dash", "dcolon", "equals", "arrow", "dots", "align", "colon_align", "tab", "bracket"),
    "inline_pairs": ("colon", "dash", "dcolon", "equals", "bracket", "arrow"),
    "one_line": ("colon", "dash", "dcolon", "equals", "bracket", "arrow"),
    "account_banner": ("space", "colon", "equals"),
    "account_grid": ("space", "colon", "colon_align"),
    "rule_banner": ("colon", "dash", "dcolon", "pipe"),
    "stamp_line": ("colon",),
    "markdown": ("md_bold", "md_bullet", "md_italic"),
    "key_value": ("kv_eq", "kv_colon", "kv_inline"),
    "xml_tag": ("xml_attrs", "xml_elements"),
    "json_line": ("json_one", "json_pretty"),
}
JOINERS = {"inline_pairs": ("    ", " | ", "; ", "   "), "one_line": ("    ", " | ", "; ", "  "),
           "account_banner": (" | ", "   ", " ¦ ", " // "), "account_grid": ("   ", " | "),
           "stamp_line": ("  ", " — ", " · ", " / "), "pipe_cells": (" | ", " ¦ ", " ‖ "),
           "ascii_box": ("    ",), "unicode_box": ("    ",), "date_line": (" — ", "  ", " · ")}
FRAMES = {  # top-left, top-right, bottom-left, bottom-right, horizontal, vertical, left tee, right tee
    "plus": "++++-|++", "equals": "++++=|++", "star": "********", "hash": "########", "light": "┌┐└┘─│├┤",
    "double": "╔╗╚╝═║╠╣", "heavy": "┏┓┗┛━┃┣┫", "round": "╭╮╰╯─│├┤",
}
LAYOUT_FRAMES = {"ascii_box": ("plus", "equals", "star", "hash"), "unicode_box": ("light", "double", "heavy", "round")}

# --------------------------------------------------------------------------------------------
# Printing labels and layouts
# --------------------------------------------------------------------------------------------

Value = Sequence[str]  # one value as printed segments (a gold field stays its own segment)
Row = list[str]


def _case(f: Family, label: str) -> str:
    return label.upper() if f.label_case == "upper" else label.lower() if f.label_case == "lower" else label


def _key(label: str) -> str:
    """A label as a machine key: "Perf Prov" -> "perf_prov"."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def _camel(label: str) -> str:
    return "".join(part.capitalize() for part in _key(label).split("_"))


def _sentence(label: str) -> str:
    return label[0].upper() + label[1:].lower()


def _printed_title(f: Family) -> str:
    return _key(f.title) if f.layout in ("key_value", "xml_tag") else f.title


def _prefix(f: Family, label: str) -> str:
    """The label with its separator, as printed before the value."""
    text, pad = _case(f, label), max(len(x) for x in f.labels) - len(label)
    key = _key(label)
    return {
        "colon": f"{text}: ", "dash": f"{text} - ", "dcolon": f"{text}:: ", "equals": f"{text} = ",
        "pipe": f"{text} | ", "arrow": f"{text} -> ", "dots": f"{text}{'.' * (pad + 4)} ",
        "align": f"{text}{' ' * (pad + 3)}", "colon_align": f"{text}:{' ' * (pad + 2)}", "tab": f"{text}:\t",
        "bracket": f"[{text}] ", "space": f"{text} ",
        "md_bold": f"**{text}:** ", "md_bullet": f"- **{text}**: ", "md_italic": f"_{text}_: ",
        "kv_eq": f"{key}=", "kv_colon": f"{key}: ", "kv_inline": f'{key}="', "xml_attrs": f'{key}="',
        "xml_elements": f"<{_camel(label)}>", "json_one": f'"{key}": "', "json_pretty": f'"{key}": "',
    }[f.separator]


def _mark(f: Family, label: str) -> str:
    """The shortest printed form of a label that still shows it is this family's label."""
    if f.layout == "md_table":
        return f"| {_case(f, label)} "
    if f.layout == "prose":
        return _sentence(label)
    if f.layout == "fixed_columns":
        return _case(f, label) + ("\n" if label == f.labels[-1] else "  ")
    if f.separator in ("dots", "align", "colon_align"):
        return _prefix(f, label)[:len(_case(f, label)) + 2]
    return _prefix(f, label) if f.separator == "space" else _prefix(f, label).rstrip(" ")


def _closing(f: Family, label: str) -> str:
    """What follows a value printed after _prefix."""
    return {"kv_inline": '"', "xml_attrs": '"', "xml_elements": f"</{_camel(label)}>", "json_one": '"',
            "json_pretty": '"'}.get(f.separator, "")


def _width(value: Value) -> int:
    return sum(map(len, value))


def _present(f: Family, values: Mapping[str, Value]) -> list[tuple[str, str]]:
    return [(slot, label) for slot, label in f.fields if slot in values]


def _stamped(f: Family, values: Mapping[str, Value], slot: str) -> list[str]:
    """A date with its time of day, unless the date style already prints it."""
    if f.date_style in TIMESTAMP_STYLES:
        return list(values[slot])
    return [*values[slot], " ", *values["time" if slot == "date" else "discharge_time"]]


def _pairs(f: Family, values: Mapping[str, Value], timed: bool = False) -> list[Row]:
    """One row per present field: label, separator, value (unlabelled fields: the value alone)."""
    rows = []
    for slot, label in _present(f, values):
        value = _stamped(f, values, slot) if timed and slot in ("date", "discharge") else list(values[slot])
        rows.append([_prefix(f, label), *value, _closing(f, label)] if label else value)
    return rows


def _join(rows: Sequence[Row], joiner: str) -> Row:
    out: Row = []
    for k, row in enumerate(rows):
        out += ([joiner] if k else []) + list(row)
    return out


def _title_rows(f: Family) -> list[Row]:
    return [[f.title]] if f.title else []


def _r_block(f: Family, values: Mapping[str, Value]) -> list[Row]:
    """Label-value lines, `per_line` pairs a line (0: all on one line)."""
    pairs = _pairs(f, values)
    per = f.per_line or len(pairs)
    return _title_rows(f) + [_join(pairs[i:i + per], f.joiner) for i in range(0, len(pairs), per)]


def _r_box(f: Family, values: Mapping[str, Value]) -> list[Row]:
    tl, tr, bl, br, h, v, lt, rt = FRAMES[f.frame]
    pairs = _pairs(f, values)
    per = f.per_line or 1
    rows = [_join(pairs[i:i + per], f.joiner) for i in range(0, len(pairs), per)]
    inner = max([f.width] + [_width(r) + 2 for r in rows] + [len(f.title) + 6])
    out = []
    if f.title and f.variant == "border":
        out.append([f"{tl}{h * 2} {f.title} {h * (inner - len(f.title) - 4)}{tr}"])
    else:
        out.append([f"{tl}{h * inner}{tr}"])
        if f.title:
            out += [[f"{v} {f.title.ljust(inner - 2)} {v}"], [f"{lt}{h * inner}{rt}"]]
    out += [[f"{v} ", *r, " " * (inner - 2 - _width(r)), f" {v}"] for r in rows]
    return out + [[f"{bl}{h * inner}{br}"]]


def _r_stamp(f: Family, values: Mapping[str, Value]) -> list[Row]:
    """One line: date and time, then the other fields; the provider in brackets when `variant` says."""
    parts = []
    for slot, label in _present(f, values):
        if slot in ("date", "discharge"):
            value = _stamped(f, values, slot)
        elif slot == "provider" and f.variant and not label:
            value = [f.variant[0], *values[slot], f.variant[1]]
        else:
            value = list(values[slot])
        parts.append([_prefix(f, label), *value] if label else value)
    return [_join(parts, f.joiner)]


def _r_rule(f: Family, values: Mapping[str, Value]) -> list[Row]:
    """A rule banner holding the first two fields, the other fields labelled below it."""
    char, shape = f.frame, f.variant
    present = _present(f, values)
    a, b = (list(values[slot]) for slot, _ in present[:2])
    banner = {"flank": [char * f.width + " ", *a, " : ", *b, " " + char * f.width],
              "bracket": [char * 3 + "[ ", *a, " ]" + char * 3 + "[ ", *b, " ]" + char * 3],
              "open": [char * 3 + " ", *a, " " + char * 3 + " ", *b, " " + char * 3]}[shape]
    return [banner] + _pairs(f, {slot: values[slot] for slot, _ in present[2:]})


def _r_account(f: Family, values: Mapping[str, Value]) -> list[Row]:
    """An account banner: one line, or (grid) account number, then admit/discharge, then the rest."""
    cells = _pairs(f, values, timed=True)
    if f.layout == "account_banner":
        return [_join(cells, f.joiner)]
    slots = [slot for slot, _ in _present(f, values)]
    when = [c for s, c in zip(slots, cells) if s in ("date", "discharge")]
    rest = [c for s, c in zip(slots, cells) if s not in ("date", "discharge", "acct")]
    return [cells[slots.index("acct")], _join(when, f.joiner), _join(rest, f.joiner)]


def _r_table(f: Family, values: Mapping[str, Value]) -> list[Row]:
    """Markdown table (labels, rule, values) or fixed-width columns (labels, optional rule, values)."""
    cells = [(_case(f, label), list(values[slot])) for slot, label in _present(f, values)]
    if f.layout == "md_table":
        widths = [max(len(label), _width(v)) if f.variant == "padded" else len(label) for label, v in cells]
        head = "| " + " | ".join(label.ljust(w) for (label, _), w in zip(cells, widths)) + " |"
        rule = "|" + "|".join("-" * (w + 2) if f.variant == "padded" else "---" for w in widths) + "|"
        row: Row = ["| "]
        for k, ((_, v), w) in enumerate(zip(cells, widths)):
            row += [*v, " " * max(0, w - _width(v)), " |" if k == len(cells) - 1 else " | "]
        title = [[f"**{f.title}**"]] if f.title else []
        return title + [[head], [rule], row]
    gap = f.width
    widths = [max(len(label), _width(v)) + gap for label, v in cells]
    head = "".join(label.ljust(w) for (label, _), w in zip(cells, widths)).rstrip()
    rows = [[head]]
    if f.variant == "ruled":
        rows.append(["".join(("-" * (w - gap)).ljust(w) for w in widths).rstrip()])
    row = []
    for k, ((_, v), w) in enumerate(zip(cells, widths)):
        row += [*v] + ([" " * (w - _width(v))] if k < len(cells) - 1 else [])
    return rows + [row]


def _r_cells(f: Family, values: Mapping[str, Value]) -> list[Row]:
    """Pipe-delimited cells without labels."""
    bar = f.joiner.strip()
    return [[f"{bar} ", *_join([list(values[slot]) for slot, _ in _present(f, values)], f.joiner), f" {bar}"]]


def _r_keyed(f: Family, values: Mapping[str, Value]) -> list[Row]:
    """key=value / key: value lines, key="value" on one line, XML-ish or JSON-ish records."""
    pairs = _pairs(f, values)
    root = _key(f.title)
    if f.separator == "kv_inline":
        return [_join(pairs, " ")]
    if f.separator in ("kv_eq", "kv_colon"):
        return ([[f"[{root}]"]] if f.title else []) + pairs
    if f.separator == "xml_attrs":
        return [[f"<{root} ", *_join(pairs, " "), "/>"]]
    if f.separator == "xml_elements":
        return [[f"<{root}>"]] + [["  ", *p] for p in pairs] + [[f"</{root}>"]]
    if f.separator == "json_one":
        return [["{", *_join(pairs, ", "), "}"]]
    return [["{"]] + [["  ", *p, "," if k < len(pairs) - 1 else ""] for k, p in enumerate(pairs)] + [["}"]]


def _r_prose(f: Family, values: Mapping[str, Value]) -> list[Row]:
    rows = fill(PROSE_TEMPLATES[int(f.variant)], values)
    if "discharge" in values:
        rows[-1] += [f" {_sentence(dict(f.fields)['discharge'])} ", *values["discharge"], "."]
    return rows


def _r_markdown(f: Family, values: Mapping[str, Value]) -> list[Row]:
    heading = fill(MARKDOWN_HEADINGS[int(f.variant)], values)
    return heading + _pairs(f, {slot: v for slot, v in values.items() if slot not in ("date", "type")})


def _r_titled(f: Family, values: Mapping[str, Value]) -> list[Row]:
    """A title line, then unlabelled lines: the date (to the discharge date for a stay), the others."""
    rows = [[f.title]] if f.title else []
    for slot, _ in _present(f, values):
        if slot == "date":
            rows.append([*values["date"]] + ([" – ", *values["discharge"]] if "discharge" in values else []))
        elif slot != "discharge":
            rows.append(list(values[slot]))
    return rows


def _r_date_line(f: Family, values: Mapping[str, Value]) -> list[Row]:
    """The date alone on its line, as note exports print it (a synthetic EHR's notes, a portal's
    visit list), or the date with the visit's kind beside it; `width` 1 leaves a blank line under it."""
    kind = [f.joiner, *values["type"]] if "type" in values and f.variant == "typed" else []
    return [[*values["date"], *kind]] + [[]] * f.width


_RENDERERS = {
    "ascii_box": _r_box, "unicode_box": _r_box, "stamp_line": _r_stamp, "rule_banner": _r_rule,
    "account_banner": _r_account, "account_grid": _r_account, "label_block": _r_block, "inline_pairs": _r_block,
    "one_line": _r_block, "md_table": _r_table, "fixed_columns": _r_table, "pipe_cells": _r_cells,
    "key_value": _r_keyed, "xml_tag": _r_keyed, "json_line": _r_keyed, "prose": _r_prose, "markdown": _r_markdown,
    "title_block": _r_titled, "date_line": _r_date_line,
}
_SLOT = re.compile(r"\{(\w+)\}")


def fill(template: str, values: Mapping[str, Value]) -> list[Row]:
    """Rows of segments for a template over {name} slots; each value keeps its own segments."""
    rows = []
    for line in template.split("\n"):
        segs: Row = []
        for k, part in enumerate(_SLOT.split(line)):
            segs.extend(values[part] if k % 2 else [part])
        rows.append([s for s in segs if s])
    return rows


def render_header(f: Family, values: Mapping[str, Value]) -> list[Row]:
    """The header rows family `f` prints for one encounter.

    values: the printed value of every field slot of the family that applies (discharge only for a
    stay, or the same day in an account banner), plus "time" / "discharge_time" (time of day).
    """
    return _RENDERERS[f.layout](f, values)


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------

def _sub_styles(lex: Lexicon) -> tuple[str, ...]:
    """Every note sub-header the group prints: title, stamp and author in three orders, joined its way."""
    orders = ((0, 1, 2), (1, 0, 2), (0, 2, 1))
    return tuple(join.join((title, stamp, author)[i] for i in order)
                 for title, stamp, author, join, order in product(lex.sub_titles, lex.sub_stamps, lex.sub_authors,
                                                                  lex.sub_joins, orders))


def _furniture(rng: random.Random, lex: Lexicon) -> Furniture:
    """Banner, page counter, maybe a print stamp and a notice; on top, at the bottom or split."""
    banner, counter = rng.choice(lex.banners), rng.choice(lex.counters)
    lines = [banner]
    stamp = rng.choice(lex.stamps) if rng.random() < 0.6 else ""
    if stamp and rng.random() < 0.4:
        lines.append(f"{stamp}    {counter}")
    else:
        lines += [line for line in (stamp, counter) if line]
    if rng.random() < 0.4:
        lines.append(rng.choice(lex.notices))
    where = rng.choice(("top", "bottom", "split", "split"))
    top = tuple(lines) if where == "top" else () if where == "bottom" else tuple(lines[:1])
    return Furniture(top, tuple(lines[len(top):]), rng.choice(NOTE_DATE_STYLES))


def _fields(rng: random.Random, lex: Lexicon, layout: str) -> tuple[tuple[str, str], ...]:
    """Which fields the family prints, under which labels (or none), in which order."""
    chosen = [slot for slot, p in (("provider", 0.9), ("type", 0.75), ("facility", 0.75)) if rng.random() < p]
    while len(chosen) < 2:
        chosen.append(rng.choice([s for s in ("provider", "type", "facility") if s not in chosen]))
    if layout == "prose":
        chosen = ["type", "provider", "facility"]
    elif layout in ("rule_banner", "markdown") and "type" not in chosen:
        chosen.append("type")
    others = rng.sample(chosen, len(chosen))
    labels = {slot: rng.choice(getattr(lex, slot)) for slot in FIELD_SLOTS}
    always = layout in (*ACCOUNT_LAYOUTS, "prose", "title_block")
    stay = [("discharge", labels["discharge"])] if always or rng.random() < 0.6 else []
    n_extra = rng.choice((0, 1, 1, 2, 3)) if layout in LABELLED else rng.choice((0, 1)) if layout in (
        "rule_banner", "markdown") else 0
    extra = rng.sample([d for d in lex.distractors if d[0] != "acct"], n_extra)
    if layout in ACCOUNT_LAYOUTS:
        rest = [(slot, labels[slot]) for slot in others] + extra
        return (("acct", "ACCT"), ("date", labels["date"]), *stay, *rng.sample(rest, len(rest)))
    if layout in ("rule_banner", "markdown"):  # date and type make the banner / heading
        lead = [("date", ""), ("type", "")]
        rest = [(slot, labels[slot]) for slot in others if slot != "type"] + stay + extra
        return (*(lead[::-1] if layout == "rule_banner" and rng.random() < 0.5 else lead), *rng.sample(rest, len(rest)))
    if layout == "date_line":
        return (("date", ""), ("type", ""))
    if layout in ("prose", "title_block", "pipe_cells"):
        return (("date", ""), *[(slot, label if layout == "prose" else "") for slot, label in stay],
                *[(slot, "") for slot in others])
    if layout == "stamp_line":
        return (("date", ""), *[(slot, labels[slot] if slot != "type" and rng.random() < 0.3 else "")
                                for slot in others], *stay)
    fields = [(slot, labels[slot]) for slot in others]
    at = rng.randint(0, len(fields)) if rng.random() < 0.5 else 0
    fields[at:at] = [("date", labels["date"]), *stay]
    for distractor in extra:
        fields.insert(rng.randint(0, len(fields)), distractor)
    return tuple(fields)


def _grammar_family(group: int, k: int) -> Family:
    """Family k of a group, from its own string-seeded generator."""
    fid = f"G{group}-{k:02d}"
    rng = random.Random(f"chartsift/family/{fid}")
    lex, layout = LEXICONS[group], GROUP_LAYOUTS[group][k]
    fields = _fields(rng, lex, layout)
    separator = rng.choice(LAYOUT_SEPARATORS.get(layout, ("",)))
    label_case = ("upper" if rng.random() < 0.8 else "title") if layout in ACCOUNT_LAYOUTS else \
        rng.choices(("upper", "title", "lower"), (40, 45, 15))[0]
    titled = {"ascii_box": 0.8, "unicode_box": 0.8, "label_block": 0.35, "inline_pairs": 0.2, "one_line": 0.2,
              "md_table": 0.3, "key_value": 0.4, "xml_tag": 1.0, "title_block": 0.6}.get(layout, 0.0)
    titles = lex.titles if layout != "xml_tag" else [t for t in lex.titles if t.islower()]
    title = rng.choice(titles) if rng.random() < titled else ""
    frame, width, variant, per_line = "", 0, "", 0
    if layout in LAYOUT_FRAMES:
        frame, width = rng.choice(LAYOUT_FRAMES[layout]), rng.choice((0, 48, 56, 64))
        variant, per_line = rng.choice(("border", "row")), rng.choice((1, 1, 2))
    elif layout == "rule_banner":
        frame, width, variant = rng.choice("=-#~*"), rng.choice((5, 10, 20)), rng.choice(("flank", "bracket", "open"))
    elif layout == "stamp_line":
        variant = rng.choice(("()", "[]", ""))
    elif layout in ("label_block", "inline_pairs"):
        per_line = 1 if layout == "label_block" else rng.choice((2, 3))
    elif layout == "md_table":
        variant = rng.choice(("padded", "tight"))
    elif layout == "fixed_columns":
        width, variant = rng.choice((2, 3, 4)), rng.choice(("ruled", "plain"))
    elif layout == "prose":
        variant = str(rng.randrange(len(PROSE_TEMPLATES)))
    elif layout == "markdown":
        variant = str(rng.randrange(len(MARKDOWN_HEADINGS)))
    elif layout == "date_line":
        variant, width = rng.choice(("bare", "typed")), int(rng.random() < 0.6)  # width 1: a blank line under it
    upper = rng.random() < {"account_banner": 0.7, "account_grid": 0.7, "rule_banner": 0.5, "stamp_line": 0.5}.get(
        layout, 0.15)
    return Family(
        id=fid, group=group, layout=layout, fields=fields, separator=separator, label_case=label_case,
        date_style=rng.choice(LAYOUT_DATES[layout]), time_style=rng.choice(TIME_STYLES),
        note_date=rng.choice(NOTE_DATE_STYLES), upper_values=upper, title=title,
        joiner=rng.choice(JOINERS.get(layout, ("",))), per_line=per_line, frame=frame, width=width, variant=variant,
        sub_styles=tuple(rng.sample(_sub_styles(lex), 2)), sig_styles=tuple(rng.sample(lex.signatures, 2)),
        furniture=(_furniture(rng, lex),), newest_first=rng.random() < 0.2,
        section_mark=rng.choice(SECTION_MARKS) if rng.random() < (0.9 if layout in ("markdown", "date_line") else 0.15) else "",
    )


GRAMMAR_FAMILIES = tuple(_grammar_family(g, k) for g in sorted(GROUP_LAYOUTS) for k in range(len(GROUP_LAYOUTS[g])))
