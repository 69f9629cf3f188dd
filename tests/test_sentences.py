"""Sentence splitting where abbreviations and quote marks make it hard (retrieval/text.py): a title
abbreviation before a name goes on, a name that ends in one ("Hun Sen.") ends its sentence, a quote mark
standing alone after a full stop closes the sentence, numbers after "No." or "c." stay with them."""

from __future__ import annotations

import pytest

from retrieval.text import split_sentences


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
