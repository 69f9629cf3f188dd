"""The issue-11 benchmarks' own data and code: the paraphrase set is well formed and its answers are in
its corpora; the calibration's operating point and rates; the typist's-slip misspeller."""

from __future__ import annotations

import numpy as np
import pytest

from bench.answer_speed import misspelt
from bench.calibrate import Row, operating_point, rates
from bench.docs import DOCS, load_check
from bench.paraphrase import folder_of, load_paraphrases


def test_the_paraphrase_set_has_forty_questions_or_more_over_the_seeds_and_both_docs_sets() -> None:
    rows = load_paraphrases()
    assert len(rows) >= 40
    assert len({r["id"] for r in rows}) == len(rows)
    assert {r["corpus"] for r in rows} == {"seeds", "discordpy", "fastapi"}
    assert all(r["question"].strip() and r["expect"] and all(e.strip() for e in r["expect"]) for r in rows)


@pytest.mark.skipif(not (DOCS / "check.py").is_file(), reason="the docs evaluation set is not here")
def test_every_expected_answer_is_in_its_corpus() -> None:
    check = load_check()
    views: dict[str, list[str]] = {}
    for row in load_paraphrases():
        if row["corpus"] not in views:
            files = sorted(p for p in folder_of(row["corpus"]).rglob("*") if p.suffix in (".txt", ".md", ".rst"))
            views[row["corpus"]] = [v for p in files for v in check.file_views(p)]
        for expect in row["expect"]:
            assert any(check.normalize(expect) in v for v in views[row["corpus"]]), (row["id"], expect)


def rows(answerable: list[bool]) -> list[Row]:
    return [Row("squad", (0.0,), a, a) for a in answerable]


def test_the_operating_point_answers_at_most_the_target_share_of_unanswerable_questions() -> None:
    data = rows([False] * 10 + [True] * 4)
    p = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.99, 0.85, 0.65, 0.05])
    for target, answered in ((0.0, 0), (0.1, 1), (0.25, 2), (0.5, 5)):
        t = operating_point(p, data, target)
        assert sum(p[i] >= t for i in range(10)) == answered
    r = rates(p, data, operating_point(p, data, 0.2), lambda row: True)
    assert r["answered (unanswerable)"] == 0.2 and r["answered (answerable)"] == 0.5


def test_misspelt_swaps_the_third_and_fourth_letters_of_the_two_longest_words() -> None:
    assert misspelt("Which university did Scott Lucas attend?") == "Which unviersity did Scott Lucas atetnd?"
    assert misspelt("Who is he?") == "Who is he?"
