"""reStructuredText (Sphinx) parsing: roles as Sphinx shows them, directives, fields, tables, sections."""

from __future__ import annotations

import textwrap

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.formats.rst import parse_rst
from retrieval.structure import CODE, LIST, NOTE, PROSE, ROW, Block, Parsed


def rst(source: str) -> Parsed:
    return parse_rst(textwrap.dedent(source))


def texts(parsed: Parsed, kind: str | None = None) -> list[str]:
    return [block.text for block in parsed.blocks if kind is None or block.kind == kind]


def block_with(parsed: Parsed, words: str) -> Block:
    found = [block for block in parsed.blocks if words in block.text]
    assert found, f"no block holds {words!r}: {texts(parsed)}"
    return found[0]


def marked(block: Block, kind: str) -> list[str]:
    return [block.text[mark.start : mark.end] for mark in block.marks if mark.kind == kind]


# ---------------------------------------------------------------- roles


def test_roles_read_as_sphinx_shows_them() -> None:
    parsed = rst("""
        Use :meth:`~ext.commands.Bot.check` on :class:`discord.Intents` and :attr:`~Intents.members`,
        or :func:`discord.utils.get`, :meth:`Client.close() <discord.Client.close>` and :exc:`.Forbidden`.
        """)
    assert texts(parsed) == [
        "Use check() on discord.Intents and members, or discord.utils.get(), Client.close() and Forbidden."
    ]
    assert marked(parsed.blocks[0], "code") == [
        "check()", "discord.Intents", "members", "discord.utils.get()", "Client.close()", "Forbidden",
    ]  # fmt: skip


def test_cross_references_and_unknown_roles_read_as_their_title() -> None:
    parsed = rst("""
        See :ref:`the intents page <intents_primer>`, :doc:`intro`, :term:`coroutine`,
        :ddocs:`the docs <topics/gateway>` and :issue:`10418`; also :py:meth:`Client.run` and :kbd:`Ctrl-C`.
        """)
    block = parsed.blocks[0]
    assert block.text == (
        "See the intents page, intro, coroutine, the docs and 10418; also Client.run() and Ctrl-C."
    )
    assert marked(block, "code") == ["Client.run()", "Ctrl-C"]


def test_inline_markup_becomes_marks_and_links_keep_their_target() -> None:
    block = rst("Read *this*, **that**, ``code`` and `the guide <https://example.org/guide>`_.").blocks[0]
    assert block.text == "Read this, that, code and the guide."
    assert marked(block, "em") == ["this"]
    assert marked(block, "strong") == ["that"]
    assert marked(block, "code") == ["code"]
    links = [(block.text[m.start : m.end], m.href) for m in block.marks if m.kind == "link"]
    assert links == [("the guide", "https://example.org/guide")]


def test_named_link_targets_resolve_to_their_url() -> None:
    block = rst("""
        Install `aiohttp`_ first.

        .. _aiohttp: https://docs.aiohttp.org/
        """).blocks[0]
    assert [(m.kind, m.href) for m in block.marks] == [("link", "https://docs.aiohttp.org/")]


def test_substitutions_defined_or_not_never_break_the_text() -> None:
    parsed = rst("""
        .. |commands| replace:: the *commands* extension

        A |coroutine_link|_ is a function. Read about |commands| here.
        """)
    assert texts(parsed) == ["A coroutine_link is a function. Read about the commands extension here."]
    assert marked(parsed.blocks[0], "em") == ["commands"]


# ---------------------------------------------------------------- directives


def test_version_directives_are_notes_labelled_as_sphinx_labels_them() -> None:
    parsed = rst("""
        Intro.

        .. versionadded:: 2.0

        .. versionchanged:: 2.1
            Now takes :class:`Member`.

        .. deprecated:: 1.7 Use :meth:`close` instead.
        """)
    assert texts(parsed, NOTE) == [
        "New in version 2.0.",
        "Changed in version 2.1: Now takes Member.",
        "Deprecated since version 1.7: Use close() instead.",
    ]


def test_admonitions_are_notes_with_their_label() -> None:
    parsed = rst("""
        .. warning::

            This function is **not** guaranteed to be called once.

            It may be called again.

        .. note:: Short note.

        .. seealso:: :func:`on_ready`

        .. admonition:: Custom title

            Body.
        """)
    assert texts(parsed, NOTE) == [
        "Warning: This function is not guaranteed to be called once. It may be called again.",
        "Note: Short note.",
        "See also: on_ready()",
        "Custom title: Body.",
    ]
    assert all(block.kind == NOTE for block in parsed.blocks)


def test_code_inside_a_note_stays_a_code_block_after_it() -> None:
    parsed = rst("""
        .. tip::

            Do this:

            .. code-block:: python3

                await bot.close()
        """)
    assert [(b.kind, b.text) for b in parsed.blocks] == [(NOTE, "Tip: Do this:"), (CODE, "await bot.close()")]


def test_object_descriptions_are_sub_sections_with_sphinx_anchors() -> None:
    parsed = rst("""
        .. currentmodule:: discord

        API Reference
        =============

        .. function:: on_ready()

            Called when the client is ready.

            :param shard_id: The shard ID that is ready.
            :type shard_id: :class:`int`

        .. function:: on_guild_channel_delete(channel)
                      on_guild_channel_create(channel)

            Called whenever a guild channel is deleted or created.

        .. class:: ButtonStyle

            Represents the style of the button component.

            .. attribute:: danger

                Represents a red button for a dangerous action.

            .. describe:: x == y

                Checks if two styles are equal.
        """)
    ready = block_with(parsed, "client is ready")
    assert ready.section.path == ("API Reference", "on_ready()")
    assert ready.section.anchor == "discord.on_ready"
    assert block_with(parsed, "shard_id").text == "shard_id (int) – The shard ID that is ready."
    assert block_with(parsed, "shard_id").kind == LIST
    channel = block_with(parsed, "deleted or created")
    assert channel.section.path[-1] == "on_guild_channel_delete(channel), on_guild_channel_create(channel)"
    danger = block_with(parsed, "red button")
    assert danger.section.path == ("API Reference", "ButtonStyle", "danger")
    assert danger.section.anchor == "discord.ButtonStyle.danger"
    equal = block_with(parsed, "two styles are equal")
    assert equal.section.path == ("API Reference", "ButtonStyle", "x == y")
    assert equal.section.anchor == "discord.ButtonStyle"
    assert block_with(parsed, "style of the button").section.anchor == "discord.ButtonStyle"


def test_info_fields_read_as_sphinx_lays_them_out() -> None:
    parsed = rst("""
        .. method:: fetch(limit)

            :param int limit: How many to fetch.
            :param before: Fetch messages before this one.
            :type before: :class:`Message`
            :raises Forbidden: You lack the permission.
            :returns: The messages.
            :rtype: List[:class:`Message`]
        """)
    assert texts(parsed, LIST) == [
        "limit (int) – How many to fetch.\n"
        "before (Message) – Fetch messages before this one.\n"
        "Forbidden – You lack the permission.\n"
        "Returns – The messages.\n"
        "Return type – List[Message]"
    ]


def test_generated_and_navigation_directives_leave_no_text() -> None:
    parsed = rst("""
        Page
        ====

        .. toctree::
            :maxdepth: 2

            intro
            quickstart

        .. autoclass:: discord.Client
            :members:

        .. attributetable:: discord.Client

        .. literalinclude:: ../examples/basic.py

        .. image:: /images/logo.png
            :alt: logo

        .. exception_hierarchy::

            - :exc:`DiscordException`

        Text.
        """)
    assert [(b.kind, b.text) for b in parsed.blocks] == [(LIST, "DiscordException"), (PROSE, "Text.")]


def test_unknown_directives_keep_their_content() -> None:
    parsed = rst("""
        .. tab:: Windows
            :sync: win

            Run ``py -3 -m pip install discord.py``.

            .. warning:: Needs Python 3.8.

        .. empty-widget::
        """)
    assert [(b.kind, b.text) for b in parsed.blocks] == [
        (PROSE, "Run py -3 -m pip install discord.py."),
        (NOTE, "Warning: Needs Python 3.8."),
    ]


def test_literal_blocks_and_code_blocks_are_code() -> None:
    parsed = rst("""
        Write this::

            client = discord.Client()
            client.run(token)

        .. code-block:: python3

            print("hi")
        """)
    assert [(b.kind, b.text) for b in parsed.blocks] == [
        (PROSE, "Write this:"),
        (CODE, "client = discord.Client()\nclient.run(token)"),
        (CODE, 'print("hi")'),
    ]


# ---------------------------------------------------------------- lists and tables


def test_lists_are_one_item_a_line_nested_items_included() -> None:
    parsed = rst("""
        - Add support for :class:`ui.Modal`
            - :class:`Checkbox` corresponds to :class:`ui.Checkbox`
        - Fix a bug

          across two paragraphs.

        1. first
        2. second

        term
            its definition
        other : classifier
            - a
            - b
        """)
    assert texts(parsed, LIST) == [
        "Add support for ui.Modal\nCheckbox corresponds to ui.Checkbox\nFix a bug across two paragraphs.",
        "first\nsecond",
        "term – its definition\nother (classifier)\na\nb",
    ]
    first = parsed.blocks[0]
    assert marked(first, "code") == ["ui.Modal", "Checkbox", "ui.Checkbox"]


def test_tables_are_rows_carrying_their_header() -> None:
    parsed = rst("""
        +------------+------------------+
        | Field      | Description      |
        +============+==================+
        | ``title``  | max 45 characters|
        +------------+------------------+
        | ``label``  | max 80           |
        +------------+------------------+

        =====  =====
        Limit  Value
        =====  =====
        rate   50/s
        =====  =====

        .. list-table::
            :header-rows: 1

            * - Name
              - Default
            * - timeout
              - 180

        .. csv-table::
            :header: "Permission", "Value"

            "Kick Members", "0x2"
        """)
    assert texts(parsed, ROW) == [
        "Field: title · Description: max 45 characters",
        "Field: label · Description: max 80",
        "Limit: rate · Value: 50/s",
        "Name: timeout · Default: 180",
        "Permission: Kick Members · Value: 0x2",
    ]
    assert marked(parsed.blocks[0], "code") == ["title"]


def test_an_unmarked_header_row_of_short_labels_is_taken_as_the_header() -> None:
    parsed = rst("""
        +-------------------+---------------------------+
        |      Before       |           After           |
        +-------------------+---------------------------+
        | ``Client.logout`` | :meth:`Client.close`      |
        +-------------------+---------------------------+

        +-------+-------+
        | red   | #f00  |
        +-------+-------+
        | green | #0f0  |
        +-------+-------+
        """)
    assert texts(parsed, ROW) == ["Before: Client.logout · After: Client.close()", "red · #f00", "green · #0f0"]


# ---------------------------------------------------------------- sections


def test_sections_make_paths_anchors_and_the_title() -> None:
    parsed = rst("""
        .. _whats_new:

        Changelog
        =========

        Intro text.

        .. _vp2p5p0:

        v2.5.0 (2025-02-28)
        -------------------

        Bug Fixes
        ~~~~~~~~~

        - Fix the upload limit to match new Discord limit of 10 MiB.

        v2.4.0
        ------

        Bug Fixes
        ~~~~~~~~~

        - Older fix.
        """)
    assert parsed.title == "Changelog"
    intro, new, old = parsed.blocks
    assert intro.section.path == ("Changelog",) and intro.section.anchor == "whats-new"
    assert new.section.path == ("Changelog", "v2.5.0 (2025-02-28)", "Bug Fixes")
    assert new.section.anchor == "bug-fixes" and new.section.date == "2025-02-28"
    assert old.section.path == ("Changelog", "v2.4.0", "Bug Fixes")
    assert old.section.anchor == "id1" and old.section.date is None  # Sphinx's id for a repeated title


def test_a_label_before_a_section_is_its_anchor() -> None:
    parsed = rst("""
        Page
        ====

        .. _intents_primer:

        A Primer to Gateway Intents
        ---------------------------

        Text.

        Plain Heading
        -------------

        More.
        """)
    assert [b.section.anchor for b in parsed.blocks] == ["intents-primer", "plain-heading"]


def test_a_label_before_something_else_is_not_a_later_section_s_anchor() -> None:
    parsed = rst("""
        Page
        ====

        .. _discord_client:

        .. autoclass:: discord.Client

        Later Section
        -------------

        Text.
        """)
    assert [b.section.anchor for b in parsed.blocks] == ["later-section"]


def test_leading_field_list_is_metadata() -> None:
    parsed = rst("""
        :date: 2024-05-01
        :description: How to start.

        Quickstart
        ==========

        Hello.
        """)
    assert (parsed.title, parsed.date, parsed.description) == ("Quickstart", "2024-05-01", "How to start.")
    assert texts(parsed) == ["Hello."]


def test_no_sections_means_no_title() -> None:
    parsed = rst("Just a paragraph.")
    assert parsed.title is None
    assert parsed.blocks == (Block(PROSE, "Just a paragraph."),)


# ---------------------------------------------------------------- malformed input


def test_malformed_markup_still_reads() -> None:
    parsed = rst("""
        Title
        ====

        Unclosed ``literal and :meth:`broken and *star.

          Bad indentation
        here.

        .. function::

        .. raw:: html

            <b>raw</b>

        .. include:: /etc/passwd

        .. csv-table::
            :url: http://example.org/x.csv
        """)
    assert parsed.title == "Title"
    assert "Unclosed ``literal and :meth:`broken and *star." in texts(parsed)
    assert not any("raw" in text or "root" in text for text in texts(parsed))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(["\n", "\n\n", "::", "..", " ", "   ", "`", "``", "*", "|", "_", ":", "-", "=", "+--+"]),
            st.sampled_from([".. note::", ".. function:: f()", ":meth:`x`", ".. _l:", "|s|_", "=====", "- a"]),
        ),
        max_size=30,
    )
)
def test_random_text_never_raises(pieces: list[str]) -> None:
    parsed = parse_rst("".join(pieces))
    for block in parsed.blocks:
        assert block.text and block.text == block.text.strip()
        assert all(0 <= m.start < m.end <= len(block.text) for m in block.marks)
