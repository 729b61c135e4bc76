"""Ingest: bytes from the manifest workspace to the one text that every offset points into.

Decoding is strict and explicit: UTF-8, UTF-8 or UTF-16 with a BOM, then cp1252 with a recorded
warning; anything else (empty, binary, NUL bytes, undecodable, a giant single line) is an
``InputError`` naming the file and the reason, so the batch can quarantine it and go on.
Line endings become ``\\n``; the offsets where a CRLF lost its ``\\r`` are kept so any stored
offset maps back to the decoded source deterministically.
"""

from __future__ import annotations

import io
from bisect import bisect_right
from dataclasses import dataclass

from schemas import Document, ManifestInput

from pipeline.errors import InputError

# Above this a "line" is not a line of a clinical record but a blob (base64, minified export, ...).
DEFAULT_MAX_LINE_CHARS = 200_000
# Share of control characters (other than tab, newline, carriage return, form feed) that marks binary.
_MAX_CONTROL_SHARE = 0.005
_ALLOWED_CONTROLS = {"\t", "\n", "\r", "\f", "\v"}
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a ZIP archive (docx/xlsx?)",
    b"\x1f\x8b": "a gzip archive",
    b"\x7fELF": "an executable",
    b"\xd0\xcf\x11\xe0": "an OLE document (.doc/.xls)",
}


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str
    removed_cr: tuple[int, ...]
    page_starts: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()


def _decode_bytes(data: bytes, record: str) -> tuple[str, str, list[str]]:
    if not data:
        raise InputError(record, "empty file (0 bytes)")
    if data.startswith(b"\xef\xbb\xbf"):
        return _strict(data[3:], "utf-8", record), "utf-8-sig", []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _strict(data, "utf-16", record), "utf-16", []
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            raise InputError(record, f"binary file ({kind}), not a text record")
    nul = data.find(b"\x00")
    if nul >= 0:
        count = data.count(b"\x00")
        raise InputError(record, f"contains {count} NUL bytes (first at byte {nul}); not a text record")
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as utf8_error:
        bad = utf8_error.start
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InputError(
            record, f"not valid UTF-8 (first bad byte at offset {bad}) and not valid cp1252 (byte at offset {exc.start})"
        ) from None
    return text, "cp1252", [f"not valid UTF-8 (first bad byte at offset {bad}); decoded as cp1252"]


def _strict(data: bytes, encoding: str, record: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(record, f"declares {encoding} by its BOM but byte {exc.start} is invalid") from None


def normalise_newlines(text: str) -> tuple[str, tuple[int, ...]]:
    """CRLF and lone CR become LF; returns the text and the decoded offsets of each dropped CR."""
    if "\r" not in text:
        return text, ()
    removed = []
    out = []
    i = 0
    n = len(text)
    while True:
        j = text.find("\r", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        if j + 1 < n and text[j + 1] == "\n":
            removed.append(j)
        else:
            out.append("\n")
        i = j + 1
    return "".join(out), tuple(removed)


def to_source_offset(offset: int, removed_cr: tuple[int, ...]) -> int:
    """Maps an offset in the stored text back to the decoded source text (before CRLF folding)."""
    # The k-th removed CR sat at decoded offset removed_cr[k], i.e. stored offset removed_cr[k] - k.
    shifted = [pos - k for k, pos in enumerate(removed_cr)]
    return offset + bisect_right(shifted, offset - 1)


def _check_text(text: str, record: str, max_line_chars: int) -> None:
    if not text.strip():
        raise InputError(record, "no text after decoding (only whitespace)")
    controls = sum(1 for ch in text if ch < " " and ch not in _ALLOWED_CONTROLS)
    if controls > _MAX_CONTROL_SHARE * len(text):
        raise InputError(record, f"looks binary: {controls} control characters in {len(text)}")
    start = 0
    line_no = 1
    while start <= len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        if end - start > max_line_chars:
            raise InputError(
                record,
                f"line {line_no} is {end - start:,} characters long (limit {max_line_chars:,}); not a line-structured record",
            )
        start = end + 1
        line_no += 1


def _pdf_text(data: bytes, record: str) -> tuple[str, tuple[int, ...]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise InputError(record, f"unreadable PDF ({type(exc).__name__})") from None
    if not any(p.strip() for p in pages):
        raise InputError(record, f"PDF has no text layer on any of its {len(pages)} pages (OCR is not supported)")
    starts = []
    parts = []
    offset = 0
    for page in pages:
        page, _ = normalise_newlines(page)
        starts.append(offset)
        parts.append(page + "\n\f\n")
        offset += len(page) + 3
    return "".join(parts), tuple(starts)


def decode(data: bytes, record: str, media_type: str, max_line_chars: int = DEFAULT_MAX_LINE_CHARS) -> DecodedText:
    """Decodes one input's bytes, or raises ``InputError`` saying why it cannot be a record."""
    if media_type == "application/pdf" or data.startswith(b"%PDF-"):
        text, page_starts = _pdf_text(data, record)
        _check_text(text, record, max_line_chars)
        return DecodedText(text=text, encoding="pdf-text-layer", removed_cr=(), page_starts=page_starts)
    raw, encoding, warnings = _decode_bytes(data, record)
    text, removed = normalise_newlines(raw)
    _check_text(text, record, max_line_chars)
    return DecodedText(text=text, encoding=encoding, removed_cr=removed, warnings=tuple(warnings))


def ingest(declared: ManifestInput, data: bytes, max_line_chars: int = DEFAULT_MAX_LINE_CHARS) -> Document:
    decoded = decode(data, declared.record, declared.media_type, max_line_chars)
    return Document(
        document_id=declared.sha256,
        record=declared.record,
        media_type="application/pdf" if decoded.page_starts else declared.media_type,
        encoding=decoded.encoding,
        text=decoded.text,
        char_count=len(decoded.text),
        line_count=decoded.text.count("\n") + (0 if decoded.text.endswith("\n") else 1),
        removed_cr=decoded.removed_cr,
        page_starts=decoded.page_starts,
        warnings=decoded.warnings,
    )
