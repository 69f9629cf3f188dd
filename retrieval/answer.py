"""Questions to answers: retrieve passages, pick the sentences that answer, or say not found."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import QuestionError
from .index import Index
from .model import Answer, Hit, Passage, Quote
from .structure import CODE
from .text import tokenize

MAX_QUESTION_CHARS = 1000
# Words that point back to an earlier turn: "what did he say about it?"
_ANAPHORA = frozenset(
    "he him his she her hers it its they them their theirs this that these those there then "
    "he's she's it's they're".split()
)


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    """Knobs of answering, calibrated on questions the documents do and do not answer (README)."""

    candidates: int = 20  # passages whose sentences compete
    max_quotes: int = 3
    min_coverage: float = 0.6  # share of the question's idf mass the best passage must contain
    passage_weight: float = 0.35  # how much the passage's rank counts next to the sentence's own match
    context_weight: float = 0.5  # weight of the previous turn's words in a follow-up
    answer_type_bonus: float = 0.2  # share of the question's mass a sentence of the expected kind gains
    min_quote_ratio: float = 0.55  # a further quote must score at least this share of the first
    # A question word found only in the headings above a sentence (docs dev set: 13 vs 11/50 right at 0.5).
    section_weight: float = 1.0
    judged: int = 3  # how many of the best passages may show the question is covered (docs dev set: 16 vs 14/50)
    later_coverage: float = 0.75  # the coverage one of the next passages needs
    change_log_factor: float = 0.85  # a change-log entry's score, against a current page's


@dataclass(frozen=True, slots=True)
class _Query:
    """The analysed question: term weights for retrieval, idf mass for coverage."""

    terms: dict[str, float]  # analysed term -> query weight (1 for the question, less for context)
    own_terms: frozenset[str]  # the terms of the question itself
    context_used: bool
    expects: re.Pattern[str] | None = None  # what the answer's sentence likely holds


# "How long", "how old"...: the adjective asks for a quantity; it is not a word the answer contains
# ("How long was the war?" is answered by "after 15 months of war").
_HOW_ADJECTIVE = re.compile(r"\b(how)\s+(?:long|far|old|often|big|large|tall|high|soon|late|early|wide|deep)\b",
                            re.IGNORECASE)


_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundreds?|thousands?|millions?|billions?|dozens?|half|several)\b", re.IGNORECASE)
_DATE = re.compile(
    r"\b\d{3,4}s?\b|\b(?:jan(?:uary)?|feb(?:ruary)?|march|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday|yesterday|today|tomorrow|tonight|century|decade|week|month|year)s?\b",
    re.IGNORECASE)
# What kind of words the answer holds, by how the question begins: a sentence that has them is the
# likelier answer ("When...?" is answered by a date, "How many...?" by a number).
_VERSION = re.compile(r"\bv?\d+(?:\.\d+)+\b|\bversions?\s+v?\d", re.IGNORECASE)
_DEFINITION = re.compile(r"\b(?:is|are)\s+(?:a|an|the|one|not|about|used|when|how)\b|\bmeans?\b|\brefers?\s+to\b|"
                         r"\bstands?\s+for\b|\bcalled\b", re.IGNORECASE)
_EXPECTED = (
    # Anywhere in the question: "which version of the library introduced…", "since what version…".
    (re.compile(r"\b(?:what|which)\s+(?:\S+\s+)?(?:version|release)s?\b", re.IGNORECASE), _VERSION),
    (re.compile(r"^\W*(?:what(?:'s|s|\s+is|\s+are)\s+(?:an?\s+)?\S+(?:\s+\S+)?\W*$|"
                r"what(?:'s|s|\s+is|\s+are)\s+(?:exactly|even)|what\s+(?:exactly|even)\s+is|"
                r"what\s+does\s+.+\s+mean\b)", re.IGNORECASE), _DEFINITION),
    (re.compile(r"^\W*(?:how\s+(?:many|much|long|old|far|often)|what\s+(?:percentage|number|amount))\b",
                re.IGNORECASE), _NUMBER),
    (re.compile(r"^\W*(?:when|what\s+(?:year|date|day|month|time|century|decade)|"
                r"(?:in|by|since|until)\s+(?:what|which)\s+(?:year|date|month))\b", re.IGNORECASE), _DATE),
)


_CODE_ASKED = re.compile(r"\b(?:code|example|examples|snippet|syntax|sample|write|implement)\b", re.IGNORECASE)


def expected_answer(question: str) -> re.Pattern[str] | None:
    """A pattern the answer's sentence likely holds, judged by the question's first words."""
    return next((pattern for opening, pattern in _EXPECTED if opening.search(question)), None)


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
    """Whether a question leans on an earlier turn: it points back, or has no words of its own."""
    tokens = tokenize(question)
    return any(t in _ANAPHORA for t in tokens) or not index.analyser.terms(tokens)


def analyse(index: Index, question: str, history: Sequence[str], settings: AnswerSettings) -> _Query:
    """The question's terms, joined by the previous turn's when it is a follow-up."""
    tokens = [t for t in tokenize(_HOW_ADJECTIVE.sub(r"\1", question)) if t not in _CHAT_FILLER]
    own = index.analyser.terms(tokens)
    terms = dict.fromkeys(own, 1.0)
    used = False
    if history and is_follow_up(question, index):
        for term in index.analyser(history[-1]):
            if term not in terms:
                terms[term] = settings.context_weight
                used = True
    return _Query(terms, frozenset(own), used, expected_answer(question))


def answer(
    index: Index, question: str, history: Sequence[str] = (), settings: AnswerSettings = AnswerSettings()
) -> Answer:
    """Up to `max_quotes` verbatim quotes from different passages, best first; none when not found."""
    question = check_question(question)
    query = analyse(index, question, history, settings)
    vector: dict[int, float] = {}
    for term, weight in query.terms.items():
        tid = index.vocabulary.get(term)
        if tid is not None and index.df[tid] > 0:
            vector[tid] = weight
    hits = index.search(vector, settings.candidates)
    if not _CODE_ASKED.search(question):  # code is evidence for "how do I write…", not an answer to "what is…"
        hits = [h for h in hits if index.terms(h.passage).kind != CODE]
    if not hits or not _covered(index, query, hits, settings):
        return Answer(question, (), closest_titles(index, hits), query.context_used)
    quotes = _rank_quotes(index, query, hits, settings)
    return Answer(question, tuple(quotes), (), query.context_used)


_CHANGE_LOGS = frozenset(
    "changelog changes history release-notes release_notes releases whats_new whatsnew news".split()
)


def is_change_log(passage: Passage) -> bool:
    """Whether a passage is a change-log entry: under a dated heading, or in a change-log file."""
    stem = passage.doc_id.rsplit("/", 1)[-1].rsplit(".", 1)[0].casefold()
    return passage.section.date is not None or stem in _CHANGE_LOGS


def closest_titles(index: Index, hits: Sequence[Hit], n: int = 3) -> tuple[str, ...]:
    """Titles of the documents of the best hits, without repeats."""
    titles: list[str] = []
    for hit in hits:
        title = index.documents[index.passages[hit.passage].doc_id].title
        if title not in titles:
            titles.append(title)
        if len(titles) == n:
            break
    return tuple(titles)


def _covered(index: Index, query: _Query, hits: Sequence[Hit], settings: AnswerSettings) -> bool:
    """Whether the best passage holds enough of the question, or one of the next few holds more (a
    list or a table that ranks a little lower often holds all of it)."""
    if query.context_used:  # a follow-up's own words may sit beside, not inside, the passage its context points to
        return max(_coverage(index, query, h.passage) for h in hits[:3]) >= settings.min_coverage
    if _coverage(index, query, hits[0].passage) >= settings.min_coverage:
        return True
    return any(_coverage(index, query, h.passage) >= settings.later_coverage for h in hits[1 : settings.judged])


def _mass(index: Index, query: _Query, terms: set[str] | frozenset[str]) -> float:
    """The idf-weighted mass of the query terms found in `terms`."""
    return sum(index.term_idf(t) * w for t, w in query.terms.items() if t in terms)


def _coverage(index: Index, query: _Query, passage: int) -> float:
    """Share of the question's own idf mass present in a passage or its section (context words excluded)."""
    own = {t: 1.0 for t in query.own_terms} or query.terms
    total = sum(index.term_idf(t) for t in own)
    present = index.terms(passage).terms
    return sum(index.term_idf(t) for t in own if t in present) / total if total else 0.0


def _rank_quotes(index: Index, query: _Query, hits: Sequence[Hit], settings: AnswerSettings) -> list[Quote]:
    """The best sentence (or adjacent pair) of each candidate passage, ranked, one per passage."""
    total = _mass(index, query, set(query.terms)) or 1.0
    top = hits[0].score or 1.0
    scored: list[tuple[float, Quote]] = []
    for hit in hits:
        best = _best_span(index, query, hit.passage, settings, settings.answer_type_bonus * total)
        if best is None:
            continue
        fit, (a, b) = best
        value = fit / total + settings.passage_weight * hit.score / top
        passage = index.passages[hit.passage]
        if is_change_log(passage):  # the current pages say what is true now; a change log, what changed when
            value *= settings.change_log_factor
        doc = index.documents[passage.doc_id]
        quote = Quote(passage.text[a:b], passage.text, a, doc.id, doc.title, passage.paragraph,
                      passage.section.date or doc.date, value, passage.kind, passage.section.path,
                      passage.section.anchor, passage.marks, passage.page)
        scored.append((value, quote))
    scored.sort(key=lambda item: -item[0])
    if not scored:
        return []
    first = scored[0][0]
    return [q for v, q in scored if v >= settings.min_quote_ratio * first][: settings.max_quotes]


def _best_span(index: Index, query: _Query, passage: int, settings: AnswerSettings,
               bonus: float = 0.0) -> tuple[float, tuple[int, int]] | None:
    """The sentence of a passage that holds most of the query's idf mass, joined with its neighbour
    when the neighbour adds words of the question (the answer often spans "X. He said Y.")."""
    text = index.passages[passage].text
    analysed = index.terms(passage)
    spans, heading = analysed.spans, analysed.section_terms
    # The headings above a sentence are its context: their words count, for less than its own.
    sets = analysed.sentence_terms
    fits = [_mass(index, query, s) + settings.section_weight * _mass(index, query, heading - s) for s in sets]
    if not spans or max(fits) <= 0:
        return None
    if query.expects is not None and bonus:
        fits = [f + bonus if f > 0 and query.expects.search(text[a:b]) else f
                for f, (a, b) in zip(fits, spans, strict=True)]
    i = max(range(len(spans)), key=lambda j: (fits[j], -j))
    best = (fits[i], spans[i])
    for j in (i - 1, i + 1):
        if 0 <= j < len(spans):
            joined = _mass(index, query, sets[i] | sets[j]) + settings.section_weight * _mass(
                index, query, heading - sets[i] - sets[j])
            if joined > best[0] and joined - fits[i] >= 0.5 * fits[i]:
                best = (joined, (spans[min(i, j)][0], spans[max(i, j)][1]))
    return best
