from __future__ import annotations

import hashlib

import pytest

from pipeline.errors import InputError
from pipeline.ingest import decode, ingest, normalise_newlines, to_source_offset
from schemas import ManifestInput

TEXT = "DATE OF SERVICE: 01/02/2020\nProvider: Ana Ruiz, MD\nCafé visit — stable.\n"


def declared(data: bytes, record: str = "r.txt") -> ManifestInput:
    return ManifestInput(
        uri="file:///x/r.txt", record=record, size=len(data), sha256=hashlib.sha256(data).hexdigest(), media_type="text/plain"
    )


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("utf-16"), "utf-16"),
        (TEXT.encode("utf-16-be").join([b"\xfe\xff", b""]), "utf-16"),
    ],
)
def test_decodes_unicode_encodings_to_the_same_text(data: bytes, encoding: str) -> None:
    decoded = decode(data, "r.txt", "text/plain")
    assert decoded.text == TEXT
    assert decoded.encoding == encoding
    assert decoded.warnings == ()


def test_cp1252_fallback_is_recorded_as_a_warning() -> None:
    decoded = decode("Café – ok\n".encode("cp1252"), "r.txt", "text/plain")
    assert decoded.text == "Café – ok\n"
    assert decoded.encoding == "cp1252"
    assert "not valid UTF-8" in decoded.warnings[0]


def test_crlf_and_cr_are_normalised_and_offsets_map_back() -> None:
    source = "line one\r\nline two\rline three\r\nend"
    text, removed = normalise_newlines(source)
    assert text == "line one\nline two\nline three\nend"
    assert removed == (8, 29)
    for offset, char in enumerate(text):
        if char != "\n":
            assert source[to_source_offset(offset, removed)] == char


def test_document_offsets_point_into_normalised_text() -> None:
    data = "A\r\nB\r\n".encode()
    doc = ingest(declared(data), data)
    assert doc.text == "A\nB\n"
    assert doc.document_id == hashlib.sha256(data).hexdigest()
    assert doc.line_count == 2
    assert doc.removed_cr == (1, 4)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file (0 bytes)"),
        (b"   \n\n\t\n", "only whitespace"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "binary file (a PNG image)"),
        (b"Visit note\x00\x00 more text", "contains 2 NUL bytes (first at byte 10)"),
        (b"Visit \x81\x8d\x90 note", "not valid UTF-8 (first bad byte at offset 6) and not valid cp1252"),
        (b"x" * 5_000_000, "line 1 is 5,000,000 characters long"),
        (b"\x01\x02\x03\x04 text \x05\x06", "looks binary"),
    ],
)
def test_bad_inputs_raise_an_error_naming_file_and_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InputError) as info:
        decode(data, "folder/bad.txt", "text/plain")
    assert str(info.value).startswith("folder/bad.txt: ")
    assert reason in str(info.value)


def test_error_messages_never_carry_the_text() -> None:
    secret = b"Patient Jane Q Public SSN 123-45-6789 \x00"
    with pytest.raises(InputError) as info:
        decode(secret, "r.txt", "text/plain")
    assert "Jane" not in str(info.value) and "123-45" not in str(info.value)


def test_pdf_text_layer_keeps_page_starts(tmp_path) -> None:
    import pypdf
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = pypdf.PdfWriter()
    for words in ("First page visit 01/02/2020", "Second page follow up"):
        page = writer.add_blank_page(612, 792)
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 72 720 Td ({words}) Tj ET".encode())
        font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"), NameObject("/BaseFont"): NameObject("/Helvetica")})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
        page[NameObject("/Contents")] = writer._add_object(stream)
    path = tmp_path / "r.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    decoded = decode(path.read_bytes(), "r.pdf", "application/pdf")
    assert len(decoded.page_starts) == 2
    second = decoded.page_starts[1]
    assert decoded.text[second:].startswith("Second page")
    assert "First page" in decoded.text[: second]
