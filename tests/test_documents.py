"""Reading a documents folder: paragraphs, metadata, skipped files, passages and sentences."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.documents import TITLE_CHARS, parse_document, read_folder
from retrieval.errors import DocumentsError
from retrieval.model import Document
from retrieval.passages import all_passages, passages_of, split_long
from retrieval.text import split_sentences

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def read_one(tmp_path: Path, content: str | bytes, name: str = "doc.txt") -> Document:
    write(tmp_path, name, content)
    documents, skipped = read_folder(tmp_path)
    assert skipped == []
    assert len(documents) == 1
    return documents[0]


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


# --- paragraphs ---------------------------------------------------------------------------------


def test_blank_line_blocks_are_paragraphs_and_wrapped_lines_are_joined(tmp_path: Path) -> None:
    doc = read_one(
        tmp_path,
        "A short headline\n\n"
        "The first paragraph is wrapped\nover three lines   with  odd\n  spacing.\n\n"
        "  \t\n"
        "The second paragraph.\n\n\n\n"
        "The third\tparagraph.\n",
    )
    assert doc.paragraphs == (
        "A short headline",
        "The first paragraph is wrapped over three lines with odd spacing.",
        "The second paragraph.",
        "The third paragraph.",
    )
    assert doc.text == "\n\n".join(doc.paragraphs)


def test_blank_lines_holding_spaces_or_tabs_still_separate_paragraphs(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "First block\nstill first.\n \t \nSecond block.")
    assert doc.paragraphs == ("First block still first.", "Second block.")


def test_one_paragraph_per_line_when_the_file_has_no_blank_lines(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "  First line is one paragraph.  \nSecond line  is another.\nThird.\n")
    assert doc.paragraphs == ("First line is one paragraph.", "Second line is another.", "Third.")


def test_paragraph_numbers_count_from_one(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "Alpha one.\n\nBeta two.\n\nGamma three.")
    passages = list(passages_of(doc))
    assert [p.paragraph for p in passages] == [1, 2, 3]
    assert [p.part for p in passages] == [1, 1, 1]
    assert [p.text for p in passages] == list(doc.paragraphs)
    assert {p.doc_id for p in passages} == {"doc.txt"}


def test_all_passages_keeps_document_order(tmp_path: Path) -> None:
    write(tmp_path, "b.txt", "B one.\n\nB two.")
    write(tmp_path, "a.txt", "A one.")
    documents, _ = read_folder(tmp_path)
    assert [d.id for d in documents] == ["a.txt", "b.txt"]
    assert [(p.doc_id, p.paragraph) for p in all_passages(documents)] == [
        ("a.txt", 1),
        ("b.txt", 1),
        ("b.txt", 2),
    ]


def test_crlf_and_cr_line_endings(tmp_path: Path) -> None:
    crlf = read_one(tmp_path, b"Head line\r\n\r\nFirst para\r\nwrapped here.\r\n\r\nSecond.\r\n", "crlf.txt")
    assert crlf.paragraphs == ("Head line", "First para wrapped here.", "Second.")
    assert all("\r" not in p for p in crlf.paragraphs)
    (tmp_path / "crlf.txt").unlink()
    lines = read_one(tmp_path, b"One.\r\nTwo.\r\nThree.\r\n", "lines.txt")
    assert lines.paragraphs == ("One.", "Two.", "Three.")
    (tmp_path / "lines.txt").unlink()
    old_mac = read_one(tmp_path, b"One.\rTwo.\rThree.", "mac.txt")
    assert old_mac.paragraphs == ("One.", "Two.", "Three.")


# --- metadata -----------------------------------------------------------------------------------


def test_date_marker_on_its_own_line(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "date 2025-02-04\n\nTalks in Washington\n\nThe leaders met.")
    assert doc.date == "2025-02-04"
    assert doc.paragraphs == ("Talks in Washington", "The leaders met.")
    assert "2025-02-04" not in doc.text


def test_date_marker_with_leading_whitespace_and_text_on_the_same_line(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "  date 2025-01-29 Leaders met in the capital today.\n\nMore follows.")
    assert doc.date == "2025-01-29"
    assert doc.paragraphs[0] == "Leaders met in the capital today."
    assert "date" not in doc.text
    assert doc.title == "Leaders met in the capital today"


def test_invalid_date_is_left_as_text(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "date 2025-13-45 Leaders met in the capital today.")
    assert doc.date is None
    assert doc.paragraphs == ("date 2025-13-45 Leaders met in the capital today.",)


def test_date_marker_must_lead_the_file(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "Leaders met.\n\ndate 2025-01-29 is when.")
    assert doc.date is None
    assert doc.paragraphs == ("Leaders met.", "date 2025-01-29 is when.")


def test_no_date_marker_means_no_date(tmp_path: Path) -> None:
    assert read_one(tmp_path, "Just text.").date is None


def test_title_is_the_headline(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "Netanyahu seeks firm backing\n\nThe body of the article follows here.")
    assert doc.title == "Netanyahu seeks firm backing"


def test_title_is_the_first_sentence_without_its_full_stop(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "The leaders met on Tuesday. They talked for hours.\n\nMore.")
    assert doc.title == "The leaders met on Tuesday"


def test_long_first_sentence_is_shortened_at_a_word_with_an_ellipsis(tmp_path: Path) -> None:
    sentence = "The prime minister " + "travelled a very long way " * 10 + "to meet the president."
    doc = read_one(tmp_path, sentence + " A second sentence.\n\nMore.")
    assert doc.title.endswith("…")
    assert len(doc.title) <= TITLE_CHARS + 1
    assert len(doc.title) > TITLE_CHARS // 2
    stem = doc.title[:-1]
    assert sentence.startswith(stem)
    assert sentence[len(stem)] == " "  # cut between words, not inside one


def test_id_is_the_relative_posix_path(tmp_path: Path) -> None:
    write(tmp_path, "top.txt", "Top.")
    write(tmp_path, "sub/deeper/inner.md", "Inner.")
    documents, skipped = read_folder(tmp_path)
    assert skipped == []
    assert [d.id for d in documents] == ["sub/deeper/inner.md", "top.txt"]


def test_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    doc = read_one(tmp_path, "\ufeffdate 2025-01-29 Café talks\n\nCrème brûlée for all.".encode())
    assert doc.date == "2025-01-29"
    assert doc.title == "Café talks"
    assert doc.paragraphs == ("Café talks", "Crème brûlée for all.")
    assert all("\ufeff" not in p for p in doc.paragraphs)


def test_content_hash_follows_the_bytes(tmp_path: Path) -> None:
    a = parse_document("a.txt", b"Same text.")
    b = parse_document("b.txt", b"Same text.")
    c = parse_document("c.txt", b"Other text.")
    assert a.content_hash == b.content_hash != c.content_hash


# --- skipped and ignored files ------------------------------------------------------------------


def test_each_skip_reason_and_the_others_still_read(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    outside = tmp_path / "outside"
    write(outside, "secret.txt", "Secret text outside the folder.")
    write(docs, "a_good.txt", "A good document.")
    write(docs, "b_latin1.txt", "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e.".encode("latin-1"))
    write(docs, "c_nul.txt", b"Looks like text\x00but has NUL bytes\x00\x01\x02")
    write(docs, "d_random.txt", random.Random(7).randbytes(150))
    write(docs, "e_control.txt", "text" + "\x01\x02\x03" * 5 + "more text")
    write(docs, "f_empty.txt", b"")
    write(docs, "g_blank.md", " \n\t\n \r\n  ")
    write(docs, "h_date_only.txt", "date 2025-01-29\n\n")
    write(docs, "i_big.txt", "Big. " * 100)
    os.symlink(outside / "secret.txt", docs / "j_link_out.txt")
    os.symlink(docs / "missing.txt", docs / "k_dangling.txt")
    write(docs, "z_good.md", "Another good document.")

    documents, skipped = read_folder(docs, max_bytes=200)

    assert [d.id for d in documents] == ["a_good.txt", "z_good.md"]
    reasons = {s.name: s.reason for s in skipped}
    assert set(reasons) == {
        "b_latin1.txt",
        "c_nul.txt",
        "d_random.txt",
        "e_control.txt",
        "f_empty.txt",
        "g_blank.md",
        "h_date_only.txt",
        "i_big.txt",
        "j_link_out.txt",
        "k_dangling.txt",
    }
    assert "UTF-8" in reasons["b_latin1.txt"]
    assert "binary" in reasons["c_nul.txt"]
    assert "binary" in reasons["d_random.txt"] or "UTF-8" in reasons["d_random.txt"]
    assert "binary" in reasons["e_control.txt"]
    assert "empty" in reasons["f_empty.txt"]
    assert "empty" in reasons["g_blank.md"]
    assert "empty" in reasons["h_date_only.txt"]
    assert "larger than the limit" in reasons["i_big.txt"]
    assert "outside" in reasons["j_link_out.txt"]
    assert "cannot be read" in reasons["k_dangling.txt"]
    assert all(s.reason for s in skipped)


def test_size_limit_is_inclusive(tmp_path: Path) -> None:
    write(tmp_path, "exact.txt", b"x" * 50)
    write(tmp_path, "over.txt", b"x" * 51)
    documents, skipped = read_folder(tmp_path, max_bytes=50)
    assert [d.id for d in documents] == ["exact.txt"]
    assert [s.name for s in skipped] == ["over.txt"]


def test_symlink_inside_the_folder_is_read(tmp_path: Path) -> None:
    write(tmp_path, "real.txt", "Real text.")
    os.symlink(tmp_path / "real.txt", tmp_path / "alias.txt")
    documents, skipped = read_folder(tmp_path)
    assert skipped == []
    assert [(d.id, d.paragraphs) for d in documents] == [
        ("alias.txt", ("Real text.",)),
        ("real.txt", ("Real text.",)),
    ]


def test_other_suffixes_are_listed_as_unsupported_and_hidden_files_ignored(tmp_path: Path) -> None:
    write(tmp_path, "kept.txt", "Kept.")
    write(tmp_path, "upper.TXT", "Upper-case suffix.")
    write(tmp_path, "notes.md", "Markdown.")
    write(tmp_path, "guide.markdown", "More markdown.")
    write(tmp_path, "report.pdf", b"%PDF-1.4\x00\x01")
    write(tmp_path, "data.csv", "a,b\n1,2\n")
    write(tmp_path, "README", "No suffix.")
    write(tmp_path, "kept.txt.bak", "Backup.")
    write(tmp_path, ".hidden.txt", "Hidden file.")
    write(tmp_path, ".git/inside.txt", "Hidden folder.")
    write(tmp_path, "sub/.secret/deep.md", "Hidden sub-folder.")
    documents, skipped = read_folder(tmp_path)
    assert sorted(d.id for d in documents) == ["guide.markdown", "kept.txt", "notes.md", "upper.TXT"]
    reasons = {s.name: s.reason for s in skipped}
    assert {n: r for n, r in reasons.items() if r == "unsupported type"} == {
        "README": "unsupported type", "data.csv": "unsupported type", "kept.txt.bak": "unsupported type"}
    assert reasons["report.pdf"].startswith("it cannot be read as a PDF")  # a damaged PDF, said so


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(DocumentsError, match="does not exist"):
        read_folder(tmp_path / "nope")


def test_a_folder_link_that_leads_nowhere_says_so(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    for link in ("loop", "dangling"):
        with pytest.raises(DocumentsError, match="is a link that leads nowhere"):
            read_folder(tmp_path / link)


def test_file_instead_of_folder_raises(tmp_path: Path) -> None:
    path = write(tmp_path, "file.txt", "Text.")
    with pytest.raises(DocumentsError, match="not a folder"):
        read_folder(path)


def test_empty_folder_gives_nothing(tmp_path: Path) -> None:
    assert read_folder(tmp_path) == ([], [])


# --- long paragraphs ----------------------------------------------------------------------------

LONG = (
    "The talks began early. Mr. Smith arrived from the U.S. with aides on Feb. 7 at noon. "
    "Nobody knew what would happen next! Would the deal hold? "
    "Officials said “it is fragile.” The ceasefire was signed in Washington, D.C., last month. "
    "Some observers were hopeful about the outcome. Others were not convinced at all."
)


def check_split(paragraph: str, parts: list[str], max_words: int) -> None:
    starts = {a for a, _ in split_sentences(paragraph)}
    assert " ".join(parts) == paragraph
    offset = 0
    for part in parts:
        position = paragraph.index(part, offset)
        assert position in starts  # every part starts at a sentence start
        end = position + len(part)
        assert end == len(paragraph) or paragraph[end] == " "
        if len(split_sentences(part)) > 1:
            assert len(part.split()) <= max_words
        offset = end


@pytest.mark.parametrize("max_words", [1, 5, 12, 20, 30])
def test_split_long_cuts_at_sentence_boundaries(max_words: int) -> None:
    parts = split_long(LONG, max_words)
    assert len(parts) > 1
    check_split(LONG, parts, max_words)


def test_split_long_keeps_a_short_paragraph_whole() -> None:
    assert split_long(LONG, len(LONG.split())) == [LONG]
    assert split_long("One two three.", 3) == ["One two three."]


def test_split_long_keeps_abbreviations_inside_parts() -> None:
    parts = split_long(LONG, 12)
    assert any("Mr. Smith arrived from the U.S. with aides on Feb. 7 at noon." in p for p in parts)
    assert any("Washington, D.C., last month." in p for p in parts)


def test_passages_of_splits_a_long_paragraph_into_numbered_parts() -> None:
    doc = Document("d.txt", "T", None, ("Short intro.", LONG, "Short end."), "hash")
    passages = list(passages_of(doc, max_words=15))
    assert passages[0].paragraph == 1 and passages[0].text == "Short intro."
    middle = [p for p in passages if p.paragraph == 2]
    assert len(middle) > 1
    assert [p.part for p in middle] == list(range(1, len(middle) + 1))
    check_split(LONG, [p.text for p in middle], 15)
    assert passages[-1].paragraph == 3 and passages[-1].part == 1
    assert [p.paragraph for p in passages] == sorted(p.paragraph for p in passages)


_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "river", "stone", "cloud"]
_sentence = st.builds(
    lambda words, end: " ".join(words).capitalize() + end,
    st.lists(st.sampled_from(_WORDS), min_size=1, max_size=12),
    st.sampled_from([".", "!", "?", ".”", "…"]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_sentence, min_size=1, max_size=12), st.integers(1, 40))
def test_split_long_property(sentence_list: list[str], max_words: int) -> None:
    paragraph = " ".join(sentence_list)
    assert sentences(paragraph) == sentence_list
    parts = split_long(paragraph, max_words)
    check_split(paragraph, parts, max_words)
    # Parts are runs of the generated sentences, in order.
    rebuilt: list[str] = []
    for part in parts:
        rebuilt.extend(sentences(part))
    assert rebuilt == sentence_list


# --- sentences ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The U.S. backed the deal. Israel agreed.",
            ["The U.S. backed the deal.", "Israel agreed."],
        ),
        (
            "He stays until Feb. 7 night. Then he flies home.",
            ["He stays until Feb. 7 night.", "Then he flies home."],
        ),
        (
            "Mr. Netanyahu met Dr. Jones. They talked.",
            ["Mr. Netanyahu met Dr. Jones.", "They talked."],
        ),
        (
            "Talks begin in Washington, D.C., on Monday. Both sides agree.",
            ["Talks begin in Washington, D.C., on Monday.", "Both sides agree."],
        ),
        (
            "He met J. Smith yesterday. It went well.",
            ["He met J. Smith yesterday.", "It went well."],
        ),
        (
            'He said "no." Then he left. \u201cYes.\u201d She agreed.',
            ['He said "no."', "Then he left.", "\u201cYes.\u201d", "She agreed."],
        ),
        (
            "Will the truce hold? Nobody knows! It is fragile.",
            ["Will the truce hold?", "Nobody knows!", "It is fragile."],
        ),
        ("Wait… Then what?! Nothing.", ["Wait…", "Then what?!", "Nothing."]),
        ("It ended (finally.) Peace came.", ["It ended (finally.)", "Peace came."]),
        ("Prices rose 2.5 percent. Markets fell.", ["Prices rose 2.5 percent.", "Markets fell."]),
        ("No full stop at the end", ["No full stop at the end"]),
        ("lower case. does not start a sentence.", ["lower case. does not start a sentence."]),
        ("  Leading and trailing space.   Next one.  ", ["Leading and trailing space.", "Next one."]),
        ("", []),
        ("   ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_sentence_spans_are_verbatim_and_ordered() -> None:
    for path in sorted(SEEDS.glob("*.txt")):
        doc = parse_document(path.name, path.read_bytes())
        for paragraph in doc.paragraphs:
            spans = split_sentences(paragraph)
            assert spans
            previous_end = 0
            for a, b in spans:
                piece = paragraph[a:b]
                assert previous_end <= a < b
                assert piece == piece.strip()
                assert paragraph[previous_end:a].strip() == ""
                previous_end = b
            assert previous_end == len(paragraph.rstrip())


def test_seed_sentences_with_abbreviations_stay_whole() -> None:
    path = next(SEEDS.glob("004_*.txt"))
    doc = parse_document(path.name, path.read_bytes())
    all_sentences = [s for p in doc.paragraphs for s in sentences(p)]
    assert "He was originally slated to head back to Israel on Feb. 6." in all_sentences
    assert any(s.startswith("Netanyahu will remain in Washington until Feb. 7 night") for s in all_sentences)
    assert any(s.startswith("U.S. President Donald Trump and Israeli Prime Minister") for s in all_sentences)


# --- the seeds ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds() -> list[Document]:
    documents, skipped = read_folder(SEEDS)
    assert skipped == []
    return documents


def test_seeds_are_five_documents(seeds: list[Document]) -> None:
    assert [d.id for d in seeds] == sorted(p.name for p in SEEDS.glob("*.txt"))
    assert len(seeds) == 5
    assert all(d.paragraphs and d.title for d in seeds)


def test_seed_dates(seeds: list[Document]) -> None:
    dates = {d.id[:3]: d.date for d in seeds}
    assert dates == {"000": "2025-01-29", "001": None, "002": None, "003": None, "004": "2025-02-04"}
    for doc in seeds:
        assert not doc.paragraphs[0].startswith("date")


def test_seed_titles(seeds: list[Document]) -> None:
    by_prefix = {d.id[:3]: d for d in seeds}
    assert by_prefix["004"].title == "Netanyahu seeks firm backing from US during key visit"
    assert by_prefix["004"].paragraphs[:2] == ("Netanyahu seeks firm backing from US during key visit", "WASHINGTON")
    assert by_prefix["000"].paragraphs[0].startswith("Israeli Prime Minister Benjamin Netanyahu has been invited")
    for doc in seeds:
        assert len(doc.title) <= TITLE_CHARS + 1
        if doc.title.endswith("…"):
            assert doc.paragraphs[0].startswith(doc.title[:-1])


def test_seed_paragraph_styles(seeds: list[Document]) -> None:
    by_prefix = {d.id[:3]: d for d in seeds}
    # 002 and 003 have one paragraph a line; 000, 001 and 004 separate blocks with blank lines.
    for prefix in ("002", "003"):
        path = SEEDS / by_prefix[prefix].id
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert len(by_prefix[prefix].paragraphs) == len(lines)
    path = SEEDS / by_prefix["001"].id
    blocks = [b for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    assert len(by_prefix["001"].paragraphs) == len(blocks) == 13


# --- known weaknesses, kept visible -------------------------------------------------------------


def test_size_limit_reason_names_a_real_limit(tmp_path: Path) -> None:
    write(tmp_path, "big.txt", "Big. " * 100)
    _, skipped = read_folder(tmp_path, max_bytes=200)
    assert "0 MiB" not in skipped[0].reason


def test_the_word_no_ends_a_sentence() -> None:
    assert sentences("The answer was no. He left the room.") == ["The answer was no.", "He left the room."]
