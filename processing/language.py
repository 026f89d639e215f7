"""A light, dependency-free Spanish/English detector for short noisy messages (tweets, chats, reviews).

Rule, in order:
1. URLs, @mentions and #hashtags are removed first: they are names, not language.
2. A text whose letters are mostly outside the Latin script (Cyrillic, Arabic, CJK, ...) is "other".
3. Every remaining word scores for the languages whose function words it is (es, en, and a short list of
   French, Portuguese, Italian, German and Dutch words); words outside the lists score by telling endings
   (-ción, -ing, -ção, -ung, ...) and the text by telling characters (ñ ¿ ¡ for es, ã õ for pt, ß ä ö for de...).
4. "other" is returned only on positive evidence: another language must score strictly higher than both es
   and en (and at least one whole word). Otherwise the higher of es and en wins.
5. With no evidence at all (or an exact es/en tie, e.g. "ok 👍", "12:30", "@bank"), a single text gets
   `default` ("en" unless told). A batch (`detect_languages`) gives such texts the language most of its
   decided texts have (es or en, "en" on a tie), because messages in one batch usually share a language.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

ES, EN, OTHER = "es", "en", "other"
# Score slots: es and en first, then the "other" languages the lists know.
_LANGS = ("es", "en", "fr", "pt", "it", "de", "nl")
_SLOT = {lang: slot for slot, lang in enumerate(_LANGS)}

_STRIP_RE = re.compile(r"https?://\S*|\bwww\.\S+|[@#][^\W_]\w*", re.IGNORECASE)
_WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
# Letters outside the Latin script (Latin: ASCII, Latin-1 to Extended-B, Extended Additional, full-width).
_NON_LATIN_LETTER_RE = re.compile(r"[^\W\d_a-zA-Z\u00C0-\u024F\u1E00-\u1EFF\uFF21-\uFF3A\uFF41-\uFF5A]")
_LAUGH_RE = re.compile(r"(?:ja|je|ji)+j?|(?:ha|he)+h?")


def _build_lexicon() -> dict[str, tuple[tuple[int, float], ...]]:
    """Word -> ((language slot, weight), ...); a word shared by languages scores for each of them."""
    lists = [
        # Spanish function words and very common short words (accented and unaccented tweet spellings).
        ("es", 1.0, "el la los las de en del al y es por para con una un uno unos unas muy pero como cómo más "
                    "mas este esta está están esto estos estas eso esa ese esos esas son ser soy eres hay su "
                    "sus yo tú tu mi mis nos les le ya sí si qué que cuando cuándo donde dónde porque porqué "
                    "también tambien todo todos toda todas nada hoy bien gracias hola tiene tienen tengo "
                    "tenemos puede puedo pueden hace hacen hacer pues ni sin sobre entre desde hasta hacia "
                    "ahora así asi fue han ha hemos he estoy estamos va vamos voy vas quiero quiere lo se me "
                    "te él ella ellos ellas usted ustedes nosotros algo mucho mucha muchos poco menos siempre "
                    "nunca aquí aqui ahí allí entonces después despues antes mejor peor cada solo sólo sino "
                    "aunque según durante contra mientras día dia años año vez gente dice dijo tener estar "
                    "ver sido era eran tan tanto otro otra otros otras mismo misma sea será creo necesito mí "
                    "ti cual cuál quien quién cuánto cuanto buenos buenas bueno buena ayer mañana favor "
                    "mío tuyo nuestro nuestra vosotros estaba había habia no dos o"),
        # English function words and very common short words.
        ("en", 1.0, "the and to of is are was were be been being have has had do does did don't doesn't "
                    "didn't i i'm i've i'd i'll you your you're yours it it's its we we're our us they "
                    "they're them their this that that's these those what what's how why when where which who "
                    "whom with for on in at by from not can can't cannot will won't would wouldn't should "
                    "could couldn't get got my mine me there there's an or but if so just about still yet "
                    "please thanks thank am any some all out up into than then also only need want know like "
                    "make he she him her his after before because very way one more much many isn't "
                    "aren't wasn't let's here hello hi yes off over under again ever never something anything "
                    "nothing someone anyone everyone why's who's should've whose until while though "
                    "although no lol lmao omg dont cant wont doesnt didnt isnt im ive"),
        ("fr", 1.0, "le les des est et je vous nous il elle ils elles ce cette ces pas avec pour sur dans "
                    "mais ou où très c'est qui au aux du une être avoir sont ont j'ai n'est ne moi toi oui "
                    "merci bonjour fait tout tous plus même aussi leur votre notre vos mon ton sa ses mes été "
                    "était ça encore faire chez rien quoi alors donc parce quand qu'il qu'on d'un d'une la de "
                    "en un si tu entre bien son combien pourquoi"),
        ("pt", 1.0, "o um uma não é em da das dos ontem veio feito feita estava você vocês eu ele ela eles "
                    "elas muito muita pelo pela pelos pelas isso isto são também obrigado obrigada seu sua "
                    "seus suas nós nas nos aqui agora mais ainda quando onde então já só tem tenho ter foi "
                    "está estou vai vou ao aos à às até meu minha esse essa fazer ou coisa hoje bom boa tudo "
                    "nada que de se por para este esta como porque ser sobre entre desde todo tu mas duas"),
        ("it", 1.0, "il lo gli della delle dei degli di che è sono questo questa anche molto ma ho hai ciao "
                    "grazie nel nella alla alle sul sulla più perché cosa essere fare tutto tutti mio mia suo "
                    "noi voi loro hanno ci già ancora sempre la un una del con come se si mi tu su al ha"),
        ("de", 1.0, "der das und ist nicht ich du sie wir ihr ein eine einen einem einer mit auf für zu von "
                    "den dem auch sich aber oder wenn wie wo noch nur schon jetzt hier sehr mein meine dein "
                    "kein keine bist sind haben habe wird werden kann können danke bitte heute gut mir "
                    "mich dich uns euch wurde wurden worden"),
        ("nl", 1.0, "het een niet ik zijn wij jij ook maar voor deze dit heb hebben naar geen nog bij uit"),
        # Words shared with English or frequent in English text: weak votes only.
        ("de", 0.5, "die es in am an also so"),
        ("it", 0.5, "in i io"),  # "io": also I/O in technical text
        ("nl", 0.5, "van in is"),
        ("fr", 0.5, "on"),
        ("pt", 0.5, "do e ja os com sem na"),
        ("it", 0.5, "per non"),
        ("de", 0.5, "ja bin"),
        ("es", 1.0, "ja"),  # "JA JA JA" is Spanish laughter far more often than German/Portuguese "yes"
        ("it", 0.3, "e"),
    ]
    merged: dict[str, dict[int, float]] = {}
    for lang, weight, text in lists:
        for word in text.split():
            slots = merged.setdefault(word, {})
            slots[_SLOT[lang]] = max(slots.get(_SLOT[lang], 0.0), weight)
    # A word that is also Spanish or English is weak evidence for another language ("que", "de", "por").
    for slots in merged.values():
        if _SLOT["es"] in slots or _SLOT["en"] in slots:
            for slot in slots:
                if slot > _SLOT["en"]:
                    slots[slot] *= 0.5
    return {word: tuple(slots.items()) for word, slots in merged.items()}


_LEXICON = _build_lexicon()


def _votes(**weights: float) -> tuple[tuple[int, float], ...]:
    return tuple((_SLOT[lang], weight) for lang, weight in weights.items())


# Telling word endings, looked up for words outside the lexicon (last 5, 4, 3 or 2 letters).
_SUFFIXES = {
    "ción": _votes(es=1.0), "cion": _votes(es=0.7), "iones": _votes(es=1.0), "idad": _votes(es=1.0),
    "dades": _votes(es=1.0), "ísimo": _votes(es=1.0), "iendo": _votes(es=1.0),
    "amos": _votes(es=0.5, pt=0.3), "ando": _votes(es=0.5, pt=0.3, it=0.3),
    "ado": _votes(es=0.4, pt=0.3), "ada": _votes(es=0.4, pt=0.3), "ido": _votes(es=0.4, pt=0.3),
    "ing": _votes(en=1.0), "tion": _votes(en=0.7, fr=0.4), "tions": _votes(en=0.7, fr=0.4),
    "ness": _votes(en=1.0), "ity": _votes(en=0.7), "ly": _votes(en=0.5), "ed": _votes(en=0.4),
    "ght": _votes(en=0.7),
    "ção": _votes(pt=1.5), "ções": _votes(pt=1.5), "zione": _votes(it=1.5), "zioni": _votes(it=1.5),
    "ung": _votes(de=1.0), "ungen": _votes(de=1.5), "keit": _votes(de=1.5), "heit": _votes(de=1.5),
    "lich": _votes(de=1.0), "eux": _votes(fr=1.0), "euse": _votes(fr=1.0),
    "ão": _votes(pt=1.5), "ões": _votes(pt=1.5), "ém": _votes(pt=1.0), "inho": _votes(pt=0.7),
    "inha": _votes(pt=0.7), "inhos": _votes(pt=0.7), "inhas": _votes(pt=0.7),
}
# Telling characters, each counted once per text.
_CHAR_CUES = {
    "ñ": _votes(es=1.0), "¿": _votes(es=1.5), "¡": _votes(es=1.5),
    "á": _votes(es=0.3, pt=0.2), "í": _votes(es=0.3, pt=0.1), "ó": _votes(es=0.3, pt=0.1), "ú": _votes(es=0.3),
    "é": _votes(es=0.2, fr=0.3, pt=0.2),
    "ã": _votes(pt=1.0), "õ": _votes(pt=1.0), "ç": _votes(fr=0.5, pt=0.5), "ê": _votes(fr=0.5, pt=0.5),
    "â": _votes(fr=0.3, pt=0.3), "ô": _votes(fr=0.3, pt=0.3), "à": _votes(fr=0.3, pt=0.3, it=0.3),
    "è": _votes(fr=0.5, it=0.3), "î": _votes(fr=0.5), "û": _votes(fr=0.5), "ë": _votes(fr=0.5),
    "ï": _votes(fr=0.5), "œ": _votes(fr=1.0), "ù": _votes(fr=0.5, it=0.3), "ì": _votes(it=0.5),
    "ò": _votes(it=0.5), "ß": _votes(de=1.0), "ä": _votes(de=1.0), "ö": _votes(de=1.0), "ü": _votes(de=0.5),
}
_CUE_CHARS = frozenset(_CHAR_CUES)
# English contraction tails and French/Italian elided heads for words not in the lexicon.
_EN_TAILS = frozenset(("s", "t", "re", "ll", "ve", "m", "d"))
_ELIDED_HEADS = {"l": _votes(fr=0.7, it=0.5), "d": _votes(fr=0.7, it=0.3), "j": _votes(fr=1.0),
                 "qu": _votes(fr=1.0), "n": _votes(fr=0.7), "c": _votes(fr=0.7), "s": _votes(fr=0.5),
                 "m": _votes(fr=0.5)}
_ES_VOTE, _EN_VOTE = _votes(es=1.0), _votes(en=1.0)
# Votes of the words seen so far (words repeat heavily across messages, Zipf): one dict lookup per word.
_WORD_VOTES: dict[str, tuple[tuple[int, float], ...]] = {}
_MAX_REMEMBERED_WORDS = 1 << 18  # bounded memory on a stream of new words


def detect_language(text: object, default: str = EN) -> str:
    """Language of one short text: "es", "en" or "other"; `default` ("es"/"en") when there is no evidence."""
    default = _check_default(default)
    return _decide(_scores(text)) or default


def detect_languages(texts: Iterable[object], default: str | None = None) -> list[str]:
    """Languages of many texts; undecided ones get `default`, or when None the batch's majority of es/en."""
    if default is not None:
        _check_default(default)
    decided = [_decide(_scores(text)) for text in texts]
    if default is None:
        default = ES if decided.count(ES) > decided.count(EN) else EN
    return [language or default for language in decided]


def _check_default(default: str) -> str:
    if default not in (ES, EN):
        raise ValueError(f"default language must be 'es' or 'en', got {default!r}")
    return default


def _scores(text: object) -> list[float] | None:
    """Evidence per language slot, or None when the text is mostly in a non-Latin script."""
    scores = [0.0] * len(_LANGS)
    if not isinstance(text, str) or not text:
        return scores
    cleaned = text.lower().replace("’", "'")
    if "@" in cleaned or "#" in cleaned or "/" in cleaned or "www." in cleaned:  # skip the regex when it can't match
        cleaned = _STRIP_RE.sub(" ", cleaned)
    words = _WORD_RE.findall(cleaned)
    if not words:
        return scores
    if not cleaned.isascii() and 2 * len(_NON_LATIN_LETTER_RE.findall(cleaned)) > sum(map(len, words)):
        return None
    known = _WORD_VOTES
    for word in words:
        votes = known.get(word)
        if votes is None:
            votes = _word_votes(word)
        for slot, weight in votes:
            scores[slot] += weight
    if not cleaned.isascii():  # every telling character is outside ASCII
        for char in _CUE_CHARS.intersection(cleaned):
            for slot, weight in _CHAR_CUES[char]:
                scores[slot] += weight
    return scores


def _word_votes(word: str) -> tuple[tuple[int, float], ...]:
    """A word's votes (lexicon, else its unlisted-word votes), remembered in _WORD_VOTES up to a bound."""
    votes = _LEXICON.get(word) or _unlisted_word_votes(word)
    if len(_WORD_VOTES) < _MAX_REMEMBERED_WORDS:
        _WORD_VOTES[word] = votes
    return votes


@lru_cache(maxsize=1 << 16)  # words repeat heavily across messages (Zipf); bounded memory
def _unlisted_word_votes(word: str) -> tuple[tuple[int, float], ...]:
    """Votes of a word outside the lexicon: laughter, contractions, elisions, telling endings."""
    if "'" in word:
        head, _, tail = word.partition("'")
        if tail in _EN_TAILS:
            return _EN_VOTE
        return _ELIDED_HEADS.get(head, ()) + _LEXICON.get(tail.split("'")[0], ())
    if len(word) >= 4 and _LAUGH_RE.fullmatch(word):
        return _ES_VOTE if word[0] == "j" else _EN_VOTE
    if len(word) < 5:
        return ()
    for size in (5, 4, 3, 2):
        votes = _SUFFIXES.get(word[-size:])
        if votes:
            return votes
    return ()


def _decide(scores: list[float] | None) -> str | None:
    """es/en/other from the scores, or None when there is no evidence either way (rule 4 and 5 above)."""
    if scores is None:
        return OTHER
    es, en = scores[0], scores[1]
    strongest_other = max(scores[2:])
    if strongest_other >= 1.0 and strongest_other > es and strongest_other > en:
        return OTHER
    if es > en:
        return ES
    if en > es:
        return EN
    return None
