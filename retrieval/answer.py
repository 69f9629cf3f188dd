"""Questions to answers: retrieve passages, pick the sentences that answer, or say not found.

A question is read first (retrieval/question.py: the kind of answer it wants and the words that only
name that kind; whether it leans on the previous turn), its words checked against the index (typos
corrected, retrieval/lexicon.py) and joined by their derivationally related forms at less weight. The
best sentences of the best passages compete; whether to answer at all is decided by a fitted model over
the evidence (retrieval/calibration.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from itertools import compress

import numpy as np

from . import calibration, quote_ranker
from .calibration import Evidence
from .errors import QuestionError
from .index import Index
from .lexicon import Correction, choose, expand, joined, known, neighbours, rarity, suspects
from .model import Answer, Hit, Passage, Quote
from .passages import PassageTable
from .proximity import pairs, phrase_share
from .question import (
    ANAPHORA,
    DATE,
    ENTITY,
    HEAD_KIND,
    NUMBER,
    PERSON,
    PLACE,
    SPEECH,
    AnswerType,
    answer_type,
    asks_default,
    holds,
    is_elliptical,
)
from .quote_ranker import Question, Readers, Spans, spans_and_features
from .sentence_match import Candidates, Mass, candidates
from .structure import CODE, KINDS, Section
from .text import tokenize

MAX_QUESTION_CHARS = 1000


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    """Knobs of answering, measured on SQuAD and the documentation sets (README, "Answer quality")."""

    candidates: int = 20  # passages whose sentences compete
    max_quotes: int = 3
    min_confidence: float | None = None  # None: the fitted model's operating point; 0 answers everything
    context_weight: float = 0.5  # weight of the previous turn's words in a follow-up
    # Whether the quote ranker reads the answer-kind features (off: an ablation).
    answer_kinds: bool = True
    # A further quote must be at least this share as likely as the first, by the quote ranker
    # (retrieval/quote_ranker.py). Docs odd-numbered questions in the top three: 30/50 at 0.05 and 0.1,
    # 29 at 0.2 and 0.3, 27 at 0.55. At most `repeat_ratio`, so that a follow-up can give way.
    min_quote_ratio: float = 0.05
    optional_heads: bool = True  # a word naming the kind of answer ("country") need not be in the answer
    head_weight: float = 1.0  # retrieval weight of a word that names the kind of answer ("country")
    related_weight: float = 0.3  # retrieval weight of a derivationally related form (response for respond)
    related_credit: float = 0.8  # how much a related form counts, for coverage and a sentence's match
    # Retrieval weight of a WordNet synonym (phase for stage); it only helps retrieve (bench.related: SQuAD first
    # quote's paragraph +0.16 points, answer sentence +0.19; docs sets and paraphrases unchanged).
    synonym_weight: float = 0.15
    correct_typos: bool = True
    # A follow-up's best quote, when it was just quoted, gives way to the next if that is at least this share
    # as likely by the quote ranker (a choice, not a measurement: no data set has conversations).
    repeat_ratio: float = 0.05
    # The prior that a follow-up is answerable: it goes on about a topic just asked (no data set has
    # conversations, so this is a choice; the fitted model's own prior is its training share answerable).
    follow_up_prior: float = 0.9


@dataclass(frozen=True, slots=True)
class _Query:
    """The analysed question: term weights for retrieval, idf mass for coverage."""

    terms: dict[str, float]  # analysed term -> query weight (1 for the question, less for context)
    idf: dict[str, float]  # every term of `terms` and of `related` -> its idf
    required: tuple[str, ...]  # the terms coverage is judged on
    optional: frozenset[str]  # terms naming the kind of answer: they count when present
    related: dict[str, tuple[str, ...]]  # required term -> related forms that stand in for it
    extra: frozenset[str]  # terms searched for only as related forms
    credit: float  # how much a related form counts for the term it stands in for
    context_used: bool
    kind: AnswerType | None
    question_words: frozenset[str]  # the question's own tokens, lower-cased
    corrected: tuple[tuple[str, str], ...] = ()
    unknown: float = 0.0  # share of the required idf mass in words no passage holds
    phrases: frozenset[tuple[str, str]] = frozenset()  # the question's adjacent terms (retrieval/proximity.py)
    asks_default: bool = False  # it asks what holds when nothing is set (question.asks_default)


# "How long", "how old"...: the adjective asks for a quantity; it is not a word the answer contains
# ("How long was the war?" is answered by "after 15 months of war").
_HOW_ADJECTIVE = re.compile(r"\b(how)\s+(?:long|far|old|often|big|large|tall|high|soon|late|early|wide|deep)\b",
                            re.IGNORECASE)
_CODE_ASKED = re.compile(r"\b(?:code|example|examples|snippet|syntax|sample|write|implement)\b", re.IGNORECASE)

# Words of chat, not of the subject ("whats the limit rn?"): a question is not judged by whether the
# documents contain them. Document text keeps them; only questions drop them.
_CHAT_FILLER = frozenset(
    """rn pls plz u ur im i'm lol lmao idk btw tho like just really actually basically stuff thing things
    anymore whats hows wheres whos whys dont doesnt wont isnt arent didnt ive guys exactly pretty kinda sorta
    gonna wanna hey hi hello thanks thx ty help question ok okay ya yeah""".split()
)


def check_question(question: str) -> str:
    """The question, stripped; QuestionError when empty or too long."""
    text = " ".join(question.split())
    if not text:
        raise QuestionError("Please ask a question: the message was empty.")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"That question is {len(text):,} characters long; please keep it under {MAX_QUESTION_CHARS:,}."
        )
    return text


def is_follow_up(question: str, index: Index) -> bool:
    """Whether a question leans on an earlier turn: it points back, is a fragment ("and why?", "In
    exchange for what?"), or has no words of its own."""
    tokens = tokenize(question)
    return (any(t in ANAPHORA for t in tokens) or is_elliptical(question)
            or not index.analyser.terms([t for t in tokens if t not in _CHAT_FILLER]))


def analyse(index: Index, question: str, history: Sequence[str], settings: AnswerSettings) -> _Query:
    """The question's terms (typos corrected, related forms added), joined by the previous turn's
    when it is a follow-up."""
    plain = _HOW_ADJECTIVE.sub(r"\1", question)
    words = tokenize(plain)
    tokens = [t for t in words if t not in _CHAT_FILLER]
    analyser = index.analyser
    corrected: list[tuple[str, str]] = []
    if settings.correct_typos:
        tokens, corrected = _corrected(index, tokens)
    for typed, meant in corrected:  # the kind of answer is read from the question as it was meant
        question = re.sub(rf"\b{re.escape(typed)}\b", meant, question, flags=re.IGNORECASE)
    kind = answer_type(question)
    heads = frozenset(analyser.terms(sorted(kind.heads))) if kind and settings.optional_heads else frozenset()
    own = list(dict.fromkeys(analyser.terms(tokens)))
    terms = {t: settings.head_weight if t in heads else 1.0 for t in own}
    required = tuple(t for t in own if t not in heads)
    used = bool(history) and is_follow_up(question, index) and _add_context(index, terms, history[-1], settings)
    if used:  # judged as the question it stands for ("Where does he work?" after "Who is David Khalfa?")
        required = tuple(t for t in terms if t not in heads)
    links, added = expand(index, required, terms, settings.related_weight, settings.synonym_weight)
    extra = frozenset(added)
    terms.update(sorted(added.items()))
    idf = {t: index.term_idf(t) for t in terms}
    total = sum(idf[t] * terms[t] for t in required)
    lost = sum(idf[t] * terms[t] for t in required if not known(index, t) and t not in links)
    unknown = lost / total if total else 0.0
    return _Query(terms, idf, required, heads & frozenset(own), links, extra, settings.related_credit, used, kind,
                  frozenset(words if plain == question else tokenize(question)) | frozenset(tokens), tuple(corrected),
                  unknown, pairs(analyser.words(tokens)), asks_default(question))


def _add_context(index: Index, terms: dict[str, float], previous: str, settings: AnswerSettings) -> bool:
    """Add the previous turn's terms at the context weight; whether any was new."""
    added = False
    for term in index.analyser(previous):
        if term not in terms:
            terms[term] = settings.context_weight
            added = True
    return added


def _corrected(index: Index, tokens: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The tokens with typos corrected against the index, and the (typed, corrected) pairs. Each typo
    is read with the others already corrected ("Stev Witkof": steve, not step, once witkof is witkoff).
    A word with no spelling one slip away that is words typed joined ("hybridcommand") becomes those words."""
    near: dict[int, dict[str, tuple[int, str]]] = {}
    parts: dict[int, list[str]] = {}
    for i in suspects(index, tokens):
        if tokens[i] in HEAD_KIND:  # "year", "country" are kinds of answer, never typos
            continue
        if found := neighbours(index, tokens[i]):
            near[i] = found
        elif split := joined(index, tokens[i]):
            parts[i] = split
    if not near and not parts:
        return tokens, []
    each = index.analyser.term_of_each(tokens)
    fixed: dict[int, Correction] = {}
    for _ in range(2 if len(near) > 1 else 1):
        for i, found in near.items():
            fix = choose(index, tokens[i], found, [t for j, t in enumerate(each) if j != i and t is not None])
            if fix is not None:
                fixed[i], each[i] = fix, fix.term
    out: list[str] = []
    for i, t in enumerate(tokens):
        out += parts[i] if i in parts else [fixed[i].meant if i in fixed else t]
    return out, [(tokens[i], fixed[i].meant) for i in sorted(fixed)]


def answer(
    index: Index, question: str, history: Sequence[str] = (), settings: AnswerSettings = AnswerSettings(),
    quoted: Collection[str] = (),
) -> Answer:
    """Up to `max_quotes` verbatim quotes from different passages, best first; none when not found.
    `quoted` holds what the bot has just quoted first: a follow-up (read with `history`) does not open
    with it again when another quote nearly as good answers."""
    result, evidence = deliberate(index, question, history, settings, quoted)
    if evidence is None or not result.quotes:
        return replace(result, quotes=())
    model = calibration.load()
    threshold = model.threshold if settings.min_confidence is None else settings.min_confidence
    prior = settings.follow_up_prior if result.context_used else None
    confidence = model.confidence(evidence, prior)
    if confidence < threshold:
        return replace(result, quotes=(), confidence=confidence)
    return replace(result, closest=(), confidence=confidence)


def warm_up(index: Index) -> None:
    """Answer once from the index's own first words, so that what a process's first answer loads (the word
    tables, the fitted models, the index's passage flags, its pages of a saved file) is loaded now: a worker
    that starts while questions queue would otherwise make each of its first ones wait for it."""
    if not len(index):
        return
    try:
        answer(index, index.text_of(0)[:200])
    except QuestionError:  # an empty first passage: nothing to ask, and nothing is lost but the warming
        pass


def deliberate(
    index: Index, question: str, history: Sequence[str] = (), settings: AnswerSettings = AnswerSettings(),
    quoted: Collection[str] = (),
) -> tuple[Answer, Evidence | None]:
    """The best quotes whatever the evidence, with the closest titles, and the evidence for answering
    (None when nothing matched at all). `answer` decides from the evidence; benchmarks fit on it."""
    question = check_question(question)
    query = analyse(index, question, history, settings)
    hits = index.search(index.query_vector(query.terms), settings.candidates)
    if not _CODE_ASKED.search(question):  # code is evidence for "how do I write…", not an answer to "what is…"
        hits = [h for h, flags in zip(hits, _flags_of(index, hits), strict=True) if not flags & _CODE_BLOCK]
    empty = Answer(question, (), closest_titles(index, hits), query.context_used, query.corrected)
    if not hits or not query.required:
        return empty, None
    match = _Match.of(index, query)
    found = candidates(index.sentence_table, [h.passage for h in hits], match.ids)
    chosen = _rank_quotes(index, query, hits, settings, match, found)
    quotes = [quote for quote, _ in chosen]
    # (a quote that joins the sentence just quoted with the next one repeats it too)
    if query.context_used and quotes and any(q in quotes[0].text for q in quoted) \
            and _another_answers(query, quotes, settings):
        chosen = chosen[1:]  # a follow-up wants what was not said yet, when something nearly as good says it
    if not chosen:
        return empty, None
    return replace(empty, quotes=tuple(q for q, _ in chosen)), _evidence(index, query, hits, chosen[0], match,
                                                                      found)


@dataclass(frozen=True, slots=True)
class _Match:
    """The question's terms as the columns of presence matrices (retrieval/sentence_match.py)."""

    columns: tuple[str, ...]  # every term of the query, in its order (related forms are among them)
    ids: np.ndarray  # their term ids; -1 for a term the index lacks
    mass: Mass

    @classmethod
    def of(cls, index: Index, query: _Query) -> _Match:
        """The columns and mass weights of a query."""
        columns = tuple(query.terms)
        col = {t: k for k, t in enumerate(columns)}
        ids = np.fromiter((index.vocabulary.get(t, -1) for t in columns), np.int64, len(columns))
        own = tuple((col[t], query.idf[t] * w) for t, w in query.terms.items() if t not in query.extra)
        related = tuple((col[t], tuple(col[r] for r in others), query.credit * query.idf[t] * query.terms[t])
                        for t, others in query.related.items())
        return cls(columns, ids, Mass(own, related))

    def terms(self, held: np.ndarray) -> frozenset[str]:
        """The query terms a presence row holds."""
        return frozenset(compress(self.columns, held.tolist()))


def _another_answers(query: _Query, quotes: Sequence[Quote], settings: AnswerSettings) -> bool:
    """Whether the second quote nearly matches the first and holds the kind of answer wanted when the
    first does ("and how many hostages?" is answered by the number just quoted, not by a sentence without one)."""
    if len(quotes) < 2 or quotes[1].score < settings.repeat_ratio * quotes[0].score:
        return False
    kind = query.kind
    return kind is None or not holds(kind.kind, quotes[0].text, query.question_words) \
        or holds(kind.kind, quotes[1].text, query.question_words)


_CHANGE_LOGS = frozenset(
    "changelog changes history release-notes release_notes releases whats_new whatsnew news".split()
)


def is_change_log(doc_id: str, section: Section) -> bool:
    """Whether a passage (of this document, in this section) is a change-log entry: under a dated heading,
    or in a change-log file."""
    stem = doc_id.rsplit("/", 1)[-1].rsplit(".", 1)[0].casefold()
    return section.date is not None or stem in _CHANGE_LOGS


_CODE_BLOCK, _CHANGE_LOG = 1, 2  # the bits of _passage_flags


def _passage_flags(index: Index) -> np.ndarray:
    """Each passage's bits: _CODE_BLOCK for a code block, _CHANGE_LOG for a change-log entry (`is_change_log`),
    for the whole index, made once (Index.derived) so that a question reads its candidates' in one gather."""
    passages = index.passages
    if isinstance(passages, PassageTable):  # by document and by section, then gathered: no loop by passage
        logs = np.fromiter((is_change_log(d, Section()) for d in passages.doc_ids), bool, len(passages.doc_ids))
        dated = np.fromiter((s.date is not None for s in passages.sections), bool, len(passages.sections))
        log = logs[passages.doc_of] | dated[passages.section_of]
        code = passages.kind == KINDS.index(CODE)
    else:
        stems = {d: is_change_log(d, Section()) for d in index.documents}
        log = np.fromiter((p.section.date is not None or stems[p.doc_id] for p in passages), bool, len(passages))
        code = np.fromiter((p.kind == CODE for p in passages), bool, len(passages))
    return code * np.uint8(_CODE_BLOCK) | log * np.uint8(_CHANGE_LOG)


def _flags_of(index: Index, hits: Sequence[Hit]) -> list[int]:
    """The _passage_flags of each hit."""
    rows = np.fromiter((h.passage for h in hits), np.intp, len(hits))
    return index.derived(_passage_flags)[rows].tolist()


def closest_titles(index: Index, hits: Sequence[Hit], n: int = 3) -> tuple[str, ...]:
    """Titles of the documents of the best hits, without repeats."""
    titles: list[str] = []
    for hit in hits:
        title = index.documents[index.doc_id_of(hit.passage)].title
        if title not in titles:
            titles.append(title)
        if len(titles) == n:
            break
    return tuple(titles)


def _coverage(query: _Query, present: Collection[str]) -> float:
    """Share of the question's required idf mass in `present` (a related form counts part); a word
    naming the kind of answer counts only when present."""
    got = total = 0.0
    for t in query.required:
        mass = query.idf[t] * query.terms[t]
        total += mass
        if t in present:
            got += mass
        elif any(r in present for r in query.related.get(t, ())):
            got += query.credit * mass
    for t in query.optional:
        if t in present:
            got += query.idf[t]
            total += query.idf[t]
    return got / total if total else 0.0


def _evidence(index: Index, query: _Query, hits: Sequence[Hit], first: tuple[Quote, np.ndarray],
              match: _Match, found: Candidates) -> Evidence:
    """The features of the not-found model for the best hits and the first quote (with the query terms
    its sentences and their headings hold)."""
    if index.analyser.bigrams:  # a bigram may span two sentences: read the postings
        rows = list(index.holding(match.ids, [h.passage for h in hits[:3]]))
    else:
        rows = [found.passage_held(k) for k in range(min(3, len(hits)))]
    held = [match.terms(row) for row in rows]
    covers = [_coverage(query, terms) for terms in held]
    best = held[0]
    absent = [query.idf[t] for t in query.required if query.terms[t] == 1.0 and not _holds_term(query, t, best)]
    k1 = index.weighting.k1
    ceiling = sum(w * query.idf[t] * (k1 + 1) for t, w in query.terms.items() if known(index, t)) or 1.0
    second = hits[1].score if len(hits) > 1 else 0.0
    quote, quote_held = first
    sentence_terms = match.terms(quote_held)
    if index.analyser.bigrams:  # a bigram may span the two sentences of a quote: read the quote whole
        sentence_terms = frozenset(index.analyser(quote.text)) | frozenset(index.analyser(" ".join(quote.section)))
    kind = query.kind
    has = kind is not None and holds(kind.kind, quote.text, query.question_words)
    return Evidence(
        coverage=covers[0], best_coverage=max(covers), quote_coverage=_coverage(query, sentence_terms),
        missing=max(absent, default=0.0) / index.max_idf, score=hits[0].score / ceiling,
        margin=(hits[0].score - second) / hits[0].score if hits[0].score > 0 else 0.0, unknown=query.unknown,
        typed_held=float(kind is not None and has), typed_lacked=float(kind is not None and not has),
        terms=math.log1p(len(query.required)), context=float(query.context_used), absent=math.log1p(len(absent)),
        quote_share=quote.score, subject_absent=_subject_absent(query, best),
    )


def _subject_absent(query: _Query, present: Collection[str]) -> float:
    """Share of the question's required mass not in `present` (nor any related form), each term's idf mass
    weighed also by its rarity in English (lexicon.rarity)."""
    lacked = total = 0.0
    for t in query.required:
        mass = query.idf[t] * query.terms[t] * rarity(t)
        total += mass
        if not _holds_term(query, t, present):
            lacked += mass
    return lacked / total if total else 0.0


def _holds_term(query: _Query, term: str, present: Collection[str]) -> bool:
    """Whether `present` holds a question term or one of its related forms."""
    return term in present or any(r in present for r in query.related.get(term, ()))


def _rank_quotes(index: Index, query: _Query, hits: Sequence[Hit], settings: AnswerSettings, match: _Match,
                 found: Candidates) -> list[tuple[Quote, np.ndarray]]:
    """The best sentence (or adjacent pair) of each candidate passage by the fitted quote ranker
    (retrieval/quote_ranker.py), ranked, one per passage; each with the query terms its sentences and
    their headings hold. A quote's score is its share of the probability over the passages' best spans."""
    spans, x, read = quote_candidates(index, query, hits, match, found, settings)
    if not len(spans):
        return []
    kind = query.kind.kind if query.kind and settings.answer_kinds else None
    compiled = found.arrays is not None  # the index is large enough for the compiled loops
    z = quote_ranker.load().scores(x, spans.owner, kind, read, compiled)
    best = quote_ranker.best_of_each(z, spans.owner, compiled)
    if not best.size:
        return []
    share = np.exp(z[best] - z[best[0]])  # as likely as the first, by the model: falls with the rank
    kept = best[: min(int((share >= settings.min_quote_ratio).sum()), settings.max_quotes)]
    probability = share[: len(kept)] / share.sum()
    a, b = spans.first[kept], spans.last[kept]
    return [(_quote(index, index.passages[hits[k].passage], found.starts[i], found.ends[j], float(p)),
             found.held[i] | found.held[j] | found.heading[i])
            for k, i, j, p in zip(spans.owner[kept].tolist(), a.tolist(), b.tolist(), probability, strict=True)]


# Kinds answered by a name the question lacks: whether a span holds one is whether one of its sentences does.
_NAME_KINDS = frozenset({PLACE, PERSON, ENTITY})


def quote_candidates(index: Index, query: _Query, hits: Sequence[Hit], match: _Match, found: Candidates,
                     settings: AnswerSettings) -> tuple[Spans, np.ndarray, Readers]:
    """The candidate spans of the hits' sentences, their features (quote_ranker.FEATURES, the columns read
    from text 0) and the readers of those columns for some spans."""
    col = {t: j for j, t in enumerate(match.columns)}
    required = np.fromiter((col[t] for t in query.required), np.int64, len(query.required))
    passages = [h.passage for h in hits]
    question = Question(
        match.mass, sum(query.idf[t] * w for t, w in query.terms.items() if t not in query.extra), required,
        np.fromiter((h.score for h in hits), float, len(hits)),
        np.fromiter((flags & _CHANGE_LOG for flags in _flags_of(index, hits)), bool, len(hits)), query.asks_default)
    spans, x = spans_and_features(found, question)
    reader = _SpanReader(index, query, passages, found, spans, [(col[a], col[b]) for a, b in query.phrases
                                                                if a in col and b in col])
    return spans, x, Readers(reader.holds, reader.phrases, reader.phrase_bound)


# Kinds whose patterns match within a run of word characters or on a quote mark, never across white space: a span
# of two sentences parted by white space holds one when either sentence does (`holds`, whose ASCII path reads
# lower-cased text alike). Names run across white space, but a name in two sentences is a name of one of them.
_WORD_KINDS = frozenset({NUMBER, DATE, SPEECH})


class _SpanReader:
    """The features read from the candidate spans' text, for some spans; each passage's text and each sentence's
    answer kind read once a question."""

    def __init__(self, index: Index, query: _Query, passages: list[int], found: Candidates, spans: Spans,
                 phrase_columns: list[tuple[int, int]]) -> None:
        self.index, self.query, self.passages, self.found, self.spans = index, query, passages, found, spans
        self.kind = query.kind.kind if query.kind else None
        self.owner, self.first, self.last = spans.owner.tolist(), spans.first.tolist(), spans.last.tolist()
        self.phrase_columns = phrase_columns
        self.row_owner: list[int] | None = None  # each sentence's passage, listed when first needed
        self.texts: dict[int, str] = {}
        self.rows: dict[int, bool] = {}

    def holds(self, which: np.ndarray) -> np.ndarray:
        """Whether each span of `which` holds an answer of the kind asked for (all False when none is)."""
        out = np.zeros(len(which), bool)
        if self.kind is None:
            return out
        starts, ends = self.found.starts, self.found.ends
        by_row = self.kind in _NAME_KINDS
        by_word = self.kind in _WORD_KINDS
        for i, s in enumerate(which.tolist()):
            a, b = self.first[s], self.last[s]
            if a == b or by_row or (by_word and self._parted(self.owner[s], ends[a], starts[b])):
                out[i] = self._row(a) or (a != b and self._row(b))
            else:
                out[i] = holds(self.kind, self._text(self.owner[s])[starts[a] : ends[b]], self.query.question_words)
        return out

    def phrase_bound(self) -> np.ndarray:
        """Every span's highest possible share of the question's phrases: it says a phrase only if it holds both
        its terms."""
        held = self.found.held[self.spans.first] | self.found.held[self.spans.last]
        both = np.zeros(len(self.spans))
        for a, b in self.phrase_columns:
            both += held[:, a] & held[:, b]
        return both / max(len(self.query.phrases), 1)

    def phrases(self, which: np.ndarray) -> np.ndarray:
        """Each span's share of the question's phrases (retrieval/proximity.py)."""
        out = np.zeros(len(which))
        starts, ends = self.found.starts, self.found.ends
        for i, s in enumerate(which.tolist()):
            span = self._text(self.owner[s])[starts[self.first[s]] : ends[self.last[s]]]
            out[i] = phrase_share(self.query.phrases, self.index.analyser.word_terms(span))
        return out

    def _text(self, k: int) -> str:
        """The text of the k-th passage."""
        text = self.texts.get(k)
        return text if text is not None else self.texts.setdefault(k, self.index.text_of(self.passages[k]))

    def _parted(self, k: int, end: int, start: int) -> bool:
        """Whether only white space lies between two sentences of the k-th passage."""
        return end <= start and (end == start or self._text(k)[end:start].isspace())

    def _row(self, r: int) -> bool:
        """Whether sentence r holds an answer of the kind."""
        got = self.rows.get(r)
        if got is None:
            if self.row_owner is None:
                self.row_owner = self.found.owner.tolist()
            text = self._text(self.row_owner[r])
            got = self.rows[r] = holds(self.kind or "", text[self.found.starts[r] : self.found.ends[r]],
                                       self.query.question_words)
        return got


def _quote(index: Index, passage: Passage, a: int, b: int, score: float) -> Quote:
    """The quote of characters a..b of a passage."""
    doc = index.documents[passage.doc_id]
    return Quote(passage.text[a:b], passage.text, a, doc.id, doc.title, passage.paragraph,
                 passage.section.date or doc.date, score, passage.kind, passage.section.path,
                 passage.section.anchor, passage.marks, passage.page)
