"""HTML parsing: the main content without navigation, headings as sections, lists, tables, notes, marks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.formats.html import parse_html
from retrieval.structure import CODE, LIST, NOTE, PROSE, ROW, Block, Parsed

PAGE = """<!DOCTYPE html>
<html><head><title>Rate Limits — Example Docs</title>
<meta name="description" content="How the  limits work.">
<meta property="article:published_time" content="2024-03-01T10:00:00Z">
<script>var tracking = "script text";</script><style>body { color: red }</style></head>
<body>
<header><a href="/">Example Docs</a><nav><a href="/guide">Guide</a></nav></header>
<div class="md-sidebar md-sidebar--primary"><ul><li>Sidebar entry</li></ul></div>
<main>
  <nav class="breadcrumbs">Home › Topics</nav>
  <h1 id="rate-limits">Rate Limits<a class="headerlink" href="#rate-limits">¶</a></h1>
  <p>Bots may send <strong>50</strong> requests per second; see <a href="/topics/gateway">the gateway</a>
     and the <code>X-RateLimit-Limit</code> header.</p>
  <section id="global-rate-limit">
    <h2>Global Rate Limit</h2>
    <p>All <em>routes</em> share it.</p>
    <h3><a id="invalid-requests"></a>Invalid Requests</h3>
    <p>This limit is 10,000 per 10 minutes.</p>
  </section>
  <h2>Headers (2023-11-05)</h2>
  <p>Every response carries them.</p>
  <aside class="toc">On this page: Headers</aside>
  <footer>Was this page helpful?</footer>
</main>
<footer>© Example Corp</footer>
</body></html>"""


def blocks_of(parsed: Parsed, kind: str | None = None) -> list[Block]:
    return [block for block in parsed.blocks if kind is None or block.kind == kind]


def texts(parsed: Parsed, kind: str | None = None) -> list[str]:
    return [block.text for block in blocks_of(parsed, kind)]


def marked(block: Block, kind: str) -> list[str]:
    return [block.text[mark.start : mark.end] for mark in block.marks if mark.kind == kind]


def test_only_the_main_content_is_read() -> None:
    parsed = parse_html(PAGE)
    assert texts(parsed) == [
        "Bots may send 50 requests per second; see the gateway and the X-RateLimit-Limit header.",
        "All routes share it.",
        "This limit is 10,000 per 10 minutes.",
        "Every response carries them.",
    ]
    assert all(block.kind == PROSE for block in parsed.blocks)


def test_title_description_and_date() -> None:
    parsed = parse_html(PAGE)
    assert parsed.title == "Rate Limits"
    assert parsed.description == "How the limits work."
    assert parsed.date == "2024-03-01"


def test_headings_are_section_paths_with_the_page_s_anchors() -> None:
    sections = [block.section for block in parse_html(PAGE).blocks]
    assert [s.path for s in sections] == [
        ("Rate Limits",),
        ("Rate Limits", "Global Rate Limit"),
        ("Rate Limits", "Global Rate Limit", "Invalid Requests"),
        ("Rate Limits", "Headers (2023-11-05)"),
    ]
    anchors = ["rate-limits", "global-rate-limit", "invalid-requests", "headers-2023-11-05"]
    assert [s.anchor for s in sections] == anchors
    assert [s.date for s in sections] == [None, None, None, "2023-11-05"]


def test_inline_formatting_becomes_marks() -> None:
    block = parse_html(PAGE).blocks[0]
    assert marked(block, "strong") == ["50"]
    assert marked(block, "code") == ["X-RateLimit-Limit"]
    assert [(block.text[m.start : m.end], m.href) for m in block.marks if m.kind == "link"] == [
        ("the gateway", "/topics/gateway")
    ]


def test_body_without_main_drops_boilerplate_and_titles_from_the_title_tag() -> None:
    parsed = parse_html(
        "<html><head><title>Plain page</title></head><body>"
        "<header>Site name</header><div id='menu'>Menu entry</div>"
        "<p>Real text.</p><h2>Part</h2><p>More text.</p><form>Search <input></form>"
        "<div class='footer'>Footer text</div></body></html>"
    )
    assert parsed.title == "Plain page"
    assert [(b.text, b.section.path) for b in parsed.blocks] == [
        ("Real text.", ("Plain page",)),
        ("More text.", ("Plain page", "Part")),
    ]


def test_lists_tables_code_and_loose_text() -> None:
    parsed = parse_html(
        "<main><h1>T</h1>"
        "<ul><li>First <em>item</em></li><li>Second<ul><li>nested</li></ul></li></ul>"
        "<ol><li><p>Step one.</p><p>Still one.</p></li><li>Step two</li></ol>"
        "<dl><dt>timeout</dt><dd>Seconds to wait.</dd></dl>"
        "<table><thead><tr><th>Field</th><th>Type</th><th>Description</th></tr></thead>"
        "<tbody><tr><td>title</td><td>string</td><td>max 45 characters</td></tr>"
        "<tr><td>custom_id</td><td colspan='2'><code>string</code></td></tr></tbody></table>"
        "<pre><code>print('hi')\n    print('indented')</code></pre>"
        "<div>Loose text <b>in a div</b><p>then a paragraph</p>and more loose text</div></main>"
    )
    assert [(b.kind, b.text) for b in parsed.blocks] == [
        (LIST, "First item\nSecond\nnested"),
        (LIST, "Step one. Still one.\nStep two"),
        (LIST, "timeout – Seconds to wait."),
        (ROW, "Field: title · Type: string · Description: max 45 characters"),
        (ROW, "Field: custom_id · Type: string"),
        (CODE, "print('hi')\n    print('indented')"),
        (PROSE, "Loose text in a div"),
        (PROSE, "then a paragraph"),
        (PROSE, "and more loose text"),
    ]
    assert marked(parsed.blocks[0], "em") == ["item"]
    assert marked(parsed.blocks[4], "code") == ["string"]


def test_images_read_as_their_alt_text_only_within_text() -> None:
    parsed = parse_html(
        "<ul><li><p>Open the bot tab.</p><img alt='Screenshot of the bot tab' src='x.png'></li></ul>"
        "<p>Press <img alt='the gear icon' src='gear.png'> to continue.</p>"
        "<p><img alt='A diagram' src='d.png'></p>"
    )
    assert texts(parsed) == ["Open the bot tab.", "Press the gear icon to continue."]


def test_a_table_without_header_cells_has_plain_rows() -> None:
    parsed = parse_html("<table><tr><td>a</td><td>1</td></tr><tr><td>b</td><td>2</td></tr></table>")
    assert texts(parsed, ROW) == ["a · 1", "b · 2"]


def test_admonitions_are_notes_with_their_label() -> None:
    parsed = parse_html(
        "<main><h1>T</h1>"
        "<div class='admonition warning'><p class='admonition-title'>Warning</p><p>Do not exceed it.</p></div>"
        "<aside class='admonition tip'><p>Cache the result.</p></aside>"
        "<blockquote><p><strong>Note</strong>: quoted note with <code>code</code>.</p></blockquote>"
        "<blockquote><p>A plain quotation.</p></blockquote>"
        "<div class='markdown-alert markdown-alert-important'><p class='markdown-alert-title'>Important</p>"
        "<p>Read this.</p><pre>code inside</pre></div></main>"
    )
    assert [(b.kind, b.text) for b in parsed.blocks] == [
        (NOTE, "Warning: Do not exceed it."),
        (NOTE, "Tip: Cache the result."),
        (NOTE, "Note: quoted note with code."),
        (PROSE, "A plain quotation."),
        (NOTE, "Important: Read this."),
        (CODE, "code inside"),
    ]
    assert marked(parsed.blocks[2], "code") == ["code"]


def test_sphinx_object_descriptions_are_sub_sections() -> None:
    parsed = parse_html(
        "<div role='main'><section id='event-reference'><h1>Event Reference</h1>"
        "<dl class='py function'><dt class='sig' id='discord.on_ready'>discord.on_ready()"
        "<a class='headerlink' href='#discord.on_ready'>¶</a></dt>"
        "<dd><p>Called when the client is ready.</p></dd></dl>"
        "<p>After the list.</p></section></div>"
    )
    assert [(b.text, b.section.path, b.section.anchor) for b in parsed.blocks] == [
        ("Called when the client is ready.", ("Event Reference", "discord.on_ready()"), "discord.on_ready"),
        ("After the list.", ("Event Reference",), "event-reference"),
    ]


def test_headings_without_ids_get_slugs_and_levels_nest() -> None:
    parsed = parse_html(
        "<h1>Guide</h1><h3>Deep: Part 1!</h3><p>a</p><h2>Next Part</h2><p>b</p><h4>Tiny</h4><p>c</p>"
    )
    assert [(b.section.path, b.section.anchor) for b in parsed.blocks] == [
        (("Guide", "Deep: Part 1!"), "deep-part-1"),
        (("Guide", "Next Part"), "next-part"),
        (("Guide", "Next Part", "Tiny"), "tiny"),
    ]


def test_malformed_and_deeply_nested_html_still_reads() -> None:
    assert texts(parse_html("<p>unclosed <b>bold <i>and italic")) == ["unclosed bold and italic"]
    assert texts(parse_html("<div>" * 3000 + "deep" + "</div>" * 3000)) == ["deep"]
    assert parse_html("") == Parsed(None, ())


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=30),
            st.sampled_from(["<p>", "</p>", "<h2>", "</h2>", "<ul><li>", "</li>", "<table><tr><td>", "<pre>"]),
            st.sampled_from(["<div class='admonition note'>", "<blockquote><b>Note</b>", "<dl><dt id=x>", "<dd>"]),
            st.sampled_from(["<", ">", "&amp;", "&#0;", "<!--", "-->", "<main>", "<nav>", "<h1 id=''>", "<br>"]),
        ),
        max_size=30,
    )
)
def test_random_text_never_raises(pieces: list[str]) -> None:
    parsed = parse_html("".join(pieces))
    for block in parsed.blocks:
        assert block.text and block.text == block.text.strip()
        assert all(0 <= m.start < m.end <= len(block.text) for m in block.marks)
