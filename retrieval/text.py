"""Text analysis shared by indexing and querying: sentences, tokens, stems."""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import Stemmer

ANALYSER_VERSION = "4"  # 4: CamelCase words are split into their parts

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# Where a word may split into parts: a capital after a small letter or a digit ("hybridCommand", "OAuth2Password"),
# or the last capital of a run before a small letter ("CORSMiddleware"). ASCII only: identifiers are.
_CAMEL = re.compile(r"[a-z0-9][A-Z]|[A-Z][A-Z][a-z]")
_CAMEL_BYTES = re.compile(_CAMEL.pattern.encode())
_CAMEL_SPLIT = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# A word holding a capital sigma: lower case reads its context (final ς or σ), which ends at a space.
_SIGMA_WORD = re.compile(r"\S*Σ\S*")
# A sentence ends at . ! ? (or …), possibly followed by closing quotes or brackets, then space; a quote
# mark standing alone between spaces after it closes that sentence too (`City. " Salt`).
_SENTENCE_END = re.compile(r"""[.!?…]+["'”’)\]]*(?:\s+(?:["”]|'')(?=\s))?(?=\s)""")
# The next sentence starts with a capital or a digit, or with a code name ("on_ready() is called…", "v2.0 adds…").
_NEXT_START = re.compile(r"""\s+["'“‘`(\[]*(?P<first>[A-Z0-9À-Þ]|[a-z][\w.]*?(?:_|\(|\d))""")
# A sentence's end is an end followed by a start: one search for both. The end is atomic, as the end found
# first is the one whose start is tested; the space before the start (greedy, so all of it) is grouped.
# Its first character stays outside the atomic group, so that the search skips to the next . ! ? … in C.
# `long` is set when seven characters before the end are neither spaces, nor quotes or brackets, nor full
# stops: the last word, then, is no abbreviation and no initial (each has at most six), a fact found in C.
_BREAK = re.compile(r"""[.!?…](?P<long>(?<=[^\s("'“‘.]{7}.))?(?>[.!?…]*"""
                    + _SENTENCE_END.pattern.removeprefix("[.!?…]+") + r")(?=(?P<space>\s+)"
                    + _NEXT_START.pattern.removeprefix(r"\s+") + ")")
_NEXT_WORD = re.compile(r"""\s+["'“‘`(\[]*([^\W\d_]+)""")
# Words that open sentences and are nobody's name: after one, "Inc." or "Sen." ended the sentence.
_OPENERS = frozenset("""the an he she it they we but and or yet in on at for from by with this that these those
    there his her its their our as if when while after before however meanwhile also still""".split())
_ABBREVIATIONS = frozenset(  # titles before names, months before days, and a few more
    """mr mrs ms dr prof st mt vs gov gen col lt sgt rep sen rev fig
    jan feb mar apr jun jul aug sep sept oct nov dec est approx dept univ""".split()
)
# The end of a name ("Acme Inc.", "Gordon, Jr."): the sentence ends there when a capitalised word follows.
_SUFFIXES = frozenset("inc ltd co corp jr sr".split())
_BEFORE_NUMBERS = frozenset("no nos vol vols p pp ps art sec ch op eq ex pt c ca d b fig figs".split())  # No. 5
_DOTTED = re.compile(r"(?:\b[A-Za-z]\.){2,}$")  # U.S. D.C. e.g.
_LOWER_INITIAL = re.compile(r"(?:^|[\s(])[a-z]\.$")  # c. 1455, Y. p. orientalis
_INITIAL = re.compile(r"(?:^|\s)[A-Z]\.$")  # J. in "J. Smith"



def _english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop words, read from their own module: importing sklearn itself
    takes 1–2 s, which every start of the bot (and every `qa-bot ask`) would pay for a word list."""
    spec = importlib.util.find_spec("sklearn")
    locations = spec.submodule_search_locations if spec else None
    if locations:
        path = Path(next(iter(locations))) / "feature_extraction" / "_stop_words.py"
        module_spec = importlib.util.spec_from_file_location("_sklearn_stop_words", path)
        if module_spec and module_spec.loader and path.is_file():
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            return frozenset(module.ENGLISH_STOP_WORDS)
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # the slow way, if the layout changed

    return frozenset(ENGLISH_STOP_WORDS)


STOP_WORDS = _english_stop_words() | {"s", "t", "did", "does", "doing"}

# Words of scikit-learn's list that name things in documents ("fire", "system", "name", "top", "empty")
# or carry a question's point ("does on_ready only fire once?"): index terms all the same. Not "last" ("how long
# did the war last?" asks for a duration the answer holds without the word) nor "call" ("what did he call the
# accusations?" is answered by "decried them as a witch hunt"), nor "show" ("show me an example of…" asks for
# code; "shows", "showing" are terms anyway). Measured (bench.quality): SQuAD R@1
# 0.775 -> 0.779, MRR 0.842 -> 0.845, answer sentence 0.725 -> 0.730; documentation sets level (bench.docs).
_CONTENT_WORDS = frozenset("""amount back bill bottom con cry describe detail empty fill find fire first found
    front full give interest keep made mill move name part put see serious side sincere system take thick thin
    third top once never only always next whole""".split())
# What the analyser drops: the list above without those words. STOP_WORDS itself stays the whole list, for the
# readers of questions and summaries that want only function words.
INDEX_STOP_WORDS = STOP_WORDS - _CONTENT_WORDS

# Irregular verb forms that a stemmer cannot join to their base ("met" / "meet", "said" / "say").
_IRREGULAR_PAIRS = """
said:say met:meet began:begin begun:begin went:go gone:go took:take taken:take gave:give given:give
made:make won:win lost:lose died:die built:build bought:buy brought:bring came:come fought:fight got:get
held:hold kept:keep knew:know known:know led:lead meant:mean paid:pay ran:run saw:see seen:see sent:send
sold:sell spent:spend stood:stand taught:teach thought:think told:tell wrote:write written:write
became:become chose:choose chosen:choose drew:draw drawn:draw drove:drive driven:drive fell:fall
fallen:fall felt:feel flew:fly flown:fly forgot:forget forgotten:forget grew:grow grown:grow heard:hear
hid:hide hidden:hide rose:rise risen:rise sang:sing sung:sing sat:sit shot:shoot slept:sleep spoke:speak
spoken:speak stole:steal stolen:steal struck:strike swam:swim threw:throw thrown:throw
understood:understand woke:wake wore:wear worn:wear withdrew:withdraw withdrawn:withdraw broke:break
broken:break ate:eat eaten:eat froze:freeze frozen:freeze rode:ride ridden:ride shook:shake shaken:shake
swore:swear sworn:swear tore:tear torn:tear drank:drink drunk:drink rang:ring fed:feed fled:flee
sought:seek caught:catch dealt:deal dug:dig lent:lend sang:sing spun:spin stuck:stick swept:sweep
taught:teach wept:weep wound:wind overcame:overcome undertook:undertake undertaken:undertake
"""
IRREGULAR = dict(pair.split(":") for pair in _IRREGULAR_PAIRS.split())


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, leading and trailing space excluded. A line break
    always ends a sentence: passages keep one only between list items, which are sentences of their own."""
    return by_line(text, _line_sentences)


def by_line(text: str, split: Callable[[str], list[tuple[int, int]]]) -> list[tuple[int, int]]:
    """The spans `split` finds in each line of `text`, as spans of `text`."""
    if "\n" not in text:
        return split(text)
    spans: list[tuple[int, int]] = []
    at = 0
    for line in text.split("\n"):
        spans += [(at + a, at + b) for a, b in split(line)]
        at += len(line) + 1
    return spans


def _line_sentences(text: str) -> list[tuple[int, int]]:
    """`split_sentences` of text without line breaks."""
    spans: list[tuple[int, int]] = []
    start = 0  # where the sentence began: just after the end of the one before
    first = len(text) - len(text.lstrip())  # its first character that is not a space
    for match in _BREAK.finditer(text):
        end = match.end()
        digit = match.group("first")[0].isdigit()
        if digit and ("…" in match.group() or "..." in match.group()):  # a count ("1... 2... 3...") goes on
            continue
        if match.group("long") is None and text[end - 1] == "." and _abbreviation(text, start, end, digit):
            continue
        spans.append((first, end))  # an end is never a space
        start, first = end, match.end("space")
    last = len(text.rstrip()) if text[-1:].isspace() else len(text)
    if last > first:
        spans.append((first, last))
    return spans


def _abbreviation(text: str, start: int, end: int, digit: bool) -> bool:
    """Whether the sentence text[start:end], ending in a full stop that looks like its end, goes on: the
    stop ends an abbreviation ("Dr. Smith", "No. 5", "c. 1455", "e.g. This")."""
    low = start if end - start <= 32 else end - 32  # the last word, from the sentence's end only
    word = text[low:end].rsplit(None, 1)[-1]
    if low > start and len(word) == end - low:
        word = text[start:end].rsplit(None, 1)[-1]
    bare = word.rstrip(".").lower().lstrip("(\"'“‘")
    if bare in _BEFORE_NUMBERS and digit:
        return bare not in ("no", "nos") or word.lstrip("(\"'“‘")[:1] == "N"  # "No. 5", but "was no. 40 left"
    if bare in _SUFFIXES:
        found = _NEXT_WORD.match(text, end)
        if not found:
            return True
        after = found.group(1)
        # "Acme Inc. makes…", "Acme Inc. CEO…", "Samsung Co. Ltd." go on; "Acme Inc. Shares fell" ends
        return not after[:1].isupper() or after.isupper() or text[found.end():found.end() + 1] == "."
    if bare in _ABBREVIATIONS or _initials(text, start, end, word):
        return not _ends_after_all(text, start, end)
    return False


def _initials(text: str, start: int, end: int, word: str) -> bool:
    """Whether the sentence text[start:end] ends in initials: dotted letters ("U.S.", "e.g.") or one letter
    after a space ("J. Smith", "c. 1455", "(p. 4")."""
    before = text[end - 3] if end - 3 >= start else " "
    if before not in ".(" and not before.isspace():  # after a letter or a digit ("city."): neither can match
        return False
    # Both initial patterns end the text and span at most three characters: search the last three only.
    tail = text[max(start, end - 3) : end]
    return bool(_DOTTED.search(word)) or bool(_INITIAL.search(tail)) or bool(_LOWER_INITIAL.search(tail))


def _ends_after_all(text: str, start: int, end: int) -> bool:
    """Whether a sentence that seems to end in an abbreviation ends there all the same: when the next
    word is one no name can be ("Apple Inc. The company…", "the U.S. It…"), or when the abbreviation is
    the end of a name that the text also writes without a full stop ("Hun Sen. Hun Sen said…", unlike
    "Sen. John McCain")."""
    found = _NEXT_WORD.match(text, end)
    following = found.group(1) if found else ""
    if following[:1].isupper() and following.lower() in _OPENERS:
        return True
    words = text[start:end].split()
    if len(words) < 2 or not words[-2][:1].isupper():
        return False
    name = re.escape(words[-2].strip("\"'“‘(")) + r"\s+" + re.escape(words[-1].rstrip(".")) + r"\b(?!\.)"
    return re.search(name, text) is not None


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens, accents kept, apostrophes joined (don't, Trump’s), CamelCase words in
    their parts (HybridCommand: hybrid, command), as snake_case words are (on_ready: on, ready)."""
    return normal_tokens(unicodedata.normalize("NFKC", text))


def normal_tokens(normal: str) -> list[str]:
    """`tokenize` of NFKC-normalised text."""
    if _CAMEL.search(normal) is None:  # the common case: lower-case the text in one call
        return word_tokens(normal.lower())
    normal = sigmas_in_context(normal)  # lower-cased word by word below
    tokens: list[str] = []
    for word in _TOKEN.findall(normal.replace("’", "'")):
        for part in camel_parts(word) if _CAMEL.search(word) else (word,):
            lowered = part.lower()
            tokens += (lowered,) if lowered.isascii() else word_tokens(lowered)
    return tokens


def has_camel(ascii_text: bytes) -> bool:
    """Whether ASCII text has a word that may split into CamelCase parts."""
    return _CAMEL_BYTES.search(ascii_text) is not None


def sigmas_in_context(normal: str) -> str:
    """Text whose words with a capital sigma are lower-cased: lower case gives the sigma its final or
    middle form from the letters around it, so a word cut from its text must have it already."""
    return _SIGMA_WORD.sub(lambda m: m.group().lower(), normal) if "Σ" in normal else normal


def camel_parts(word: str) -> list[str]:
    """The parts of a CamelCase word (CORSMiddleware: CORS, Middleware); a part of one letter, or a
    two-letter part that is no acronym, stays joined to the next (GZip, iPhone, McDonald, userId)."""
    parts: list[str] = []
    for piece in _CAMEL_SPLIT.split(word):
        if parts and not _whole_part(parts[-1]):
            parts[-1] += piece
        else:
            parts.append(piece)
    if len(parts) > 1 and not _whole_part(parts[-1]):
        last = parts.pop()
        parts[-1] += last
    return parts


def _whole_part(part: str) -> bool:
    """Whether a piece of a CamelCase word can stand as a part: three characters, or an acronym of two."""
    return len(part) >= 3 or (len(part) == 2 and part.isupper())


def word_tokens(lowered: str) -> list[str]:
    """The word tokens of text already NFKC-normalised and lower-cased (no CamelCase parts)."""
    return _TOKEN.findall(lowered.replace("’", "'"))  # the pattern treats both apostrophes alike


_FEW = 16  # words `term_of_each` stems one by one, through the cache; more go to the stemmer in one batch


class Analyser:
    """Turns text into index terms: tokens, stop words (INDEX_STOP_WORDS) removed, Snowball-stemmed."""

    def __init__(self, stem: bool = True, stop_words: bool = True, bigrams: bool = False) -> None:
        self.stem = stem
        self.stop_words = stop_words
        self.bigrams = bigrams
        self._stemmer = Stemmer.Stemmer("english")
        self._stem_one = lru_cache(maxsize=200_000)(self._stemmer.stemWord)
        self.term = lru_cache(maxsize=200_000)(self._term)

    def params(self) -> dict[str, object]:
        """The settings that index and query must share."""
        return {
            "stem": self.stem,
            "stop_words": self.stop_words,
            "bigrams": self.bigrams,
            "version": ANALYSER_VERSION,
        }

    def __call__(self, text: str) -> list[str]:
        """Index terms of `text`, in order, repeats kept."""
        return self.terms(tokenize(text))

    def terms(self, tokens: Sequence[str]) -> list[str]:
        """Index terms of already tokenized text."""
        words = self.words(tokens)
        if self.bigrams and len(words) > 1:
            return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        return words

    def _term(self, token: str) -> str | None:
        """One token's term (None for a stop word), as `terms` makes it; `term` is this, memoised."""
        base = _strip_possessive(token)
        word = IRREGULAR.get(base, base)
        if self.stop_words and word in INDEX_STOP_WORDS:
            return None
        return self._stem_one(word) if self.stem else word

    def words(self, tokens: Sequence[str]) -> list[str]:
        """The terms of the tokens' words in order (no bigrams), one memoised lookup a token."""
        return [t for t in map(self.term, tokens) if t is not None]

    def word_terms(self, text: str) -> list[str]:
        """The terms of `text`'s words in order (no bigrams)."""
        return self.words(tokenize(text))

    def term_of_each(self, words: Sequence[str]) -> list[str | None]:
        """Each word's single term (None for a stop word), stemmed in one batch: for the hundreds of
        candidate spellings a typo has, which the per-word cache would only fill with misses."""
        bases = [IRREGULAR.get(w, w) for w in (_strip_possessive(t) for t in words)]
        if not self.stem:
            stems = bases
        elif len(bases) <= _FEW:  # a question's words: the per-word cache mostly hits
            stem = self._stem_one
            stems = [stem(b) for b in bases]
        else:
            stems = self._stemmer.stemWords(bases)
        return [None if self.stop_words and b in INDEX_STOP_WORDS else s for b, s in zip(bases, stems, strict=True)]


def _strip_possessive(token: str) -> str:
    """Drop a trailing 's so that Trump's and Trump are one term."""
    return token[:-2] if token.endswith("'s") else token


def content_words(tokens: Iterable[str]) -> list[str]:
    """The tokens that are not stop words."""
    return [t for t in tokens if _strip_possessive(t) not in STOP_WORDS]
