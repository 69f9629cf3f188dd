"""What a question asks for: the kind of answer (a number, a date, a place, a person…), the words that
name that kind rather than the subject, and whether it leans on the previous turn.

"Which country…", "how many people…", "what year…": the head noun is the kind of answer wanted, not a
word the answer contains ("Saudi Arabia" answers "which country"), so it is optional for coverage and
a sentence holding such an answer (a name, a number, a date that the question does not already hold)
is preferred.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .text import STOP_WORDS, tokenize

NUMBER, DATE, PLACE, PERSON, ENTITY = "number", "date", "place", "person", "entity"
VERSION, DEFINITION, SPEECH = "version", "definition", "speech"

# Head nouns that name a kind of answer ("which country", "what year", "how many people").
_HEADS = {
    PLACE: "country countries nation nations city cities town towns state states place places region regions "
           "continent location locations area areas province capital village county island river mountain "
           "port border territory",
    DATE: "year years date dates day days month months time century decade period era season",
    NUMBER: "number numbers amount percentage percent proportion share ratio size count quantity price cost "
            "population rate length distance height weight temperature speed total figure limit maximum minimum",
    PERSON: "person people man men woman women leader leaders president minister king queen player author "
            "official officials member members spokesman spokeswoman",
    ENTITY: "company companies organisation organization organizations group groups team teams party parties "
            "court courts university agency body institution club band newspaper treaty law event kind type "
            "sort name award prize ship weapon weapons language religion",
}
HEAD_KIND = {word: kind for kind, words in _HEADS.items() for word in words.split()}


def _cased(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """The pattern without IGNORECASE, for ASCII text lower-cased first: the same matches at the same places
    (lower-casing ASCII maps each character to one, and IGNORECASE matches no other ASCII character), found
    two to three times faster, since the matcher then compares characters as they are."""
    return re.compile(pattern.pattern, pattern.flags & ~re.IGNORECASE)

_WH_HEAD = re.compile(r"\b(?:which|what|whose)((?:\s+[\w'-]+){1,3})", re.IGNORECASE)
_HOW_MANY = re.compile(r"\bhow\s+(?:many|much)\s+(?:of\s+the\s+)?([\w'-]+)", re.IGNORECASE)
_HOW_QUANTITY = re.compile(r"^\W*(?:\w+\s+){0,3}?how\s+(?:many|much|long|far|old|often|big|large|tall|high|"
                           r"deep|wide|fast|heavy)\b", re.IGNORECASE)
_WHEN = re.compile(r"^\W*(?:\w+\s+){0,2}?(?:when|(?:in|by|since|until|from)\s+(?:what|which)\s+"
                   r"(?:year|date|month|day))\b|^\W*until\s+when\b|^\W*since\s+when\b", re.IGNORECASE)
_WHERE = re.compile(r"^\W*(?:\w+\s+){0,2}?where\b", re.IGNORECASE)
_WHO = re.compile(r"^\W*(?:\w+\s+){0,2}?(?:who|whom)\s+(?!is\b|are\b|was\b|were\b|'s\b)", re.IGNORECASE)
_SPEECH = re.compile(r"\b(?:say|said|says|tell|told|think|thought|claim|claimed|call|called|describe|described|"
                     r"react|reacted|respond|responded|comment|commented|mean)\b", re.IGNORECASE)
_VERSION_Q = re.compile(r"\b(?:what|which)\s+(?:\S+\s+)?(?:version|release)s?\b|\bversion\b.*\b(?:need|require)",
                        re.IGNORECASE)
_DEFINITION_Q = re.compile(r"^\W*(?:what(?:'s|s|\s+is|\s+are)\s+(?:an?\s+)?\S+(?:\s+\S+)?\W*$|"
                           r"what(?:'s|s|\s+is|\s+are)\s+(?:exactly|even)|what\s+(?:exactly|even)\s+is|"
                           r"what\s+does\s+.+\s+mean\b)|\bwhat\s+(?:makes|counts\s+as)\b|"
                           r"\bwhat\s+does\s+\S+\s+(?:actually\s+|really\s+|even\s+)?do\b", re.IGNORECASE)
_WHAT = re.compile(r"\bwhat\b", re.IGNORECASE)
# A question about what happens when nothing is set: "what's the default…", "…if i don't pass one?"
_DEFAULT_Q = re.compile(r"\bdefaults?\b|\bif (?:i|you) (?:don'?t|do not|never) (?:pass|set|change|specify|give|provide|"
                        r"declare|add)\b|\bwithout (?:passing|setting|specifying|changing)\b|\bif i never\b",
                        re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Readers:
    """The patterns that read the kind of answer a question wants."""

    version: re.Pattern[str]
    definition: re.Pattern[str]
    how_many: re.Pattern[str]
    how_quantity: re.Pattern[str]
    when: re.Pattern[str]
    wh_head: re.Pattern[str]
    where: re.Pattern[str]
    who: re.Pattern[str]
    speech: re.Pattern[str]
    what: re.Pattern[str]


_READERS = _Readers(_VERSION_Q, _DEFINITION_Q, _HOW_MANY, _HOW_QUANTITY, _WHEN, _WH_HEAD, _WHERE, _WHO, _SPEECH, _WHAT)
_LOWER_READERS = _Readers(*map(_cased, (_VERSION_Q, _DEFINITION_Q, _HOW_MANY, _HOW_QUANTITY, _WHEN, _WH_HEAD, _WHERE,
                                        _WHO, _SPEECH, _WHAT)))

# What a sentence of each kind holds.
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundreds?|thousands?|millions?|billions?|dozens?|half|several)\b", re.IGNORECASE)
_DATE = re.compile(
    r"\b\d{3,4}s?\b|\b(?:jan(?:uary)?|feb(?:ruary)?|march|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday|yesterday|today|tomorrow|tonight|century|decade|week|month|year)s?\b",
    re.IGNORECASE)
_VERSION = re.compile(r"\bv?\d+(?:\.\d+)+\b|\bversions?\s+v?\d", re.IGNORECASE)
# A definition opens its sentence: a short subject ("A privileged intent", "commands.HybridCommand"), then "is a",
# "means", "stands for"… (group 1 the subject). A definition mid-sentence ("This is called when…", "some features
# are not supported") is rarely one.
_DEFINITION = re.compile(r"(?:^|(?<=[.!?:]\s))\W*(?:(?:an?|the)\s+)?((?:[\w.@'()\"-]+\s+){0,3}[\w.@'()\"-]+)\s+"
                         r"(?:(?:is|are)\s+(?:an?|one|the|what|when|how)\b|means?\b|stands?\s+for\b|refers?\s+to\b|"
                         r"is\s+(?:called|short\s+for)\b)", re.IGNORECASE)
# Words of a definition question that ask rather than name the subject ("what does X actually mean").
_ASKING = frozenset("what whats what's does mean means meaning makes make counts count exactly even actually "
                    "really".split())
_SAID = re.compile(r"\b(?:said|says|say|told|tells|stated|states|added|noted|according|argued|warned|insisted|"
                   r"called|described|declared|wrote|explained)\b|[“”\"]", re.IGNORECASE)
# A name: capitalised words. `[A-Z](?<!\w.)` is `\b[A-Z]` (no word character before the capital) written to open
# with a character class, which the matcher skips to directly: twice as fast.
_NAME = re.compile(r"[A-Z](?<!\w.)[\w'’-]*(?:\s+[A-Z][\w'’-]*)*")


_LOWER_DATE, _LOWER_VERSION, _LOWER_DEFINITION, _LOWER_SAID = map(_cased, (_DATE, _VERSION, _DEFINITION, _SAID))


@dataclass(frozen=True, slots=True)
class AnswerType:
    """The kind of answer a question asks for, and the question's words that only name that kind."""

    kind: str
    heads: frozenset[str] = frozenset()  # lower-cased words: "country", "people", "year"


# A leading clause that sets a scene ("When John Fox left, who replaced him?", "when i use X, roughly how many…"):
# the main clause asks. Not "When did…", which asks for a date.
_SCENE = re.compile(r"^\W*(?:when|whenever|if|once|after|before)\s+(?!(?:did|was|were|is|are|does|do|will|would|could|"
                    r"has|had|can)\b)[^,?]*,\s*(?=\S)", re.IGNORECASE)


def answer_type(question: str) -> AnswerType | None:
    """The kind of answer wanted, judged by the question's words (after a leading scene-setting clause); None
    when it could be anything."""
    if scene := _SCENE.match(question):
        question = question[scene.end() :]
    if question.isascii():  # read lower-cased (`_cased`)
        return _kind(question.lower(), _LOWER_READERS)
    return _kind(question, _READERS)


def _kind(question: str, read: _Readers) -> AnswerType | None:
    """`answer_type` with these patterns."""
    if read.version.search(question):
        return AnswerType(VERSION, frozenset(_ordered_heads(question, read.wh_head)))
    if read.definition.search(question):
        return AnswerType(DEFINITION)
    how = read.how_many.search(question)
    if read.how_quantity.search(question):
        unit = how.group(1).lower() if how else ""
        return AnswerType(NUMBER, frozenset({unit}) if unit and unit not in STOP_WORDS else frozenset())
    if read.when.search(question):
        return AnswerType(DATE)
    ordered = _ordered_heads(question, read.wh_head)
    if ordered:
        # The head of "what population group" is its last noun: the kind comes from it, in the question's
        # order (a set's order changed with the hash seed, and so did answers).
        return AnswerType(HEAD_KIND[ordered[-1]], frozenset(ordered))
    if read.where.search(question):
        return AnswerType(PLACE)
    if read.who.search(question):
        return AnswerType(PERSON)
    if read.speech.search(question) and read.what.search(question):
        return AnswerType(SPEECH)
    return None


def asks_default(question: str) -> bool:
    """Whether a question asks what holds when nothing is set (a default value or behaviour)."""
    return bool(_DEFAULT_Q.search(question))


def _ordered_heads(question: str, wh_head: re.Pattern[str] = _WH_HEAD) -> list[str]:
    """The kind-naming head nouns after which/what ("which Gulf state" → state), in the question's order."""
    return [w.lower() for match in wh_head.finditer(question) for w in match.group(1).split()
            if w.lower() in HEAD_KIND]


def holds(kind: str, sentence: str, question_words: frozenset[str]) -> bool:
    """Whether a sentence holds an answer of this kind that the question does not already hold."""
    if kind in _LOWER_KINDS and sentence.isascii():
        return _holds_lowered(kind, sentence.lower(), question_words)
    if kind == NUMBER:
        return any(m.group(0).lower() not in question_words for m in _NUMBER.finditer(sentence))
    if kind == DATE:
        return any(m.group(0).lower() not in question_words for m in _DATE.finditer(sentence))
    if kind == VERSION:
        return bool(_VERSION.search(sentence))
    if kind == DEFINITION:
        return _defines(sentence, question_words)
    if kind == SPEECH:
        return bool(_SAID.search(sentence))
    return any(_new_name(m.group(0), question_words) for m in _NAME.finditer(sentence))


_LOWER_KINDS = frozenset({NUMBER, DATE, VERSION, DEFINITION, SPEECH})


def _holds_lowered(kind: str, lowered: str, question_words: frozenset[str]) -> bool:
    """`holds` for one of _LOWER_KINDS and a lower-cased ASCII sentence (`_cased`)."""
    if kind == NUMBER:
        return _new_number(lowered, question_words)
    if kind == DATE:
        return any(m.group(0) not in question_words for m in _LOWER_DATE.finditer(lowered))
    if kind == VERSION:
        return bool(_LOWER_VERSION.search(lowered))
    if kind == DEFINITION:
        return _defines(lowered, question_words, _LOWER_DEFINITION)
    return bool(_LOWER_SAID.search(lowered))


# In ASCII text a match of _NUMBER is a digit or a whole word (a run of \w: `\b` bounds the words) naming a number,
# so digits and words can be looked for apart, each the fast way: digits as substrings, and the words by the
# pattern only when one of their letters occurs as a substring (most sentences hold none): twice as fast.
# tests/test_understanding.py checks that the answers are the pattern's.
_DIGITS = "0123456789"
_NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred "
                 "thousand million billion dozen half several").split()
_LOWER_NUMBER_WORD = re.compile(_NUMBER.pattern.removeprefix("\\d|"))


def _new_number(lowered: str, question_words: frozenset[str]) -> bool:
    """Whether a lower-cased ASCII sentence holds a match of _NUMBER the question lacks."""
    if any(d in lowered and d not in question_words for d in _DIGITS):
        return True
    return any(w in lowered for w in _NUMBER_WORDS) and any(
        m.group(0) not in question_words for m in _LOWER_NUMBER_WORD.finditer(lowered))


def _defines(sentence: str, question_words: frozenset[str], pattern: re.Pattern[str] = _DEFINITION) -> bool:
    """Whether a sentence of the text opens by defining a word of the question: "A cog is a…", "An origin is the
    combination…", not "This is called when a cog…"; a plural word also names its singular."""
    words = [w.removesuffix("s") for w in question_words if len(w) > 2 and w not in STOP_WORDS and w not in _ASKING]
    for match in pattern.finditer(sentence):
        subject = match.group(1).lower()
        if any(w in subject for w in words):
            return True
    return False


@lru_cache(maxsize=4096)  # a pair's names are its sentences': each is asked about up to three times a question
def _new_name(name: str, question_words: frozenset[str]) -> bool:
    """Whether a capitalised name has a word the question lacks (and is not a stop word)."""
    return any(w.removesuffix("'s") not in question_words and w not in STOP_WORDS for w in tokenize(name))


# ---------------------------------------------------------------- follow-ups

# Words that point back to an earlier turn: "what did he say about it?"
ANAPHORA = frozenset(
    "he him his she her hers it its they them their theirs this that these those there then "
    "he's she's it's they're".split()
)
_WH = frozenset("what who whom which when where why how".split())
_LEADS = frozenset("and but also so then or".split())


def is_elliptical(question: str) -> bool:
    """Whether a question is a fragment of the previous one: "and why?", "what about Egypt?", "In
    exchange for what?", "since when?" (a wh-word last, or a coordinating word or "what about" first)."""
    tokens = tokenize(question)
    if not tokens:
        return False
    if tokens[0] in _LEADS:
        return True
    if len(tokens) >= 2 and tokens[0] in ("what", "how") and tokens[1] == "about":
        return True
    return len(tokens) >= 2 and tokens[-1] in _WH and tokens[0] not in _WH and len(tokens) <= 5
