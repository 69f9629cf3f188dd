"""The documentation benchmark's own scoring code: the naive paragraph baseline's splitter, the
threshold that matches bm25s's rejections to ours, and the tally of outcomes (tiny inline data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.docs import Outcome, naive_paragraphs, split_naive, tally, threshold_for, unread_files


def test_split_naive_cuts_at_blank_lines_only_and_keeps_markup() -> None:
    text = "Title\r\n=====\r\n\r\nSee :meth:`Bot.check`\nfor **more**.\n \t\n\n\n.. note::\n\n   Indented.\n"
    assert split_naive(text) == ["Title\n=====", "See :meth:`Bot.check`\nfor **more**.", ".. note::", "Indented."]
    assert split_naive("\n \n\t\n") == []


def test_naive_paragraphs_read_every_md_and_rst_file_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.md").write_text("# B\n\nBee.", encoding="utf-8")
    (tmp_path / "sub" / "a.rst").write_text("A\n-\n\nAy.", encoding="utf-8")
    (tmp_path / "UP.MD").write_text("Upper.", encoding="utf-8")
    (tmp_path / "c.txt").write_text("Sea.", encoding="utf-8")
    (tmp_path / "LICENSE").write_text("MIT", encoding="utf-8")
    assert naive_paragraphs(tmp_path) == [("UP.MD", "Upper."), ("b.md", "# B"), ("b.md", "Bee."),
                                          ("sub/a.rst", "A\n-"), ("sub/a.rst", "Ay.")]
    assert unread_files(tmp_path, ["b.md", "c.txt"]) == {".md": 1, ".rst": 1, "without extension": 1}


def test_threshold_rejects_as_many_as_asked_and_more_only_on_ties() -> None:
    scores = [4.0, 1.0, 3.0, 2.0]
    for rejects in range(5):
        t = threshold_for(scores, rejects)
        assert sum(s < t for s in scores) == rejects
    assert threshold_for([1.0, 2.0, 2.0, 3.0], 2) == 2.5  # the tie at 2.0 cannot be split: 3 rejected
    assert threshold_for([], 3) == float("-inf")


def test_tally_counts_each_outcome_once_under_the_given_rule() -> None:
    questions: list[dict[str, Any]] = [{"expect": ["x"]}] * 4 + [{"expect": []}] * 2
    outcomes = [Outcome(True, 1, score=5.0), Outcome(True, 3, score=1.0), Outcome(True, None, score=9.0),
                Outcome(False, None), Outcome(False, None, score=0.5), Outcome(True, None, score=6.0)]
    assert tally(questions, outcomes) == {
        "answerable": 4, "right first": 1, "in the top three": 2, "false not found": 1,
        "unanswerable": 2, "unanswerable rejected": 1}
    by_score = tally(questions, outcomes, lambda o: (o.score or 0.0) >= 2.0)
    assert (by_score["right first"], by_score["in the top three"], by_score["false not found"]) == (1, 1, 2)
    assert by_score["unanswerable rejected"] == 1
