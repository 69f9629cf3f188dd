"""Concept coverage (retrieval/summary_select.py) against brute force: on small random problems the integer
programme finds the best covering there is, the greedy one stays within its proven bound, and every
answer keeps the budgets, the pairs that must not meet and the sentences that need another."""

from __future__ import annotations

import math
from itertools import combinations
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.documents import read_folder
from retrieval.index import Index
from retrieval.passages import all_passages
from retrieval.summary_pool import bigram_keys, bigram_width, word_ids
from retrieval.summary_select import Problem, concept_rows, fill, solve_exact, solve_greedy


@st.composite
def problems(draw: st.DrawFn, links: bool = True) -> tuple[Problem, int | None, int | None]:
    """A small covering problem and its budgets in words and sentences."""
    n = draw(st.integers(2, 8))
    m = draw(st.integers(1, 7))
    cover = np.asarray(draw(st.lists(st.lists(st.booleans(), min_size=m, max_size=m), min_size=n, max_size=n)))
    weights = np.asarray(draw(st.lists(st.integers(1, 6), min_size=m, max_size=m)), np.float64)
    words = np.asarray(draw(st.lists(st.integers(3, 14), min_size=n, max_size=n)), np.int64)
    before = [-1] * n
    conflicts: list[tuple[int, int]] = []
    support = np.zeros(n, bool)
    if links:
        for i in range(n):
            before[i] = draw(st.sampled_from([-1, -1, -2] + ([i - 1] if i else [])))
        pairs = list(combinations(range(n), 2))
        conflicts = draw(st.lists(st.sampled_from(pairs), max_size=3, unique=True))
        support = np.asarray([draw(st.booleans()) and (i + 1 < n and before[i + 1] == i) for i in range(n)])
    problem = Problem(sp.csr_matrix(cover.astype(np.float32)), weights, words, before,
                      np.asarray(conflicts, np.int64).reshape(-1, 2), np.asarray(draw(st.lists(
                          st.floats(0, 1), min_size=n, max_size=n))), np.ones(n, bool), support)
    budget = draw(st.one_of(st.none(), st.integers(3, 40)))
    count = draw(st.one_of(st.none(), st.integers(1, 4))) if budget is not None else draw(st.integers(1, 4))
    return problem, budget, count


def feasible(problem: Problem, rows: list[int], words: int | None, sentences: int | None) -> bool:
    """Whether `rows` keep every rule of the problem."""
    chosen = set(rows)
    return ((words is None or int(problem.words[rows].sum()) <= words)
            and (sentences is None or len(rows) <= sentences)
            and not any(a in chosen and b in chosen for a, b in problem.conflicts.tolist())
            and all(problem.before[r] != -2 and (problem.before[r] == -1 or problem.before[r] in chosen) for r in rows)
            and all(not problem.support[r] or any(problem.before[j] == r for j in chosen) for r in rows))


def value(problem: Problem, rows: list[int]) -> float:
    """Weight of the concepts that `rows` cover."""
    covered = np.asarray(problem.concepts[rows].sum(axis=0)).ravel() > 0 if rows else np.zeros(len(problem.weights))
    return float(problem.weights[covered.astype(bool)].sum())


def best(problem: Problem, words: int | None, sentences: int | None) -> float:
    """The best covering, by trying every set of rows."""
    n = problem.concepts.shape[0]
    return max(value(problem, list(rows)) for k in range(n + 1) for rows in combinations(range(n), k)
               if feasible(problem, list(rows), words, sentences))


@settings(max_examples=150, deadline=None)
@given(problems())
def test_the_integer_programme_finds_the_best_covering(case: tuple[Problem, int | None, int | None]) -> None:
    problem, words, sentences = case
    found = solve_exact(problem, words, sentences)
    assert found is not None and feasible(problem, found, words, sentences)
    assert value(problem, found) == best(problem, words, sentences)


@settings(max_examples=150, deadline=None)
@given(problems())
def test_greedy_and_fill_keep_every_rule(case: tuple[Problem, int | None, int | None]) -> None:
    problem, words, sentences = case
    found = solve_greedy(problem, words, sentences)
    assert feasible(problem, found, words, sentences)
    filled = fill(problem, found, words, sentences)
    assert set(found) <= set(filled) and feasible(problem, filled, words, sentences)


@settings(max_examples=150, deadline=None)
@given(problems(links=False))
def test_greedy_stays_within_its_bound(case: tuple[Problem, int | None, int | None]) -> None:
    """½(1 − 1/e) of the best for a budget of words (Khuller, Moss & Naor), 1 − 1/e for sentences alone."""
    problem, words, sentences = case
    bound = (1 - 1 / math.e) * (0.5 if words is not None else 1.0)
    assert value(problem, solve_greedy(problem, words, sentences)) >= bound * best(problem, words, sentences) - 1e-9


def test_a_concept_weighs_the_number_of_documents_that_hold_it() -> None:
    keys = [np.asarray([7, 8]), np.asarray([7, 7]), np.asarray([7, 9]), np.asarray([8])]
    units = np.asarray([0, 0, 1, 2])  # rows 0 and 1 are one document
    matrix, weights, found = concept_rows(keys, units, min_df=2)
    assert found.tolist() == [7, 8] and weights.tolist() == [2.0, 2.0]  # 9 is in one document only
    assert matrix.toarray().tolist() == [[1, 1], [1, 0], [1, 0], [0, 1]]  # a repeat counts once


def test_concepts_are_word_bigrams_but_never_two_stop_words(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("The river of the city flooded the valley.", encoding="utf-8")
    documents, _ = read_folder(tmp_path)
    index = Index.build(documents, all_passages(documents))
    text = "The river of the city flooded the valley."
    width, vocabulary = bigram_width(index), len(index.vocabulary)
    keys = bigram_keys(word_ids(index, text), vocabulary, width)
    words = {i: t for t, i in index.vocabulary.items()}

    def name(i: int) -> str:
        return words.get(i, "·")  # a stop word

    pairs = [(name(int(k) // width), name(int(k) % width)) for k in keys]
    assert pairs == [("·", "river"), ("river", "·"), ("·", "citi"), ("citi", "flood"), ("flood", "·"),
                     ("·", "valley")]  # "of the" is no concept
