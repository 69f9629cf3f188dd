"""Sentence splitting where abbreviations and quote marks make it hard (retrieval/text.py): a title
abbreviation before a name goes on, a name that ends in one ("Hun Sen.") ends its sentence, a quote mark
standing alone after a full stop closes the sentence, numbers after "No." or "c." stay with them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.splitter_reference import split_sentences as reference
from retrieval.documents import read_folder
from retrieval.text import split_sentences

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The opposition criticised strongman Hun Sen. Hun Sen complained on Monday that talks had stalled.",
         ["The opposition criticised strongman Hun Sen.", "Hun Sen complained on Monday that talks had stalled."]),
        ("Aid was promised by Hun Sen. The king agreed.", ["Aid was promised by Hun Sen.", "The king agreed."]),
        ("Sen. John McCain spoke. Gov. Ann Richards replied.",
         ["Sen. John McCain spoke.", "Gov. Ann Richards replied."]),
        ("Texas Gov. George W. Bush spoke. Republican Sen. Bob Dole left.",
         ["Texas Gov. George W. Bush spoke.", "Republican Sen. Bob Dole left."]),
        ("He flew to Salt Lake City. \" Salt Lake is lovely, he said.",
         ["He flew to Salt Lake City. \"", "Salt Lake is lovely, he said."]),
        ("He paused. ``We will rebuild,'' he added.", ["He paused.", "``We will rebuild,'' he added."]),
        ("She works for Acme Inc. The firm makes brakes.", ["She works for Acme Inc.", "The firm makes brakes."]),
        ("Acme Inc. makes brakes. Acme Inc. CEO Jo Lee agreed.",
         ["Acme Inc. makes brakes.", "Acme Inc. CEO Jo Lee agreed."]),
        ("Pilot Richard F. Gordon, Jr. Conrad and Bean flew on.",
         ["Pilot Richard F. Gordon, Jr.", "Conrad and Bean flew on."]),
        ("He moved to the U.S. The move was hard.", ["He moved to the U.S.", "The move was hard."]),
        ("It reached No. 1 in the UK and No. 2 in Australia.", ["It reached No. 1 in the UK and No. 2 in Australia."]),
        ("Jacques Lefevre (c. 1455–1536) wrote it. See Vol. 2 of it.",
         ["Jacques Lefevre (c. 1455–1536) wrote it.", "See Vol. 2 of it."]),
        ("The answer was no. 40 people left.", ["The answer was no.", "40 people left."]),
        ("The message read \"1... 2... 3...\" that night.", ["The message read \"1... 2... 3...\" that night."]),
        ("They met St. Louis officials. It rained.", ["They met St. Louis officials.", "It rained."]),
        ("It now has an on_presence_update() event. on_member_update() is only called on member updates.",
         ["It now has an on_presence_update() event.", "on_member_update() is only called on member updates."]),
        ("Bring tools, e.g. a hammer. Use approx. 4 kg of sand.",
         ["Bring tools, e.g. a hammer.", "Use approx. 4 kg of sand."]),
        ("Dr. Who is here. He waves.", ["Dr. Who is here.", "He waves."]),
    ],
)
def test_hard_sentence_ends(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_a_line_break_still_ends_a_sentence() -> None:
    assert sentences("Sen.\nHun Sen spoke") == ["Sen.", "Hun Sen spoke"]


# Pieces that meet every rule of the splitter: abbreviations, suffixes, initials, counts, quotes, brackets,
# code names, odd spaces, and words longer than the window the last word is looked for in; single characters
# often, so that dotted letters ("U.S.A."), quote runs and brackets before initials come up.
_PIECES = [
    *"aBxUSJcp.....\"\"((  ", "'", "“", "‘", "…", "!", "?", ")", "”", "\t", "\u00a0", "\n", "1", "40",
    "Dr", "dr", "Mr", "No", "no", "nos", "Vol", "Inc", "Co", "Ltd", "Jr", "Sen", "Hun", "e.g", "The", "It",
    "the", "city", "Paris", "approx", "Smithsonian", "2.0", "on_ready()", "x" * 40, "À", "ß", "''", "``",
]
# What a random draw rarely makes: each case once meets a rule at the edge of a short cut of the fast splitter.
_EDGES = [
    "x U.S.A.B. Next one.", '"""""Dr. Smith spoke.', "Text (x. Smith said.", "a" + '"' * 40 + "Dr. Smith left.",
    "x" * 40 + " U.S. The end.", "Go to (p. 4) now. Then (q. Smith came.", "Count 1... 2... 3... Go.",
    "He ran.. Then he fell!. Then? No. 5 came.", "Abcdefg. Hij. K. Lm. Nop. Q.R. Stuvwx.",
]


@pytest.mark.parametrize("text", _EDGES)
def test_the_splitter_equals_its_rules_at_the_edges_of_its_short_cuts(text: str) -> None:
    assert split_sentences(text) == reference(text)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.text(max_size=30))
def test_the_splitter_equals_its_rules_written_the_direct_way(pieces: list[str], noise: str) -> None:
    text = "".join(pieces)
    assert split_sentences(text) == reference(text)
    assert split_sentences(noise + text) == reference(noise + text)


def test_the_splitter_equals_its_rules_on_the_seeds() -> None:
    documents, _ = read_folder(SEEDS)
    texts = [p for d in documents for p in d.paragraphs]
    assert sum(len(split_sentences(t)) for t in texts) > 100
    assert [split_sentences(t) for t in texts] == [reference(t) for t in texts]
