"""Reading Markdown and MDX pages as structured documents: front matter, sections and anchors,
blocks of each kind with readable text, inline marks, admonitions, MDX components, robustness."""

from __future__ import annotations

import logging
from textwrap import dedent

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.formats.markdown import parse_markdown
from retrieval.structure import CODE, LIST, NOTE, PROSE, ROW, Block, Parsed


def md(text: str, *, mdx: bool = False) -> Parsed:
    return parse_markdown(dedent(text).lstrip("\n"), mdx=mdx)


def texts(parsed: Parsed, kind: str | None = None) -> list[str]:
    return [b.text for b in parsed.blocks if kind is None or b.kind == kind]


def only(parsed: Parsed, kind: str) -> Block:
    blocks = [b for b in parsed.blocks if b.kind == kind]
    assert len(blocks) == 1, blocks
    return blocks[0]


def marked(block: Block) -> list[tuple[str, str, str]]:
    """Each mark as (kind, the words it covers, href)."""
    return [(m.kind, block.text[m.start : m.end], m.href) for m in block.marks]


def block_with(parsed: Parsed, words: str) -> Block:
    return next(b for b in parsed.blocks if words in b.text)


# Front matter and titles


def test_front_matter_gives_title_description_and_date_and_is_never_a_block() -> None:
    page = md("""
        ---
        title: Rate Limits
        description: How the API limits requests
        date: 2024-03-03
        tags: [api]
        ---

        Requests are limited per route.
        """)
    assert (page.title, page.description, page.date) == ("Rate Limits", "How the API limits requests", "2024-03-03")
    assert texts(page) == ["Requests are limited per route."]
    assert page.blocks[0].section.path == ("Rate Limits",)  # the title heads the path when no H1 does


@pytest.mark.parametrize(
    ("value", "iso"),
    [("2024-03-03T10:20:00Z", "2024-03-03"), ("'March 3, 2024'", "2024-03-03"), ("2024-03-03 10:20:00", "2024-03-03")],
)
def test_front_matter_dates_of_every_shape_become_iso(value: str, iso: str) -> None:
    assert md(f"---\ndate: {value}\n---\n\nText.\n").date == iso


def test_broken_front_matter_is_dropped_without_breaking_the_page() -> None:
    page = md("""
        ---
        title: [unclosed
        : : :
        ---

        # Real Title

        Body text.
        """)
    assert page.title == "Real Title"
    assert texts(page) == ["Body text."]


def test_title_falls_back_to_first_h1_then_none() -> None:
    assert md("## Not top\n\n# Top { #top }\n\nText.\n").title == "Top"
    assert md("## Only a section\n\nText.\n").title is None
    assert md("").title is None and md("").blocks == ()


# Headings, section paths, anchors, dates


def test_headings_are_never_blocks_and_build_section_paths() -> None:
    page = md("""
        # Guide

        Intro.

        ## Install

        Install it.

        ### On Linux

        Use apt.

        ## Use

        Call it.
        """)
    assert [(b.text, b.section.path) for b in page.blocks] == [
        ("Intro.", ("Guide",)),
        ("Install it.", ("Guide", "Install")),
        ("Use apt.", ("Guide", "Install", "On Linux")),
        ("Call it.", ("Guide", "Use")),
    ]


def test_explicit_anchor_is_honoured_and_removed_from_the_heading() -> None:
    page = md("""
        # Python Types Intro { #python-types-intro }

        One.

        ## Simple types {#simple}

        Two.
        """)
    assert page.title == "Python Types Intro"
    assert [(b.section.path[-1], b.section.anchor) for b in page.blocks] == [
        ("Python Types Intro", "python-types-intro"),
        ("Simple types", "simple"),
    ]


def test_anchors_are_the_slugs_mkdocs_makes() -> None:
    page = md("""
        # Déjà vu: the `async` way!

        a

        ## Setup

        b

        ## Setup

        c

        ## Other { #setup_2 }

        d

        ## Setup

        e
        """)
    # python-markdown toc: NFKD to ASCII, punctuation dropped, hyphens; explicit ids reserved first.
    assert [b.section.anchor for b in page.blocks] == [
        "deja-vu-the-async-way",
        "setup",
        "setup_1",
        "setup_2",
        "setup_3",
    ]


def test_mdx_anchors_are_the_slugs_github_slugger_makes() -> None:
    page = md("## Rate Limits & Bans\n\na\n\n## Rate Limits & Bans\n\nb\n", mdx=True)
    assert [b.section.anchor for b in page.blocks] == ["rate-limits--bans", "rate-limits--bans-1"]


def test_change_log_headings_date_their_sections_innermost_wins() -> None:
    page = md("""
        # Release Notes

        ## Latest Changes

        * Unreleased fix.

        ## 0.141.1 (2026-07-29)

        ### Fixes

        * Fixed a crash.

        ## March 3, 2024

        Old limit was 10.

        ### Patch of 4 March 2024

        Patched.
        """)
    dates = {b.text: (b.section.date, b.section.path[1:]) for b in page.blocks}
    assert dates == {
        "Unreleased fix.": (None, ("Latest Changes",)),
        "Fixed a crash.": ("2026-07-29", ("0.141.1 (2026-07-29)", "Fixes")),
        "Old limit was 10.": ("2024-03-03", ("March 3, 2024",)),
        "Patched.": ("2024-03-04", ("March 3, 2024", "Patch of 4 March 2024")),
    }


# Paragraphs and inline marks


def test_inline_markup_becomes_plain_text_with_marks_at_the_right_offsets() -> None:
    page = md(r"""
        Use `async def` with *care*, see **the guide** and [the docs](/docs/async.md#x "t"),
        ![a diagram](d.png) <abbr title="Asynchronous Server Gateway Interface">ASGI</abbr> \*not em\* 🚀<br>end
        """)
    block = only(page, PROSE)
    assert block.text == ("Use async def with care, see the guide and the docs, a diagram ASGI *not em* 🚀 end")
    assert marked(block) == [
        ("code", "async def", ""),
        ("em", "care", ""),
        ("strong", "the guide", ""),
        ("link", "the docs", "/docs/async.md#x"),
    ]


def test_nested_marks_and_whitespace_collapse() -> None:
    block = only(md("A  **bold [link `x`](https://a.example)**\n   across   lines.\n"), PROSE)
    assert block.text == "A bold link x across lines."
    assert marked(block) == [("strong", "bold link x", ""), ("link", "link x", "https://a.example"), ("code", "x", "")]


def test_inline_html_code_strong_and_links_become_marks_and_comments_and_scripts_vanish() -> None:
    block = only(
        md(
            "Set <code>name</code> <!-- hidden --> to <strong>REQUIRED</strong><script>x()</script>, see "
            '<a href="https://www.uvicorn.org" class="external-link" target="_blank">Uvicorn</a>.\n'
        ),
        PROSE,
    )
    assert block.text == "Set name to REQUIRED, see Uvicorn."
    assert marked(block) == [
        ("code", "name", ""),
        ("strong", "REQUIRED", ""),
        ("link", "Uvicorn", "https://www.uvicorn.org"),
    ]


# Lists, tables, code


def test_a_top_level_list_is_one_block_an_item_a_line_nested_items_too() -> None:
    page = md("""
        Steps:

        1. Install **it**.

           Then restart.
        2. Configure:
            * the `token`
            * the [prefix](/p)
        3. Run.

        After.
        """)
    block = only(page, LIST)
    assert block.text == "Install it. Then restart.\nConfigure:\nthe token\nthe prefix\nRun."
    assert marked(block) == [("strong", "it", ""), ("code", "token", ""), ("link", "prefix", "/p")]
    assert texts(page) == ["Steps:", block.text, "After."]


def test_task_lists_strikethrough_and_footnotes_read_as_text() -> None:
    page = md("""
        - [ ] todo
        - [x] done ~~old~~ new

        A claim[^1] here.

        [^1]: The footnote.
        """)
    assert texts(page) == ["todo\ndone old new", "A claim here.", "The footnote."]


def test_code_inside_a_list_stays_code_between_the_list_parts() -> None:
    page = md("""
        * Run:

          ```bash
          pip install x
          ```

        * Done.
        """)
    assert [(b.kind, b.text) for b in page.blocks] == [(LIST, "Run:"), (CODE, "pip install x"), (LIST, "Done.")]


def test_table_rows_carry_their_header_and_skip_empty_cells() -> None:
    page = md("""
        ## Modal

        | Field | Type | Description |
        |-------|------|-------------|
        | `title` | string | max **45** characters |
        | custom_id |  | [id](#ids) of the modal |
        """)
    rows = [b for b in page.blocks if b.kind == ROW]
    assert [r.text for r in rows] == [
        "Field: title · Type: string · Description: max 45 characters",
        "Field: custom_id · Description: id of the modal",
    ]
    assert marked(rows[0]) == [("code", "title", ""), ("strong", "45", "")]
    assert marked(rows[1]) == [("link", "id", "#ids")]
    assert all(r.section.path == ("Modal",) for r in rows) and len(page.blocks) == 2


def test_code_blocks_are_verbatim_without_marks() -> None:
    page = md("""
        ```python
        def f(x):

            return x  # **not bold**
        ```

            indented = "code"
        """)
    assert [(b.kind, b.text, b.marks) for b in page.blocks] == [
        (CODE, "def f(x):\n\n    return x  # **not bold**", ()),
        (CODE, 'indented = "code"', ()),
    ]


# Admonitions


def test_admonitions_of_every_dialect_are_notes_led_by_their_label() -> None:
    page = md("""
        !!! note "Careful now"
            MkDocs *titled*.

        !!! warning
            MkDocs untitled.

        /// tip | Inspired **FastAPI** to

        Pymdownx titled.

        Second paragraph.

        ///

        /// danger

        Pymdownx untitled.

        ///

        > [!IMPORTANT]
        > GitHub alert.

        > **Note**
        > Bold label on its own line.

        > **Warning**: bold label with a colon.

        **Tip**: a paragraph led by a label.

        > Just a quotation.

        > **Note** that a bold word starting a quotation is not a label.
        """)
    assert [(b.kind, b.text) for b in page.blocks] == [
        (NOTE, "Careful now: MkDocs titled."),
        (NOTE, "Warning: MkDocs untitled."),
        (NOTE, "Inspired FastAPI to: Pymdownx titled. Second paragraph."),
        (NOTE, "Danger: Pymdownx untitled."),
        (NOTE, "Important: GitHub alert."),
        (NOTE, "Note: Bold label on its own line."),
        (NOTE, "Warning: bold label with a colon."),
        (NOTE, "Tip: a paragraph led by a label."),
        (PROSE, "Just a quotation."),
        (PROSE, "Note that a bold word starting a quotation is not a label."),
    ]
    assert marked(page.blocks[0]) == [("em", "titled", "")]
    assert marked(page.blocks[2]) == [("strong", "FastAPI", "")]


def test_admonition_with_code_and_tabs_keep_ordinary_blocks() -> None:
    page = md("""
        //// tab | Python 3.10+

        /// note | Technical Details

        You could also use:

        ```python
        from x import y
        ```

        It works the same.

        ///

        Plain tab text.

        ////
        """)
    assert [(b.kind, b.text) for b in page.blocks] == [
        (NOTE, "Technical Details: You could also use:"),
        (CODE, "from x import y"),
        (NOTE, "Technical Details: It works the same."),
        (PROSE, "Plain tab text."),
    ]


# FastAPI and raw HTML


def test_fastapi_include_lines_are_dropped_even_inside_paragraphs() -> None:
    page = md("""
        Create a model:

        {* ../../docs_src/body/tutorial001_py310.py hl[5:9] *}

        Then use it:
        {* ../../docs_src/body/tutorial001_py310.py ln[1:3] *}
        """)
    assert texts(page) == ["Create a model:", "Then use it:"]


def test_mkdocs_macros_templating_is_dropped() -> None:
    page = md("""
        This is me:

        {% for user in people.maintainers %}

        <div class="user"><a href="{{ user.url }}">@{{ user.login }}</a> <div>Answers: {{ user.answers }}</div></div>

        {% endfor %}

        Version {{ config.version }} is out.
        """)
    assert texts(page) == ["This is me:", "@ Answers:", "Version is out."]


def test_raw_html_keeps_its_text_termy_code_and_details() -> None:
    page = md("""
        <!-- a comment that nobody sees -->

        <p align="center"><em>FastAPI framework</em>, high performance</p>

        <style>.x { color: red }</style>

        <div class="termy">

        ```console
        $ <font color="#4E9A06">fastapi</font> dev
        <span style="color:green">INFO</span> started
        ```

        </div>

        <details markdown="1">
        <summary>Or use <code>async def</code>...</summary>

        Inside the details.

        </details>
        """)
    assert [(b.kind, b.text) for b in page.blocks] == [
        (PROSE, "FastAPI framework, high performance"),
        (CODE, "$ fastapi dev\nINFO started"),
        (PROSE, "Or use async def..."),
        (PROSE, "Inside the details."),
    ]


# MDX


MDX_PAGE = """
    ---
    title: "Rate Limits"
    description: Limits
    ---
    import {ManualAnchor} from '/snippets/manualanchor.jsx'
    import {
      Card,
    } from '/snippets/card.jsx'

    export const meta = {
      section: 'api',
    }

    Rate limits keep {props.name} the API <Tooltip tip="x">healthy</Tooltip>.

    <ManualAnchor id="global-rate-limit" />
    ## Global Rate Limit

    <Card title="X">Some **text**</Card>

    <Warning>
      This limit is 10,000 per 10 minutes.
    </Warning>

    <Tabs>
      <Tab
        title="Python"
        icon={<Icon name="py" />}
      >
        ```python
        client.get("/x")
        ```

        - one
        - two
      </Tab>
    </Tabs>

    {/* an editor's comment */}

    <AccordionGroup>
      <Accordion title="What is the limit?">
        It is 50 per second.

        | Field | Type |
        |---|---|
        | title | string |
      </Accordion>
    </AccordionGroup>

        Four spaces are not code in MDX.
    """


def test_mdx_imports_exports_and_components_are_dropped_and_their_text_kept() -> None:
    page = md(MDX_PAGE, mdx=True)
    assert (page.title, page.description) == ("Rate Limits", "Limits")
    assert [(b.kind, b.text, b.section.path[1:]) for b in page.blocks] == [
        (PROSE, "Rate limits keep the API healthy.", ()),
        (PROSE, "Some text", ("Global Rate Limit",)),
        (NOTE, "Warning: This limit is 10,000 per 10 minutes.", ("Global Rate Limit",)),
        (CODE, 'client.get("/x")', ("Global Rate Limit", "Python")),
        (LIST, "one\ntwo", ("Global Rate Limit", "Python")),
        (PROSE, "It is 50 per second.", ("Global Rate Limit", "What is the limit?")),
        (ROW, "Field: title · Type: string", ("Global Rate Limit", "What is the limit?")),
        (PROSE, "Four spaces are not code in MDX.", ("Global Rate Limit",)),
    ]
    assert marked(page.blocks[1]) == [("strong", "text", "")]
    assert all(b.section.path[0] == "Rate Limits" for b in page.blocks)


def test_mdx_callouts_on_one_line_are_notes_and_other_one_line_components_prose() -> None:
    page = md(
        '<Note>Bots need the **intent**.</Note>\n\n<Info title="Heads up">Soon.</Info>\n\n<Badge>New</Badge> API.\n',
        mdx=True,
    )
    assert [(b.kind, b.text) for b in page.blocks] == [
        (NOTE, "Note: Bots need the intent."),
        (NOTE, "Heads up: Soon."),
        (PROSE, "New API."),
    ]
    assert marked(page.blocks[0]) == [("strong", "intent", "")]


def test_the_same_page_read_as_plain_markdown_keeps_no_mdx_handling() -> None:
    # Without mdx=True, JSX lines are raw HTML (text kept) and `import` lines are prose: the
    # caller picks the mode by file suffix, and the MDX rules do not leak into .md files.
    page = md("import x from 'y'\n\n    indented code\n")
    assert [(b.kind, b.text) for b in page.blocks] == [(PROSE, "import x from 'y'"), (CODE, "indented code")]


# Whole-page invariants and robustness


MARKUP = ("{*", "///", "|---", "](", "**", "!!!", "[!NOTE", "<div", "<!--", "title:", "import {")


MD_PAGE = """
    ---
    title: T
    ---
    # T { #t }

    /// note | N

    Text **b** [l](/l).

    ///

    | a | b |
    |---|---|
    | **x** | [y](/y) |

    {* ../x.py *}
    """


@pytest.mark.parametrize(("source", "mdx"), [(MD_PAGE, False), (MDX_PAGE, True)])
def test_no_block_is_empty_or_carries_markup(source: str, mdx: bool) -> None:
    page = md(source, mdx=mdx)
    assert page.blocks
    for block in page.blocks:
        assert block.text.strip() == block.text and block.text
        assert not any(m in block.text for m in MARKUP), block


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def read_strictly(source: str, mdx: bool) -> Parsed:
    """Parse, failing if the reader needed its catch-all fallback (that is, if walking raised)."""
    logger = logging.getLogger("retrieval.formats.markdown")
    caught = _Warnings()
    logger.addHandler(caught)
    try:
        page = parse_markdown(source, mdx=mdx)
    finally:
        logger.removeHandler(caught)
    assert not caught.records, caught.records[0].exc_info
    for block in page.blocks:
        assert block.text and block.text == block.text.strip()
        for m in block.marks:
            assert 0 <= m.start < m.end <= len(block.text)
    return page


@settings(max_examples=300, deadline=None)
@given(
    source=st.text(alphabet=st.sampled_from(list("ab #*_`[]()<>{}!|-:/\\\n>=\"'~1.")), max_size=300),
    mdx=st.booleans(),
)
def test_any_text_is_read_without_error(source: str, mdx: bool) -> None:
    read_strictly(source, mdx)


@settings(max_examples=100, deadline=None)
@given(source=st.text(max_size=200), mdx=st.booleans())
def test_any_unicode_is_read_without_error(source: str, mdx: bool) -> None:
    read_strictly(source, mdx)


@pytest.mark.parametrize(
    "source",
    [
        "---\ntitle: x\n",  # unclosed front matter
        "<" * 5000,
        "{" * 3000 + "}" * 10,
        "> " * 400 + "deep",
        "".join(f"{'  ' * i}- item {i}\n" for i in range(200)),
        "<Card title='never closed\n" * 300,
        "/// note\n" * 100,
        "| a |\n|---|\n" + "| x |\n" * 500,
    ],
)
@pytest.mark.parametrize("mdx", [False, True])
def test_pathological_inputs_are_read(source: str, mdx: bool) -> None:
    read_strictly(source, mdx)


def test_mkdocstrings_directives_are_not_text() -> None:
    parsed = parse_markdown("# Middleware\n\nRead more in the docs.\n\n::: fastapi.middleware.cors.CORSMiddleware\n")
    assert [b.text for b in parsed.blocks] == ["Read more in the docs."]
