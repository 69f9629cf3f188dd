"""Structured documents after parsing: passages keep kind, section, marks and page through the index,
the saved file and the store; headings find their passages; no passage is unbounded; links resolve."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from retrieval import persist
from retrieval.answer import answer
from retrieval.errors import ConfigError
from retrieval.index import Index
from retrieval.links import absolute, check_template, page_url, with_links
from retrieval.model import Document, Passage
from retrieval.passages import MAX_CHARS, PassageTable, all_passages, passages_of
from retrieval.reindex import build
from retrieval.store import SCHEMA_VERSION, Store
from retrieval.structure import CODE, LIST, NOTE, PROSE, ROW, Block, Mark, Section
from retrieval.summary import summarize_document

LIMITS = Section(("Rate Limits", "Invalid Request Limit"), "invalid-request-limit")
GLOBAL = Section(("Rate Limits", "Global Rate Limit"), "global-rate-limit", "2024-03-01")


def docs_page() -> Document:
    """A documentation page as a parser hands it over: blocks under headings, a table, code, a list."""
    blocks = (
        Block(PROSE, "Bots are limited in how often they may call the API.", Section(("Rate Limits",), "rate-limits")),
        Block(PROSE, "This limit is 10,000 per 10 minutes for each address.", LIMITS,
              (Mark(5, 10, "em"), Mark(14, 20, "code"))),
        Block(ROW, "Field: title · Type: string · Description: max 45 characters", GLOBAL),
        Block(CODE, "client.run(token)\nawait bot.start()", GLOBAL),
        Block(LIST, "Use one client per process.\nNever share a token.", GLOBAL,
              (Mark(28, 48, "link", "../security.md#tokens"),)),
        Block(NOTE, "Warning: global limits apply to every route.", GLOBAL),
    )
    return Document("api/rate-limits.md", "Rate Limits", None, tuple(b.text for b in blocks), "h1", blocks)


def test_passages_keep_kind_section_marks_and_number_blocks() -> None:
    passages = list(passages_of(docs_page()))
    assert [p.kind for p in passages] == [PROSE, PROSE, ROW, CODE, LIST, NOTE]
    assert [p.paragraph for p in passages] == [1, 2, 3, 4, 5, 6]  # blocks only: no heading, no front matter
    assert passages[1].section == LIMITS and passages[2].section.date == "2024-03-01"
    for p in passages:
        for m in p.marks:
            assert 0 <= m.start < m.end <= len(p.text)
    assert [passages[1].text[m.start:m.end] for m in passages[1].marks] == ["limit", "10,000"]


def test_a_long_block_is_split_with_its_marks_clipped_to_each_part() -> None:
    sentence = "The gateway sends events to the bot in order. "
    text = (sentence * 60).strip()
    marked = [Mark(i * len(sentence) + 4, i * len(sentence) + 11, "code") for i in range(60)]
    doc = Document("a.md", "A", None, (text,), "h", (Block(PROSE, text, LIMITS, tuple(marked)),))
    parts = list(passages_of(doc, max_words=100))
    assert len(parts) > 1 and all(p.section == LIMITS for p in parts)
    assert sum(len(p.marks) for p in parts) == 60
    assert all(p.text[m.start:m.end] == "gateway" for p in parts for m in p.marks)


def test_no_passage_is_unbounded_whatever_the_file() -> None:
    line = "word " * 250_000  # a 1.2 MB line with no sentence end
    blob = "x" * 50_000  # and a run with no space at all
    doc = Document("hostile.txt", "H", None, (line.strip(), blob), "h")
    passages = list(passages_of(doc))
    assert max(len(p.text) for p in passages) <= MAX_CHARS
    assert "".join(p.text for p in passages if p.paragraph == 2) == blob
    assert sum(len(p.text.split()) for p in passages if p.paragraph == 1) == 250_000


def test_a_paragraph_is_found_by_its_sections_words_and_a_heading_is_never_quoted() -> None:
    # A sentence elsewhere holds a question word itself; the paragraph holds the others through its heading
    # (the fitted quote ranker weighs a heading's word at about 0.6 of the sentence's own).
    other = Document("other.txt", "Other", None, ("Invalid input is logged by the proxy.",
                                                  "Ten minutes is a long time to wait for a reply."), "h2")
    index = build([docs_page(), other])
    result = answer(index, "What is the invalid request limit?")
    assert result.answered
    first = result.quotes[0]
    assert first.text == "This limit is 10,000 per 10 minutes for each address."
    assert first.section == LIMITS.path and first.anchor == "invalid-request-limit"
    assert all(q.text not in ("Rate Limits", "Invalid Request Limit") for q in result.quotes)


def test_code_is_not_the_answer_unless_code_is_asked_for() -> None:
    index = build([docs_page()])
    plain = answer(index, "client run token start")
    assert all(q.kind != CODE for q in plain.quotes)
    asked = answer(index, "show me an example of client run token start code")
    assert asked.answered and asked.quotes[0].kind == CODE


def test_a_changed_section_date_is_the_quotes_date() -> None:
    index = build([docs_page()])
    result = answer(index, "Do global limits apply to every route?")
    assert result.quotes[0].date == "2024-03-01"


def test_table_round_trips_every_new_column(tmp_path: Path) -> None:
    passages = all_passages([docs_page()]) + [Passage("b.pdf", 1, "Page two text.", page=2)]
    table = PassageTable.of(passages)
    assert list(table) == passages
    again = PassageTable.from_columns(table.columns())
    assert list(again) == passages and again.fits({"api/rate-limits.md", "b.pdf"})


def test_saved_index_keeps_structure(tmp_path: Path) -> None:
    doc = docs_page()
    built = Index.build([doc], all_passages([doc]))
    path = tmp_path / "index.npz"
    persist.save(built, path, persist.fingerprint([doc]))
    loaded = persist.load(path, [doc], persist.fingerprint([doc]), built.weighting)
    assert list(loaded.passages) == list(built.passages)


async def test_store_round_trips_structure(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "qa.sqlite3")
    try:
        doc = docs_page()
        passages = all_passages([doc])
        await store.replace_documents([doc], passages, [], [])
        assert await store.passages() == passages
    finally:
        await store.close()


async def test_a_schema_1_database_is_migrated_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)  # the tables exactly as release 1 made them
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE documents (id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, content_hash TEXT NOT NULL,
                                text TEXT NOT NULL);
        CREATE TABLE passages (doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL, paragraph INTEGER NOT NULL, part INTEGER NOT NULL, text TEXT NOT NULL,
            PRIMARY KEY (doc_id, ordinal));
        INSERT INTO meta VALUES ('schema_version', '1');
        INSERT INTO documents VALUES ('a.txt', 'A', NULL, 'hash', 'Old text.');
        INSERT INTO passages VALUES ('a.txt', 1, 1, 1, 'Old text.');
    """)
    db.commit()
    db.close()
    store = await Store.open(path)
    try:
        assert await store.passages() == [Passage("a.txt", 1, "Old text.")]
        assert await store.get_meta("schema_version") == str(SCHEMA_VERSION)
        await store.replace_documents([docs_page()], all_passages([docs_page()]), [], [])
        assert len(await store.passages()) == 7
    finally:
        await store.close()


def test_summaries_hold_prose_only() -> None:
    doc = docs_page()
    summary = summarize_document(build([doc]), doc.id, sentences=10)
    texts = {s.text for s in summary.sentences}
    assert texts and not texts & {"client.run(token)\nawait bot.start()",
                                  "Field: title · Type: string · Description: max 45 characters"}


TEMPLATE = "https://docs.example.org/{path_without_suffix}/#{anchor}"


def test_links_follow_the_template_and_relative_paths() -> None:
    assert page_url(TEMPLATE, "api/rate-limits.md", "global-rate-limit") == (
        "https://docs.example.org/api/rate-limits/#global-rate-limit")
    assert page_url(TEMPLATE, "api/rate-limits.md") == "https://docs.example.org/api/rate-limits/"
    assert absolute("../security.md#tokens", "api/rate-limits.md", TEMPLATE) == (
        "https://docs.example.org/security/#tokens")
    assert absolute("https://discord.com/x", "a.md", None) == "https://discord.com/x"
    assert absolute("/relative/nowhere", "a.md", None) is None
    assert absolute("../../outside.md", "a.md", TEMPLATE) is None


def test_quotes_get_their_url_and_absolute_links() -> None:
    index = build([docs_page()])
    quote = next(q for q in answer(index, "Never share a token").quotes if q.kind == LIST)
    linked = with_links(quote, TEMPLATE)
    assert linked.url == "https://docs.example.org/api/rate-limits/#global-rate-limit"
    assert [m.href for m in linked.marks] == ["https://docs.example.org/security/#tokens"]
    assert with_links(quote, None).marks == ()  # a relative link that goes nowhere is not offered


@pytest.mark.parametrize("bad", ["docs.example.org/{path}", "https://x.org/{nope}", "https://x.org/static"])
def test_a_bad_source_url_template_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="QA_SOURCE_URL"):
        check_template(bad)


class CountingAnalyser:
    """The index's analyser, counting the characters it is given."""

    def __init__(self, inner: object) -> None:
        self.inner, self.chars = inner, 0

    def __call__(self, text: str) -> list[str]:
        self.chars += len(text)
        return self.inner(text)  # type: ignore[operator]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_answering_again_reanalyses_no_passage() -> None:
    hostile = "word " * 200_000 + "limit"  # one huge line with no sentence end
    index = build([docs_page(), Document("h.txt", "H", None, (hostile,), "h")])
    counting = CountingAnalyser(index.analyser)
    index.analyser = counting  # type: ignore[assignment]
    answer(index, "What is the invalid request limit?")
    first = counting.chars
    answer(index, "What is the invalid request limit?")
    assert counting.chars - first < 100  # the question only: every passage's terms were kept
    assert first < 50_000  # and the first time, bounded passages, not the whole 1 MB line


def test_many_files_are_parsed_in_worker_processes_with_the_same_result(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from retrieval import documents as reading

    for i in range(10):
        (tmp_path / f"page{i}.md").write_text(f"# Page {i}\n\n## Limits\n\nThe limit is {i} per minute.\n\n"
                                              "| Field | Type |\n| --- | --- |\n| title | string |\n")
    (tmp_path / "notes.rst").write_text("Notes\n=====\n\nUse :meth:`~discord.Client.run` to start.\n")
    monkeypatch.setattr(reading, "PARALLEL_BYTES", 1)
    parallel = reading.read_folder(tmp_path)
    monkeypatch.setattr(reading, "PARALLEL_BYTES", 10**12)
    assert parallel == reading.read_folder(tmp_path)
    by_id = {d.id: d for d in parallel[0]}
    assert len(by_id) == 11 and by_id["page3.md"].blocks[1].text == "Field: title · Type: string"
    assert by_id["notes.rst"].blocks[0].text == "Use run() to start."


def test_a_parser_failure_skips_the_file_not_the_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    from retrieval import documents as reading

    def broken(raw: bytes) -> object:
        raise IndexError("a parser bug")

    monkeypatch.setitem(reading.READERS, ".md", broken)
    assert reading.parse_or_skip(("bad.md", b"# x")) == reading.Skipped("bad.md", "it could not be parsed (IndexError)")
