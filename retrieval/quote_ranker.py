"""Which quote answers: a linear scorer over features of each candidate span, fitted on data (not by hand)
and saved with the code as retrieval/data/quote_ranker.json.

The candidates of a question are every sentence of its candidate passages and every pair of adjacent
sentences within a passage. Each is described by array work over what the answer path already has (the
sentence table's rows and spans, which question terms a row and its headings hold, the idf masses, the
passages' scores, ranks and kinds); only the answer-kind features read text, and only for the rows they
could lift to the top of their passage. A span's score is

    z = Σ wᵢ (xᵢ − μᵢ) / σᵢ

and the quote of a passage is its best span, passages ranked by it. The weights are a conditional logit
(a softmax over each question's spans, the right ones' probability maximised) fitted by
`python -m bench.fit_ranker --save` on SQuAD and the documentation sets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import span_loop
from .question import DATE, DEFINITION, NUMBER, SPEECH, VERSION
from .sentence_flags import DEFAULT, FOLLOWS, POINTER
from .sentence_match import Candidates, Mass

MODEL = Path(__file__).resolve().parent / "data" / "quote_ranker.json"

# Every feature, in the model's order; each a column of the matrix `features` makes.
FEATURES = (
    "own",  # the span's own share of the question's idf mass
    "heading",  # the share only the headings above it hold
    "terms",  # share of the question's words (counted, not weighed) the span or its headings hold
    "passage",  # the share its whole passage (every sentence and the headings) holds
    "score",  # the passage's retrieval score over the best passage's
    "rank",  # ln(1 + the passage's rank), 0 for the best
    "pair",  # 1 for two adjacent sentences
    "gain",  # a pair's share beyond the larger of its sentences' own shares (0 for a sentence)
    "lead",  # 1 when the span opens its passage
    "position",  # where the span starts in its passage, 0 (first sentence) to 1 (last)
    "length",  # ln(characters of the span / 100)
    "best",  # 1 when no sentence of its passage holds more of the question's mass
    "change_log",  # 1 for a change-log entry (a dated section, or a change-log file)
    "holds_value",  # the question asks for a number, date or version, and the span holds a new one
    "holds_definition",  # it asks what something is, and the span defines a word of it
    "holds_speech",  # it asks what someone said, and the span reports speech
    "holds_name",  # it asks for a place, person or thing, and the span names one the question does not
    "phrases",  # share of the question's phrases (adjacent terms) it holds adjacent (retrieval/proximity.py)
    "pointer",  # 1 when a sentence of the span sends the reader elsewhere ("read more at…"; sentence_flags.POINTER)
    "states_default",  # the question asks for a default, and a sentence of the span states one (by default, …)
    "continued",  # 1 for a pair whose second sentence leans on its first ("… Consider using X instead."; FOLLOWS)
)
_HOLDS = {NUMBER: "holds_value", DATE: "holds_value", VERSION: "holds_value", DEFINITION: "holds_definition",
          SPEECH: "holds_speech"}


def holds_feature(kind: str) -> str:
    """The feature that says a span holds an answer of this kind."""
    return _HOLDS.get(kind, "holds_name")


@dataclass(frozen=True, slots=True)
class Readers:
    """The features read from the spans' text, for some spans only (each takes span numbers)."""

    holds: Callable[[np.ndarray], np.ndarray]  # whether each holds the kind of answer asked for
    phrases: Callable[[np.ndarray], np.ndarray]  # each one's share of the question's phrases
    phrase_bound: Callable[[], np.ndarray]  # every span's highest possible share (from the terms it holds)


@dataclass(frozen=True, slots=True)
class Spans:
    """The candidate spans: each one's passage (its position among the hits) and first and last row."""

    owner: np.ndarray
    first: np.ndarray
    last: np.ndarray

    @classmethod
    def of(cls, found: Candidates) -> Spans:
        """Every row alone, then every row with the next row of its passage."""
        rows = np.arange(len(found.owner))
        joined = np.flatnonzero(found.owner[:-1] == found.owner[1:])
        return cls(np.concatenate([found.owner, found.owner[joined]]), np.concatenate([rows, joined]),
                   np.concatenate([rows, joined + 1]))

    def __len__(self) -> int:
        return len(self.owner)


@dataclass(frozen=True, slots=True)
class Question:
    """What the features need of the question and its passages (all arrays, one entry a hit or a column)."""

    mass: Mass  # the weights that make a presence row's mass
    total: float  # the question's whole mass
    required: np.ndarray  # the columns of the words coverage is judged on
    scores: np.ndarray  # each hit's retrieval score
    change_log: np.ndarray  # each hit: whether it is a change-log entry
    asks_default: bool = False  # it asks what holds when nothing is set (question.asks_default)


# The columns the compiled loop fills (retrieval/span_loop.py), in its order, then how many there are; and the ones
# it leaves to numpy.
_LOOP_COLUMNS = np.array([*(FEATURES.index(name) for name in ("own", "heading", "terms", "passage", "score", "pair",
                                                              "gain", "lead", "position", "best", "change_log")),
                          len(FEATURES)])
_RANK, _LENGTH = FEATURES.index("rank"), FEATURES.index("length")
_POINTER, _DEFAULT = FEATURES.index("pointer"), FEATURES.index("states_default")
_CONTINUED = FEATURES.index("continued")


def spans_and_features(found: Candidates, question: Question) -> tuple[Spans, np.ndarray]:
    """The candidate spans (`Spans.of`) and their `features`: in one compiled loop when the candidates came from
    one (a large index), else by array work."""
    if found.arrays is not None:
        top = question.scores[0] if question.scores.size and question.scores[0] > 0 else 1.0
        made = span_loop.span_features(*found.arrays, len(found.bounds) - 1,
                                       *question.mass.packed(question.required.tolist()), question.scores,
                                       question.change_log, question.total or 1.0, float(top), _LOOP_COLUMNS)
        if made is not None:
            ints, x = made
            n = len(x)
            spans = Spans(ints[:n], ints[n : 2 * n], ints[2 * n : 3 * n])
            x[:, _RANK] = np.log1p(spans.owner)  # numpy's logarithms, as `features` takes them
            x[:, _LENGTH] = np.log(ints[3 * n :] / 100)
            _flag_columns(found, spans, question, x)
            return spans, x
    spans = Spans.of(found)
    return spans, features(found, spans, question)


def features(found: Candidates, spans: Spans, question: Question) -> np.ndarray:
    """Spans by FEATURES; the answer-kind columns are left 0 (see `Ranker.scores`)."""
    k, a, b = spans.owner, spans.first, spans.last
    held = found.held[a] | found.held[b]
    heading = found.heading[a]
    n_passages = len(found.bounds) - 1
    passages = found.found_by[:n_passages] if n_passages else held[:0]
    masses = question.mass(np.concatenate([held, heading & ~held, passages, found.held]))
    n = len(spans)
    own, head = masses[:n], masses[n : 2 * n]
    passage, single = masses[2 * n : 2 * n + n_passages], masses[2 * n + n_passages :]
    best_single = np.full(n_passages, -np.inf)
    if found.owner.size:  # a passage's rows are consecutive: one segment each (the maximum, in any order)
        best_single[slice(None) if found.filled is None else found.filled] = np.maximum.reduceat(single, found.firsts)
    either = held | heading
    bounds = np.asarray(found.bounds)
    size = bounds[k + 1] - bounds[k]
    starts, ends = np.asarray(found.starts), np.asarray(found.ends)
    top = question.scores[0] if question.scores.size and question.scores[0] > 0 else 1.0
    x = np.zeros((n, len(FEATURES)))
    total = question.total or 1.0
    column = {name: j for j, name in enumerate(FEATURES)}
    x[:, column["own"]] = own / total
    x[:, column["heading"]] = head / total
    x[:, column["terms"]] = either[:, question.required].mean(axis=1) if question.required.size else 0.0
    x[:, column["passage"]] = passage[k] / total
    x[:, column["score"]] = question.scores[k] / top
    x[:, column["rank"]] = np.log1p(k)
    x[:, column["pair"]] = b > a
    x[:, column["gain"]] = (own - np.maximum(single[a], single[b])) / total
    x[:, column["lead"]] = a == bounds[k]
    x[:, column["position"]] = (a - bounds[k]) / np.maximum(size - 1, 1)
    x[:, column["length"]] = np.log(np.maximum(ends[b] - starts[a], 1) / 100)
    x[:, column["best"]] = np.maximum(single[a], single[b]) >= best_single[k]
    x[:, column["change_log"]] = question.change_log[k]
    _flag_columns(found, spans, question, x)
    return x


def _flag_columns(found: Candidates, spans: Spans, question: Question, x: np.ndarray) -> None:
    """Set the columns read from the sentences' flags (the sentence table's, made at build)."""
    flags = found.flags[spans.first] | found.flags[spans.last]
    x[:, _POINTER] = (flags & POINTER) != 0
    if question.asks_default:
        x[:, _DEFAULT] = (flags & DEFAULT) != 0
    x[:, _CONTINUED] = (spans.last > spans.first) & ((found.flags[spans.last] & FOLLOWS) != 0)


@dataclass(frozen=True, slots=True)
class Ranker:
    """Standardised linear scorer: z = Σ wᵢ (xᵢ − μᵢ) / σᵢ (the constant is left out: it ranks nothing)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]

    def weights(self) -> np.ndarray:
        """The weight of each raw feature."""
        return np.asarray(self.coef) / np.asarray(self.scale)

    def scores(self, x: np.ndarray, owner: np.ndarray, kind: str | None, read: Readers,
               compiled: bool = False) -> np.ndarray:
        """Each span's score; the columns read from text are read only where they can matter, and set in x.
        When the question asks for a kind of answer, `read.holds` is asked only of the spans it could move
        to the top of their passage or off it (only a passage's best span is quoted). The phrases' share is
        read only for the spans that could be quoted first by it (the others keep 0, exact for those that
        cannot hold a phrase). A span that holds no question word answers nothing: -inf. `compiled`: the spans
        the answer kind could move found by a compiled loop (retrieval/span_loop.py) when numba is there."""
        w = self.weights()
        z = x @ w
        if not z.size:
            return z
        if kind is not None:
            self._read_holds(x, z, w, owner, FEATURES.index(holds_feature(kind)), read.holds, compiled)
        z[x[:, _OWN] + x[:, _HEADING] <= 0] = -np.inf
        j = _PHRASES
        bound = read.phrase_bound() * w[j]
        floor = (z + np.minimum(bound, 0.0)).max()  # the first quote scores at least this
        may = np.flatnonzero((bound != 0) & (z + np.maximum(bound, 0.0) >= floor))
        x[:, j] = 0.0
        if may.size and floor > -np.inf:
            x[may, j] = read.phrases(may)
            z[may] += w[j] * x[may, j]
        return z

    @staticmethod
    def _read_holds(x: np.ndarray, z: np.ndarray, w: np.ndarray, owner: np.ndarray, j: int,
                    holds: Callable[[np.ndarray], np.ndarray], compiled: bool = False) -> None:
        """Read the answer-kind column j for the spans it could move within their passage; add it to z."""
        n_passages = int(owner.max()) + 1
        may = span_loop.may_move(z, owner, n_passages, min(w[j], 0.0), max(w[j], 0.0)) if compiled else None
        if may is None:
            low, high = z + min(w[j], 0.0), z + max(w[j], 0.0)
            floor = np.full(n_passages, -np.inf)
            np.maximum.at(floor, owner, low)
            may = np.flatnonzero(high >= floor[owner])
        if may.size and w[j] != 0:
            got = holds(may)
            x[may, j] = got
            z[may] += w[j] * got

    def to_json(self, notes: dict[str, object]) -> str:
        """The model as JSON, features named, with notes on how it was fitted."""
        return json.dumps({"features": list(FEATURES), "mean": self.mean, "scale": self.scale, "coef": self.coef,
                           "notes": notes}, indent=1)


_PHRASES, _OWN, _HEADING = FEATURES.index("phrases"), FEATURES.index("own"), FEATURES.index("heading")


def best_of_each(z: np.ndarray, owner: np.ndarray, compiled: bool = False) -> np.ndarray:
    """Each passage's best span by `z` (the first of equals), best passage first; a passage whose spans all score
    -inf left out. `compiled`: in a compiled loop (retrieval/span_loop.py) when numba is there."""
    if compiled and (best := span_loop.best_of_each(z, owner, int(owner.max()) + 1)) is not None:
        return best
    order = np.argsort(-z, kind="stable")
    _, at = np.unique(owner[order], return_index=True)
    best = order[np.sort(at)]  # each passage's best span (the first of equals), best passage first
    return best[np.isfinite(z[best])]


@lru_cache(maxsize=4)
def load(path: Path = MODEL) -> Ranker:
    """The saved model; its features must be the ones this code computes."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{path} was fitted on features {data['features']}, not {list(FEATURES)}")
    return Ranker(tuple(data["mean"]), tuple(data["scale"]), tuple(data["coef"]))
