"""What a clinician reviews: a record's text with its encounter boundaries and evidence marked.

Used by ``notebooks/review.ipynb`` and by ``chartsift review``, which writes the same view as a
self-contained HTML page (no scripts, no external assets), so a reviewer needs only a browser.
"""

from __future__ import annotations

import html

import duckdb
import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; }
section.encounter { border-left: 4px solid #3b6ea5; margin: 1rem 0; padding-left: .75rem; }
section.encounter:nth-of-type(even) { border-left-color: #a5673b; }
section.encounter h3 { font-size: .95rem; margin: .25rem 0; }
pre { white-space: pre-wrap; font-size: .8rem; margin: 0; }
mark { background: #fff3a3; border-radius: 2px; }
p.check { color: #8a4b00; font-size: .8rem; margin: .2rem 0; }
mark[data-field="encounter_date"], mark[data-field="end_date"] { background: #bde5c8; }
mark[data-field="provider"], mark[data-field="facility"] { background: #c9dcf5; }
mark[data-field="diagnoses"] { background: #f5cfc9; }
mark[data-field="medications"] { background: #e3d1f5; }
"""


def _run_filter(run_id: str | None) -> tuple[str, str, list[str]]:
    """(encounters to read, condition, parameters): the current version of every record by default, or
    what one run stored."""
    if run_id is None:
        return "encounters_current", "true", []
    return "encounters", "e.run_id = ?", [run_id]


def list_records(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> pd.DataFrame:
    """One row per record (current, or stored by the run): encounters found and the date range they cover."""
    table, where, params = _run_filter(run_id)
    return con.execute(
        f"""SELECT e.record, count(*) AS encounters, min(e.encounter_date) AS first_date,
                   max(e.encounter_date) AS last_date, any_value(d.char_count) AS chars
            FROM {table} e JOIN documents d USING (document_id)
            WHERE {where} GROUP BY e.record ORDER BY e.record""",
        params,
    ).df()


def encounters_frame(con: duckdb.DuckDBPyConnection, record: str, run_id: str | None = None) -> pd.DataFrame:
    table, where, params = _run_filter(run_id)
    return con.execute(
        f"""SELECT encounter_index, start_line, end_line, encounter_date, end_date, encounter_type,
                   encounter_type_text, encounter_type_source, provider, facility, chief_complaint, len(diagnoses) AS diagnoses,
                   len(medications) AS medications, round(boundary_score, 2) AS score,
                   coalesce(review_reasons, []) AS review_reasons, encounter_id
            FROM {table} e WHERE e.record = ? AND {where} ORDER BY encounter_index""",
        [record, *params],
    ).df()


def render_record_html(con: duckdb.DuckDBPyConnection, record: str, run_id: str | None = None) -> str:
    """The record's stored text, one section per encounter, every evidence span marked."""
    table, where, params = _run_filter(run_id)
    encounters = con.execute(
        f"""SELECT encounter_id, encounter_index, start_char, end_char, start_line, end_line, encounter_date,
                   encounter_type, provider, facility, document_id, coalesce(review_reasons, [])
            FROM {table} e WHERE e.record = ? AND {where} ORDER BY encounter_index""",
        [record, *params],
    ).fetchall()
    if not encounters:
        raise LookupError(f"no encounters stored for record {record!r}")
    text = con.execute("SELECT text FROM documents WHERE document_id = ?", [encounters[0][10]]).fetchone()[0]
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(record)}</title><style>{STYLE}</style>",
             f"<h2>{html.escape(record)}: {len(encounters)} encounters</h2>"]
    for enc_id, index, start, end, first, last, when, kind, provider, facility, _, reasons in encounters:
        spans = con.execute(
            "SELECT start_char, end_char, field FROM evidence WHERE encounter_id = ? ORDER BY start_char, end_char DESC",
            [enc_id],
        ).fetchall()
        title = " · ".join(str(v) for v in (when, kind, provider, facility) if v)
        parts.append(
            f"<section class='encounter' id='{enc_id}'><h3>#{index + 1} lines {first}-{last} {html.escape(title)}</h3>"
            + (f"<p class='check'>Check the bounds: {html.escape('; '.join(reasons))}</p>" if reasons else "")
            + f"<pre>{_marked(text, start, end, spans)}</pre></section>"
        )
    return "".join(parts)


def _marked(text: str, start: int, end: int, spans: list[tuple[int, int, str]]) -> str:
    out = []
    pos = start
    for s, e, field in spans:
        if s < pos:  # nested or overlapping with a span already marked
            continue
        out.append(html.escape(text[pos:s]))
        out.append(f"<mark data-field='{field}' title='{field}'>{html.escape(text[s:e])}</mark>")
        pos = e
    out.append(html.escape(text[pos:end]))
    return "".join(out)
