"""PDF parsing: paragraphs per page with their page number, the title, and unreadable files refused."""

from __future__ import annotations

import datetime as dt

import pytest
from fpdf import FPDF

from retrieval.formats.pdf import parse_pdf
from retrieval.structure import PROSE

FIRST = "Rate limits apply per route. " * 6
SECOND = "A second paragraph follows a gap. " * 5
THIRD = "Page two explains the global limit of fifty requests per second. " * 3


def new_pdf(title: str | None = None) -> FPDF:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    return pdf


def write(pdf: FPDF, text: str, size: int = 12, gap: float = 0) -> None:
    pdf.set_font("Helvetica", size=size)
    pdf.multi_cell(0, size / 2, text, new_x="LMARGIN", new_y="NEXT")
    if gap:
        pdf.ln(gap)


def two_pages(title: str | None = "Handbook of Limits") -> bytes:
    pdf = new_pdf(title)
    pdf.add_page()
    write(pdf, "Limits at a Glance", size=18, gap=2)
    write(pdf, FIRST, gap=6)
    write(pdf, SECOND)
    pdf.add_page()
    write(pdf, THIRD)
    pdf.set_y(-20)
    write(pdf, "2")  # the page number at the foot
    return bytes(pdf.output())


def test_two_pages_give_paragraphs_with_their_page_and_the_title() -> None:
    parsed = parse_pdf(two_pages())
    assert parsed.title == "Handbook of Limits"
    assert [(b.kind, b.page, b.text) for b in parsed.blocks] == [
        (PROSE, 1, "Limits at a Glance"),
        (PROSE, 1, FIRST.strip()),
        (PROSE, 1, SECOND.strip()),
        (PROSE, 2, THIRD.strip()),
    ]
    assert {b.section.path for b in parsed.blocks} == {("Handbook of Limits",)}
    assert [b.section.anchor for b in parsed.blocks] == ["page=1", "page=1", "page=1", "page=2"]


def test_without_metadata_the_first_short_line_is_the_title() -> None:
    parsed = parse_pdf(two_pages(title=None))
    assert parsed.title == "Limits at a Glance"


def test_creation_date_is_the_document_date() -> None:
    pdf = new_pdf("Dated")
    pdf.set_creation_date(dt.datetime(2024, 5, 17, 12, 0, tzinfo=dt.UTC))
    pdf.add_page()
    write(pdf, "Text.")
    assert parse_pdf(bytes(pdf.output())).date == "2024-05-17"


def test_words_hyphenated_at_a_line_end_are_joined() -> None:
    pdf = new_pdf()
    pdf.add_page()
    write(pdf, "The limit is explained in this exam-")
    write(pdf, "ple, a well-known case.")
    assert [b.text for b in parse_pdf(bytes(pdf.output())).blocks] == [
        "The limit is explained in this example, a well-known case."
    ]


def test_columns_are_read_one_after_the_other() -> None:
    pdf = new_pdf()
    pdf.add_page()
    columns = pdf.text_columns(ncols=2, gutter=10)
    with columns:
        columns.write("Left column speaks of apples and more apples. " * 4)
        columns.new_column()
        columns.write("Right column speaks of oranges and their juice. " * 4)
    texts = [b.text for b in parse_pdf(bytes(pdf.output())).blocks]
    assert texts == [
        ("Left column speaks of apples and more apples. " * 4).strip(),
        ("Right column speaks of oranges and their juice. " * 4).strip(),
    ]


def test_a_pdf_locked_by_a_password_is_refused() -> None:
    pdf = new_pdf()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    write(pdf, "Secret text.")
    with pytest.raises(ValueError, match="encrypted"):
        parse_pdf(bytes(pdf.output()))


def test_a_pdf_encrypted_without_a_user_password_is_read() -> None:
    pdf = new_pdf()
    pdf.set_encryption(owner_password="owner")
    pdf.add_page()
    write(pdf, "Open text.")
    assert [b.text for b in parse_pdf(bytes(pdf.output())).blocks] == ["Open text."]


@pytest.mark.parametrize("raw", [b"", b"hello", b"%PDF-1.4\n%garbage\n", two_pages()[:200]])
def test_damaged_pdfs_are_refused_with_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError, match="damaged PDF"):
        parse_pdf(raw)
