"""Whether to answer: a small logistic model over the evidence an answer has, fitted on data (not by hand)
and saved with the code as retrieval/data/not_found.json.

The model is fitted by `python -m bench.calibrate --save` on SQuAD with half of its articles indexed (a
question is answerable when its article is) plus the questions of the documentation sets, and its
threshold is the operating point chosen on that curve: at most 10 % of unanswerable questions answered.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from functools import lru_cache
from operator import attrgetter
from pathlib import Path

MODEL = Path(__file__).resolve().parent / "data" / "not_found.json"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What an answer has going for it; every field is a feature of the not-found model."""

    coverage: float  # share of the question's weight the best passage holds (related forms count part)
    best_coverage: float  # the largest such share among the three best passages
    quote_coverage: float  # the share the first quote's sentences (and their headings) hold
    missing: float  # idf of the rarest question term the best passage lacks, over the index's largest idf
    score: float  # the best passage's score over the highest score the question could get
    margin: float  # how far the best passage is ahead of the second, as a share of its score
    unknown: float  # share of the question's weight in words no passage holds
    typed_held: float  # 1 when the question asks for a kind of answer and the first quote holds one
    typed_lacked: float  # 1 when it asks for a kind and the first quote lacks one
    terms: float  # ln(1 + number of question terms that count for coverage)
    context: float  # 1 for a follow-up read with the previous turn
    absent: float  # ln(1 + number of the question's own terms the best passage lacks, related forms included)
    quote_share: float  # the first quote's probability among the passages' best quotes (retrieval/quote_ranker.py)
    # The share of the question's weight the best passage lacks, each word weighed also by its rarity in English
    # (lexicon.rarity): lacking the chat words docs seldom write ("keeps", "whole") matters less than "smtp".
    subject_absent: float
    # No feature for typos: a question with a corrected word is judged as the question spelt right.

    def vector(self) -> tuple[float, ...]:
        """The features in the model's order."""
        return _features(self)


FEATURES = tuple(f.name for f in fields(Evidence))
_features = attrgetter(*FEATURES)  # astuple's deep copy of every float cost more than the model itself


@dataclass(frozen=True, slots=True)
class Model:
    """Standardised logistic regression: p = σ(b + Σ wᵢ (xᵢ − μᵢ) / σᵢ); answer when p ≥ threshold."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    prior: float = 0.5  # the share of answerable questions in the data it was fitted on

    def confidence(self, evidence: Evidence, prior: float | None = None) -> float:
        """The probability that the question is answerable from the index, given the evidence; with
        `prior`, for questions answerable that often before any evidence (the odds shifted by Bayes' rule)."""
        z = self.intercept + sum(w * (x - m) / s for w, x, m, s in
                                 zip(self.coef, evidence.vector(), self.mean, self.scale, strict=True))
        if prior is not None:
            z += _logit(prior) - _logit(self.prior)
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def to_json(self, notes: dict[str, object]) -> str:
        """The model as JSON, features named, with notes on how it was fitted."""
        return json.dumps({"features": list(FEATURES), "mean": self.mean, "scale": self.scale, "coef": self.coef,
                           "intercept": self.intercept, "threshold": self.threshold, "prior": self.prior,
                           "notes": notes}, indent=1)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


@lru_cache(maxsize=4)
def load(path: Path = MODEL) -> Model:
    """The saved model; its features must be the ones this code computes."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{path} was fitted on features {data['features']}, not {list(FEATURES)}")
    return Model(tuple(data["mean"]), tuple(data["scale"]), tuple(data["coef"]), float(data["intercept"]),
                 float(data["threshold"]), float(data.get("prior", 0.5)))
