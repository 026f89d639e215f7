"""Text cleaning for short Spanish/English messages: remove noise, keep the signal, emit text for features.

Each message (`text`, `lang` in es|en|other) gets a readable `clean_text` and a `feature_text` (lemmas
without stop words, accent-stripped, space-joined) for TF-IDF word and character n-grams. spaCy runs
offline: `spacy.blank(lang)` plus the lookup lemmatizer whose tables ship in spacy-lookups-data.

Normalisation policy, in order of application (the reasons are in docs/cleaning.md):

| noise or feature              | clean_text                                        | feature_text               |
|-------------------------------|---------------------------------------------------|----------------------------|
| HTML entities `&amp;`         | unescaped once (`&amp;lt;` -> `&lt;`, not `<`)    | same                       |
| emojis, pictographs           | removed, listed in `emojis` (one per sequence)    | removed                    |
| controls, zero-width, PUA     | removed, then NFKC (fancy/fullwidth -> plain)     | same                       |
| retweet marker `RT @user:`    | removed (also `RT@u`, `RT “@u:`, `RT user:`)      | removed                    |
| URLs, cut-off `https…`        | removed, counted in `n_urls`                      | removed                    |
| e-mail addresses              | removed (personal data, no topic)                 | removed                    |
| `@mentions`                   | removed, counted in `n_mentions`; `tod@s`->`todos`| removed                    |
| `#hashtags`                   | `#` dropped, `#MalServicio` -> `mal servicio`     | same                       |
| case                          | lower                                             | lower                      |
| elongation (3+ same letter)   | run -> 1 or 2 letters, the more frequent spelling | same                       |
| laughter, `!!!`, `.....`      | `jaja`/`haha`, `!`, `...`                         | punctuation dropped        |
| whitespace                    | collapsed, trimmed                                | same                       |
| stop words                    | kept                                              | spaCy's minus SIGNAL_WORDS |
| punctuation, 1-letter tokens  | kept                                              | dropped                    |
| inflection                    | kept                                              | guarded lookup lemma       |
| numbers `2,000`, `10:30`      | kept                                              | `_num_`                    |
| accents                       | kept                                              | stripped, except `ñ`       |

Language "other" (and a missing or unknown `lang`) uses spaCy's multilingual "xx" tokenizer, no lemmas,
and the Spanish and English stop words together. A message left without content words keeps its row with
`feature_text == ""` and `n_tokens == 0`: rows in = rows out, in input order, index kept.
"""
from __future__ import annotations

import gzip
import html
import importlib.abc
import json
import marshal
import multiprocessing
import os
import re
import sys
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from itertools import chain, product
from typing import Iterable, NamedTuple

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


class _NoTorch(importlib.abc.MetaPathFinder):
    """An import finder that answers every `import torch...` with ModuleNotFoundError."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("torch is hidden while spaCy loads", name=name)
        return None


@contextmanager
def torch_hidden():
    """`import torch` fails inside the block (unless torch is loaded already); torch is importable again after."""
    # A finder, not sys.modules["torch"] = None: array-api helpers in SciPy read any torch entry as the module.
    finder = _NoTorch()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


# thinc (under spaCy) imports torch whenever it is installed: 2.8 s and 400 MiB in every process that cleans, for
# blank pipelines that run no torch layer. With torch hidden while spaCy loads, thinc records it as absent and never
# imports it; a process can still import torch itself later (the embedding featurizers do).
with torch_hidden():
    import spacy
    import spacy_lookups_data
    from spacy.lang.en.stop_words import STOP_WORDS as EN_STOP_WORDS
    from spacy.lang.es.stop_words import STOP_WORDS as ES_STOP_WORDS
    from spacy.language import Language

from processing.contract import LANGUAGES
from processing.storage import atomic_output, cache_root

LEXICON_CACHE = "lexicons"  # in cache_root(): the elongation lexicons, filtered, and the lemma tables (lexicon_table)
OUTPUT_COLUMNS = ("clean_text", "feature_text", "tokens", "lemmas", "n_tokens", "emojis", "n_urls", "n_mentions")
FALLBACK_LANG = "other"
NUMBER_TOKEN = "_num_"  # matches sklearn's default token_pattern (\b\w\w+\b) as one token

# Words spaCy lists as stop words that carry the signal of support messages and complaints: negations
# ("card not working"), evaluatives ("#MalServicio"), and domain words ("top up", "cuenta" the account,
# "llegó tarde", "tarjeta nueva"; English "new" and "late" are not stop words either).
SIGNAL_WORDS = frozenset({
    "no", "not", "n't", "n’t", "never", "nothing", "nobody", "none", "nor", "without", "cannot",
    "nunca", "nada", "nadie", "ni", "ningún", "ninguno", "ninguna", "sin", "tampoco",
    "mal", "bien", "mejor", "peor", "buen", "bueno", "buena", "buenos", "buenas",
    "top", "amount", "call", "name", "back", "empty", "full", "show", "move",
    "cuenta", "tarde", "nuevo", "nueva", "nuevos", "nuevas",
})

# n_process="auto" (opt-in) starts one worker per this many messages, up to the usable CPUs. A worker costs
# ~40 ms (fork, results handed back) against ~15-55 us of cleaning per message (warm token cache), so with a
# truly free core it would break even near 1,000-3,000 messages. The default stays 1 process: on the 2-vCPU
# development machine two processes measured 0.75-0.94x of one (docs/cleaning.md, benchmarks/cleaning.py).
PARALLEL_MIN_MESSAGES = 5_000

# --- regexes, compiled once -------------------------------------------------------------------------------
# Retweet markers: "RT @user:", "RT@user", "RT “@user:", and the old manual "RT user:" (uppercase only).
_RETWEET = re.compile(r"(?<!\w)(?:(?i:rt)\s*[\"“]?@\w+|RT\s+\w+(?=:))\s*:?")
_URL = re.compile(
    r"(?:https?://|www\.)\S+|\b(?:[a-z0-9-]+\.)+[a-z]{2,}/\S*"
    r"|\bh(?:t(?:t(?:ps?)?)?)?(?::/*\S*)?(?:\.\.\.|…)(?!\S)",  # a link cut off by a retweet: "https…"
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_MENTION = re.compile(r"(?<![\w@])@\w+")  # ".@user" counts too; e-mails are gone by then
_INCLUSIVE_AT = re.compile(r"(?<=[^\W\d_])@(?=s?\b)")  # Spanish "tod@s", "amig@s", "l@s" -> "todos"
_HASHTAG = re.compile(r"(?<!&)#(\w+)")  # glued tags count too: "#PedroCV#PSOE"
_STRAY_MARK = re.compile(r"[#@]+(?!\w)")  # debris of cut-off tags and "@ place" check-ins
_UPPER, _LOWER = "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ"
_CAMEL_BOUNDARY = re.compile(
    f"(?<=[{_LOWER}])(?=[{_UPPER}])|(?<=[{_UPPER}])(?=[{_UPPER}][{_LOWER}])"  # MalServicio, BBCNews
    f"|(?<=[{_LOWER}{_UPPER}])(?=\\d)"  # Generales2015 (digits then letters stay: 20D)
)
# Invisible or unprintable: C0/C1 controls (mis-decoded cp1252 quotes), zero-width marks, BOM, private use.
_JUNK = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2060\ufeff\ufe0e\ufe0f"
                   "\ue000-\uf8ff\U000f0000-\U0010ffff]")
_SPACE_BEFORE_CLOSING = re.compile(r"\s+(?=[.,;:!?…)\]}»”])")
_LEADING_PUNCT = re.compile(r"^[\s.,;:\-]+")

# Emoji: pictographs, dingbats, arrows, shapes; keycaps and flag pairs first; modifiers and ZWJ sequences
# stay attached so "👍🏽" and "👨‍👩‍👧" are one emoji each.
_PICTO = ("\U0001F000-\U0001FAFF\u2600-\u27BF\u2300-\u23FF\u2B00-\u2BFF\u2190-\u21FF\u25A0-\u25FF"
          "\u3030\u303D\u3297\u3299\u00A9\u00AE\u203C\u2049\u2122\u2139")
_EMOJI_MOD = "\uFE0E\uFE0F\u20E3\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F"
_EMOJI = re.compile(
    f"[\U0001F1E6-\U0001F1FF]{{2}}|[0-9#*]\uFE0F?\u20E3"
    f"|[{_PICTO}][{_EMOJI_MOD}]*(?:\u200D[{_PICTO}][{_EMOJI_MOD}]*)*"
)

_ELONGATED_WORD = re.compile(r"[^\W\d_]*([^\W\d_])\1{2,}[^\W\d_]*")
_LETTER_RUN = re.compile(r"([^\W\d_])\1{2,}")
_LAUGHTER = re.compile(r"\b([jh])([aeiou])(?:\1\2)+\1?\b")
_LAUGHTER_HINT = re.compile(r"([jh][aeiou])\1")  # in every _LAUGHTER match, and much cheaper to search for
_REPEATED_MARK = re.compile(r"([!?¡¿])\1+")
_LONG_ELLIPSIS = re.compile(r"\.{4,}")
_NUMBER = re.compile(r"^\d+(?:[.,:/]\d+)*$")
_ALNUM = re.compile(r"[^\W_]")

MAX_ELONGATION_RUNS = 4  # 2**4 candidate spellings at most; beyond that every run collapses to one letter


def _accent_table() -> dict[int, str]:
    """str.translate table mapping accented Latin letters to their base letter, leaving ñ/Ñ alone."""
    table = {}
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFD", char)[0]
        if char not in "ñÑ" and base != char and base.isascii():
            table[code] = base
    return table


_ACCENTS = _accent_table()


# --- text normalisation (pure, per message) -------------------------------------------------------------
class NormalisedText(NamedTuple):
    """Result of normalising one message before tokenisation."""
    clean_text: str
    emojis: list[str]
    n_urls: int
    n_mentions: int


def split_hashtag(body: str) -> str:
    """Hashtag body to words: CamelCase and underscores split ("MalServicio" -> "Mal Servicio")."""
    return _CAMEL_BOUNDARY.sub(" ", body.replace("_", " "))


def strip_accents(text: str) -> str:
    """Drop acute/grave/diaeresis/circumflex marks, keep ñ ("información" -> "informacion", "año" stays)."""
    return text.translate(_ACCENTS)


@lru_cache(maxsize=None)
def word_log_probs(lang: str) -> dict[str, float]:
    """Lowercase word -> log-probability from spacy-lookups-data's lexeme_prob table ("other": es and en)."""
    if lang not in ("es", "en"):
        merged = dict(word_log_probs("en"))
        for word, prob in word_log_probs("es").items():
            merged[word] = max(prob, merged.get(word, prob))
        return merged
    # The filtered table as plain JSON reads in 0.3 s instead of 1.8 s from the package's gzipped million words.
    return lexicon_table(f"{lang}-lexeme-prob", lambda: _lexeme_probs(lang))


def _lexeme_probs(lang: str) -> dict[str, float]:
    with gzip.open(spacy_lookups_data.get_file(f"{lang}_lexeme_prob.json.gz"), "rt", encoding="utf-8") as handle:
        probs = json.load(handle)
    return {word: prob for word, prob in probs.items() if word.isalpha() and word.islower()}


def lexicon_table(name: str, build) -> dict:
    """A word table from spacy-lookups-data, kept in cache_root()/lexicons (per package and Python version) in
    Python's marshal format: read back when it holds a dict, else `build()` and written (a cache that cannot be
    written costs time). marshal reads the four tables in half JSON's time (0.5 vs 1.1 s per process); the file is
    this machine's own derived cache, like numba's, and one that fails to read is built again."""
    python = f"py{sys.version_info.major}{sys.version_info.minor}"  # marshal's format may change between versions
    cached = cache_root() / LEXICON_CACHE / f"{name}-{metadata.version('spacy-lookups-data')}-{python}.marshal"
    try:
        table = marshal.loads(cached.read_bytes())
        if isinstance(table, dict):
            return table
    except (OSError, ValueError, EOFError, TypeError):
        pass  # not written yet, or unreadable: build it again
    table = build()
    try:
        with atomic_output(cached) as tmp:
            tmp.write_bytes(marshal.dumps(table))
    except OSError:
        pass
    return table


@lru_cache(maxsize=None)
def lemma_lookup(lang: str) -> dict:
    """Form -> lemma: spaCy's lookup-lemmatizer table for es/en (spacy-lookups-data's lemma_lookup), as a dict.

    spaCy's lookup lemmatizer answers `table.get(token.text, token.text)` from a Table that hashes each of the
    half-million Spanish keys on load (1.4 s per process); a dict keyed by the same strings answers the same. It
    is used only when no two keys share a spaCy string id (checked when the cache is built; else the Table)."""
    table = lexicon_table(f"{lang}-lemma-lookup", lambda: _lemma_lookup_data(lang))
    return table if table else load_pipeline(lang, lemmatizer=True).get_pipe("lemmatizer").lookups.get_table(
        "lemma_lookup")


def _lemma_lookup_data(lang: str) -> dict:
    from spacy.strings import get_string_id
    from spacy.util import load_language_data, registry

    data = load_language_data(registry.lookups.get(lang)["lemma_lookup"])
    # A Table keys by string id: two keys with one id would keep only the later value, which a dict would not.
    return data if len({get_string_id(key) for key in data}) == len(data) else {}


def _collapse_word(word: str, lang: str) -> str:
    """One elongated word to its most frequent spelling with each 3+ run as 1 or 2 letters."""
    parts = _LETTER_RUN.split(word)  # [prefix, letter, middle, letter, ..., suffix]
    letters = parts[1::2]
    if len(letters) > MAX_ELONGATION_RUNS:
        return _LETTER_RUN.sub(r"\1", word)
    probs = word_log_probs(lang)
    best, best_prob = _LETTER_RUN.sub(r"\1", word), float("-inf")
    for repeats in product((1, 2), repeat=len(letters)):
        candidate = parts[0] + "".join(letter * n + rest for letter, n, rest in zip(letters, repeats, parts[2::2]))
        prob = probs.get(candidate, float("-inf"))
        if prob > best_prob:  # strict: ties keep the earlier (shorter) candidate, deterministic
            best, best_prob = candidate, prob
    return best


def collapse_elongations(text: str, lang: str) -> str:
    """Collapse letters repeated 3+ times ("holaaaa" -> "hola", "goooood" -> "good"); doubles are untouched."""
    return _ELONGATED_WORD.sub(lambda match: _collapse_word(match.group(0), lang), text)


def _may_hold_url(text: str) -> bool:
    """False only when _URL cannot match: each of its forms needs "/", "www." (any case), "..." or "…"."""
    return "/" in text or "…" in text or ("." in text and ("..." in text or "www." in text.lower()))


def normalise_text(text: str, lang: str = FALLBACK_LANG) -> NormalisedText:
    """Apply the normalisation policy (module docstring) to one raw message.

    A pass runs only when the text holds what its pattern needs (no "@": no mention, e-mail or retweet marker;
    ASCII: no emoji), so skipping it cannot change the result; most messages skip most passes.
    """
    # Once: tweets arrive escaped once, so `&amp;lt;` is what the author typed (`&lt;`); a second unescape would
    # turn typed entities into markup (`&amp;lt;script&amp;gt;` -> `<script>`) in text that reports display.
    text = html.unescape(text)
    if text.isascii():  # every emoji pattern needs a non-ASCII character, and NFKC leaves ASCII as it is
        emojis = []
        if not text.isprintable():  # the ASCII junk is control characters
            text = _JUNK.sub("", text)
    else:
        emojis = _EMOJI.findall(text)  # before NFKC, which would turn the "™" emoji into letters
        if emojis:
            text = _EMOJI.sub(" ", text)
        text = _JUNK.sub("", text).replace("´", "'")  # NFKC would turn "´" (used as apostrophe) into " ́"
        text = unicodedata.normalize("NFKC", text)
    n_urls = n_mentions = 0
    if "@" in text or "RT" in text:
        text = _RETWEET.sub(" ", text)
    if _may_hold_url(text):
        text, n_urls = _URL.subn(" ", text)
    if "@" in text:
        text = _EMAIL.sub(" ", text)
        text, n_mentions = _MENTION.subn(" ", text)
        text = _INCLUSIVE_AT.sub("o", text)
    if "#" in text:
        text = _HASHTAG.sub(lambda match: " " + split_hashtag(match.group(1)), text)
    if "#" in text or "@" in text:
        text = _STRAY_MARK.sub(" ", text)
    text = text.lower()
    if _LETTER_RUN.search(text):  # every elongated word holds a run of 3+ letters; the search is 4x cheaper
        text = collapse_elongations(text, lang)
    if _LAUGHTER_HINT.search(text):
        text = _LAUGHTER.sub(r"\1\2\1\2", text)
    if "!!" in text or "??" in text or "¡¡" in text or "¿¿" in text:
        text = _REPEATED_MARK.sub(r"\1", text)
    if "...." in text:
        text = _LONG_ELLIPSIS.sub("...", text)
    # str.split() splits on exactly the characters \s matches (str.isspace), and the leading and trailing spaces
    # the regex pass left were removed by the next two steps anyway.
    text = " ".join(text.split())
    text = _LEADING_PUNCT.sub("", _SPACE_BEFORE_CLOSING.sub("", text)).strip()
    return NormalisedText(text, emojis, n_urls, n_mentions)


# --- spaCy pipelines (loaded once per process) ----------------------------------------------------------
@lru_cache(maxsize=None)
def load_pipeline(lang: str, lemmatizer: bool = False) -> Language:
    """Blank spaCy pipeline (its tokenizer) for es/en; "other" gets the bare "xx" one. Lemmas come from
    `lemma_lookup`; with `lemmatizer` the pipeline carries spaCy's offline lookup lemmatizer itself."""
    if lang not in ("es", "en"):
        return spacy.blank("xx")
    nlp = spacy.blank(lang)
    if lemmatizer:
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()  # loads lemma_lookup from spacy-lookups-data; no network
    return nlp


@lru_cache(maxsize=None)
def stop_words(lang: str, keep: frozenset[str] = SIGNAL_WORDS) -> frozenset[str]:
    """spaCy's stop words for the language (es+en for "other"), minus the words in `keep`."""
    words = {"es": ES_STOP_WORDS, "en": EN_STOP_WORDS}.get(lang, ES_STOP_WORDS | EN_STOP_WORDS)
    return frozenset(words) - keep


class LemmaRules(NamedTuple):
    """What a language's lookup lemmas are checked against (see `_lemma`)."""
    table: object | None  # spaCy lookups Table (form -> lemma); None: no lemmas ("other")
    headwords: frozenset[str]  # every lemma the table knows
    headword_exempt: re.Pattern | None  # headword forms lemmatised anyway
    infinitive: re.Pattern | None  # lemmas that are verbs' infinitives ...
    verb_form: re.Pattern | None  # ... accepted only for forms that can only be verbs


# English -ing/-ed forms are headwords too ("working", "used") but their lookup lemma is the right merge.
_REGULAR_EN_FORM = re.compile(r"(?:ing|ed)$")
_ES_INFINITIVE = re.compile(r"(?:ar|er|ir|ír)(?:se)?$")
# Spanish endings no noun or adjective has: gerunds, preterite, imperfect, future, conditional, 1st/2nd
# plural, 3rd plural, infinitives with clitics. Left out: -a/-o/-e(s), participles (casa, partido, medidas).
_ES_VERB_FORM = re.compile(
    r"(?:ando|iendo|yendo|ándo\w+|iéndo\w+|aron|ieron|eron|aste|iste|asteis|isteis|[óé]"
    r"|aba|abas|ábamos|abais|aban|ía|ías|íamos|íais|ían|ré|rás|rá|remos|réis|rán|ría|rías|ríamos|rían"
    r"|ara|aras|áramos|aran|iera|ieras|iéramos|ieran|ase|iese|asen|iesen"
    r"|amos|emos|imos|áis|éis|an|en|[aeií]r(?:me|te|se|le|les|lo|los|la|las|nos|os)+)$"
)


@lru_cache(maxsize=None)
def lemma_rules(lang: str) -> LemmaRules:
    """The lookup table of the language's pipeline with the checks its lemmas get; empty for "other"."""
    if lang not in ("es", "en"):
        return LemmaRules(None, frozenset(), None, None, None)
    table = lemma_lookup(lang)
    if lang == "en":
        return LemmaRules(table, frozenset(table.values()), _REGULAR_EN_FORM, None, None)
    return LemmaRules(table, frozenset(table.values()), None, _ES_INFINITIVE, _ES_VERB_FORM)


def _lemma(word: str, lookup_lemma: str, rules: LemmaRules, keep: frozenset[str]) -> str:
    """The lemma used for features: spaCy's lookup lemma unless the policy keeps the word as written.

    The tables ignore part of speech and often give a noun a verb's or an adjective's lemma: "paro" ->
    "parir", "partido" -> "partir", "cara" -> "caro", "number" -> "numb", "pago" -> "pagar" while "pagos" ->
    "pago". So a word that is itself a headword stays (English -ing/-ed forms excepted); in Spanish an
    infinitive lemma is taken only for a form that can only be a verb ("llegaron" -> "llegar", "casa"
    stays) and a feminine word keeps its gender ("ideas" -> "idea", not "ideo"). Kept stop words stay
    ("nada" is not "nadar") unless their lemma is kept too ("n't" -> "not"). A word the table misses
    because of a typo'd accent ("tárjetas") is retried without it.
    """
    if rules.table is None or (word in keep and lookup_lemma not in keep):
        return word
    if lookup_lemma == word and not word.isascii():
        lookup_lemma = rules.table.get(strip_accents(word), word)
    if lookup_lemma == word:
        return word
    if word in rules.headwords and not (rules.headword_exempt and rules.headword_exempt.search(word)):
        return word
    if rules.infinitive is not None:  # Spanish
        if rules.infinitive.search(lookup_lemma) and not rules.verb_form.search(word):
            return word
        singular = word[:-1] if word.endswith("as") else word
        if singular.endswith("a") and lookup_lemma == singular[:-1] + "o":
            return singular
    return lookup_lemma


def _content_word(tok, lemmatize, stops: frozenset[str], rules: LemmaRules,
                  keep: frozenset[str]) -> tuple[str, str] | None:
    """(word, lemma) of a content token; None for a stop word (as written or as lemma), punctuation, symbol
    or single letter. `lemmatize`: the language's lemma_lookup table (None for "other", which has no lemmas)."""
    word = tok.lower_
    if tok.is_punct or tok.is_space or word in stops or not _ALNUM.search(word):
        return None
    if len(word) < 2 and not word.isdigit():
        return None
    lookup_lemma = lemmatize.get(tok.text, tok.text).lower() if lemmatize is not None else ""
    lemma = _lemma(word, lookup_lemma or word, rules, keep)
    if lemma in stops:  # "made" -> "make": a stop word's forms go with it
        return None
    return word, lemma


def feature_text(lemmas: Iterable[str], number_token: str = NUMBER_TOKEN) -> str:
    """Lemmas to the vectorizer's input: numbers to one token, accents stripped, space-joined."""
    return " ".join(number_token if _NUMBER.match(lemma) else strip_accents(lemma) for lemma in lemmas)


def preload(langs: Iterable[str] = LANGUAGES) -> None:
    """Load the pipelines and elongation lexicons of `langs` now (else on first use), e.g. before forking."""
    for lang in langs:
        load_pipeline(lang)
        lemma_rules(lang)  # loads the lemma table
        word_log_probs(lang)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_n_process(n_process: int | str, n_messages: int) -> int:
    """Worker processes: an int as given; "auto" -> one per PARALLEL_MIN_MESSAGES messages, up to the CPUs."""
    if n_process == "auto":
        return max(1, min(usable_cpus(), n_messages // PARALLEL_MIN_MESSAGES))
    if isinstance(n_process, bool) or not isinstance(n_process, int) or n_process < 1:
        raise ValueError(f"n_process must be a positive int or 'auto', got {n_process!r}")
    return n_process


class ChunkTokens(NamedTuple):
    """The token stage's result for a clean text or a space-free chunk of one, columns already space-joined."""
    tokens: str
    lemmas: str
    feature_text: str
    n_tokens: int


# The token stage is cached per space-separated chunk of clean_text. spaCy's tokenizer splits a text on
# whitespace first and tokenizes each chunk on its own (prefixes, suffixes, infixes, exceptions; the only xx/es/en
# exceptions holding a space, "EE. UU." and "Ee. Uu.", cannot occur in lower-case text), and everything
# _content_word reads (lower_, is_punct, is_space, the lookup lemma) depends on a token's text alone. So a
# message's tokens and lemmas are the concatenation of its chunks', and spaCy only runs on chunks not seen before,
# joined into long texts: a Doc costs ~35 us to make, so one Doc serves thousands of chunks. Checked against the
# per-message cleaner on all of ../shared/data (benchmarks/cleaning.py --check) and by property tests that mix in
# spaCy's special cases (tests/processing/test_clean_equivalence.py); docs/cleaning.md has the figures.
# Per language and setting; cleared (with its words) when full. Measured ~800 bytes an entry with its words
# and spaCy's new lexemes, so at most ~80 MB a language, while 100,000 distinct words cover most of a language.
CHUNK_CACHE_MAX_ENTRIES = 100_000
CACHE_BLOCK_MESSAGES = 8_192  # messages whose new chunks are tokenized together (bounds a block's new chunks)
CHUNKS_TEXT_CHARS = 20_000  # new chunks are joined by spaces into texts of about this size


class TokenCache(NamedTuple):
    """Cached token-stage results of one language and setting: per chunk, and per token text."""
    chunks: dict[str, ChunkTokens]
    words: dict[str, tuple[str, str] | None]  # token text -> _content_word's result


_token_caches: dict[tuple[str, frozenset[str], str], TokenCache] = {}


def token_cache(lang: str, keep: frozenset[str], number_token: str) -> TokenCache:
    """The process's token cache for one language and one keep_words/number_token setting."""
    return _token_caches.setdefault((lang, keep, number_token), TokenCache({}, {}))


def clear_token_caches() -> None:
    """Forget every cached chunk and word (results never depend on the caches; this only frees memory)."""
    _token_caches.clear()


def _joined_chunks(chunks: list[str], max_chars: int = CHUNKS_TEXT_CHARS) -> Iterable[tuple[list[str], str]]:
    """Consecutive groups of chunks with their space-joined text, each text at most about `max_chars` long."""
    start, size = 0, 0
    for end, chunk in enumerate(chunks):
        if size and size + len(chunk) > max_chars:
            yield chunks[start:end], " ".join(chunks[start:end])
            start, size = end, 0
        size += len(chunk) + 1
    if start < len(chunks):
        yield chunks[start:], " ".join(chunks[start:])


def _tokenize_chunks(chunks: list[str], lang: str, keep: frozenset[str], number_token: str,
                     cache: TokenCache, batch_size: int) -> Iterable[tuple[str, ChunkTokens]]:
    """(chunk, ChunkTokens) for space-free chunks; spaCy's tokenizer runs once per group of chunks joined by spaces
    and each distinct token text is judged once (`cache.words`)."""
    nlp = load_pipeline(lang)
    stops, rules, words = stop_words(lang, keep), lemma_rules(lang), cache.words
    lemmatize = rules.table  # what spaCy's lookup lemmatizer reads: token text -> lemma
    groups = list(_joined_chunks(chunks))
    for (group, _), doc in zip(groups, nlp.tokenizer.pipe((text for _, text in groups), batch_size=batch_size)):
        k, tokens, lemmas = 0, [], []
        for tok in doc:
            text = tok.text
            content = words[text] if text in words else words.setdefault(
                text, _content_word(tok, lemmatize, stops, rules, keep))
            if content is not None:
                tokens.append(content[0])
                lemmas.append(content[1])
            if tok.whitespace_:  # the end of a chunk
                yield group[k], ChunkTokens(" ".join(tokens), " ".join(lemmas), feature_text(lemmas, number_token),
                                            len(tokens))
                k, tokens, lemmas = k + 1, [], []
        if k != len(group) - 1:
            raise AssertionError(f"spaCy split {len(group)} space-separated chunks into {k + 1}")
        yield group[k], ChunkTokens(" ".join(tokens), " ".join(lemmas), feature_text(lemmas, number_token),
                                    len(tokens))


_NO_TOKENS = ChunkTokens("", "", "", 0)


def _token_rows(clean_texts: list[str], lang: str, keep: frozenset[str], number_token: str,
                batch_size: int) -> list[ChunkTokens]:
    """ChunkTokens of whole clean texts of one language (each the concatenation of its chunks')."""
    nlp = load_pipeline(lang)
    for text in clean_texts:
        if len(text) > nlp.max_length:
            nlp.make_doc(text)  # raises spaCy's own error for an over-long text, as nlp.pipe on it did
    cache = token_cache(lang, keep, number_token)
    rows = []
    for block_start in range(0, len(clean_texts), CACHE_BLOCK_MESSAGES):
        chunked = [text.split(" ") if text else [] for text in
                   clean_texts[block_start:block_start + CACHE_BLOCK_MESSAGES]]
        distinct = dict.fromkeys(chain.from_iterable(chunked))  # in order of first use
        if len(cache.chunks) + len(distinct) > CHUNK_CACHE_MAX_ENTRIES:
            cache.chunks.clear()
            cache.words.clear()
        new = [chunk for chunk in distinct if chunk not in cache.chunks]
        cache.chunks.update(_tokenize_chunks(new, lang, keep, number_token, cache, batch_size))
        cached = cache.chunks.__getitem__
        for chunks in chunked:
            if len(chunks) == 1:
                rows.append(cached(chunks[0]))
            elif not chunks:
                rows.append(_NO_TOKENS)
            else:  # a chunk may contribute no token: filter(None, ...) drops its empty strings
                tokens, lemmas, features, counts = zip(*map(cached, chunks))
                rows.append(ChunkTokens(" ".join(filter(None, tokens)), " ".join(filter(None, lemmas)),
                                        " ".join(filter(None, features)), sum(counts)))
    return rows


def clean_columns(texts: list[str], langs: list[str], batch_size: int = 512, keep_words: frozenset[str] = SIGNAL_WORDS,
                  number_token: str = NUMBER_TOKEN) -> dict[str, list]:
    """Clean messages in one process: OUTPUT_COLUMNS as lists aligned with `texts` (input order)."""
    normalised = [normalise_text(text, lang) for text, lang in zip(texts, langs)]
    clean_texts = [n.clean_text for n in normalised]
    rows: list = [None] * len(texts)
    keep = frozenset(keep_words)
    for lang in sorted(set(langs)):  # one pass per language, results written back to their positions
        positions = [i for i, row_lang in enumerate(langs) if row_lang == lang]
        lang_rows = _token_rows([clean_texts[i] for i in positions], lang, keep, number_token, batch_size)
        for i, row in zip(positions, lang_rows):
            rows[i] = row
    return {
        "clean_text": clean_texts,
        "feature_text": [row.feature_text for row in rows],
        "tokens": [row.tokens for row in rows],  # spaCy tokens hold no spaces: str.split() restores them
        "lemmas": [row.lemmas for row in rows],
        "n_tokens": [row.n_tokens for row in rows],
        "emojis": [" ".join(n.emojis) for n in normalised],
        "n_urls": [n.n_urls for n in normalised],
        "n_mentions": [n.n_mentions for n in normalised],
    }


def _clean_chunk(chunk: tuple[list[str], list[str], dict]) -> dict[str, list]:
    """Process-pool entry point: clean_columns on one (texts, langs, params) chunk."""
    texts, langs, params = chunk
    return clean_columns(texts, langs, **params)


def _clean_columns_parallel(texts: list[str], langs: list[str], n_process: int, **params) -> dict[str, list]:
    """clean_columns over contiguous chunks in `n_process` workers, concatenated back in input order.

    Cleaning is per message, so chunking cannot change any result. Pipelines and lexicons are loaded in
    the parent first: forked workers inherit them instead of paying the load each.
    """
    preload(set(langs))
    n_chunks = n_process * 4  # a few chunks per worker evens out uneven message lengths
    bounds = [round(k * len(texts) / n_chunks) for k in range(n_chunks + 1)]
    chunks = [(texts[a:b], langs[a:b], params) for a, b in zip(bounds, bounds[1:]) if b > a]
    # fork only on Linux: macOS and Windows workers spawn afresh and load the pipelines themselves.
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ProcessPoolExecutor(max_workers=n_process, mp_context=context) as pool:
        parts = list(pool.map(_clean_chunk, chunks))  # map keeps chunk order
    return {column: [value for part in parts for value in part[column]] for column in OUTPUT_COLUMNS}


# --- public API -----------------------------------------------------------------------------------------
class TextCleaner(BaseEstimator, TransformerMixin):
    """Stateless cleaner: `transform(df)` adds OUTPUT_COLUMNS to a frame with `text` and optional `lang`.

    batch_size: texts per `nlp.pipe` batch. n_process: worker processes (int, default 1) or "auto" (one
    per PARALLEL_MIN_MESSAGES messages, up to the usable CPUs). keep_words: stop words kept as signal.
    number_token: what numbers become in feature_text.
    """

    def __init__(self, batch_size: int = 512, n_process: int | str = 1,
                 keep_words: frozenset[str] = SIGNAL_WORDS, number_token: str = NUMBER_TOKEN):
        self.batch_size = batch_size
        self.n_process = n_process
        self.keep_words = keep_words
        self.number_token = number_token

    def fit(self, X: pd.DataFrame, y=None) -> "TextCleaner":
        """Nothing to learn; present for scikit-learn compatibility."""
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Copy of X with OUTPUT_COLUMNS added: same rows, same order, same index."""
        if "text" not in X.columns:
            raise KeyError("input frame needs a 'text' column")
        texts = X["text"].fillna("").astype(str).tolist()
        langs = _languages(X)
        params = {"batch_size": self.batch_size, "keep_words": frozenset(self.keep_words),
                  "number_token": self.number_token}
        n_process = resolve_n_process(self.n_process, len(texts))
        if n_process > 1 and len(texts) > 1:
            columns = _clean_columns_parallel(texts, langs, n_process, **params)
        else:
            columns = clean_columns(texts, langs, **params)
        out = X.copy()
        for column in OUTPUT_COLUMNS:
            out[column] = columns[column]
        if len(out) != len(X) or not out.index.equals(X.index):
            raise AssertionError(f"cleaning changed the rows: {len(X)} in, {len(out)} out")
        return out


def _languages(X: pd.DataFrame) -> list[str]:
    """Per-row language; a missing column, null or value outside es/en maps to the fallback "other"."""
    if "lang" not in X.columns:
        return [FALLBACK_LANG] * len(X)
    known = set(LANGUAGES) - {FALLBACK_LANG}
    return [lang if lang in known else FALLBACK_LANG for lang in X["lang"].tolist()]


def clean_messages(df: pd.DataFrame, **params) -> pd.DataFrame:
    """Functional form of `TextCleaner(**params).transform(df)`."""
    return TextCleaner(**params).transform(df)
