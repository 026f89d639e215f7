"""Specification of processing.language: a light es/en/other detector for short noisy messages."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from processing.language import detect_language, detect_languages

SPANISH = [
    "no me llegó la tarjeta",
    "¿dónde está mi pedido?",
    "quiero cancelar mi cuenta ya",
    "me cobraron dos veces este mes",
    "hola!!! q tal, todo bien?",
    "jajaja qué risa",
    "pésimo servicio, nunca más",
    "el envío tarda demasiado",
    "Muchas gracias por la ayuda",
    "no funciona la app desde ayer",
]
ENGLISH = [
    "my card hasn't arrived",
    "where is my order?",
    "lol this is so bad",
    "thanks for the quick reply!",
    "cancel my subscription",
    "the app keeps crashing",
    "I was charged twice",
    "refund please",
    "how do I change my PIN?",
    "good morning, any news about the transfer",
]
OTHER = [
    "Je ne sais pas ce que tu veux dire",  # French
    "Merci beaucoup pour votre aide, c'est très gentil",
    "Eu não sei o que fazer com isso",  # Portuguese
    "Meu cartão ainda não chegou",
    "la mia carta non è ancora arrivata",  # Italian
    "Grazie mille per l'aiuto, sei molto gentile",
    "meine Karte ist noch nicht angekommen",  # German
    "Ich weiß nicht, was ich machen soll",
    "Я не знаю, что делать",  # Russian: non-Latin script
    "カードがまだ届いていません",  # Japanese
    "لم تصل بطاقتي بعد",  # Arabic
]


@pytest.mark.parametrize("text", SPANISH)
def test_clear_spanish_messages_are_es(text):
    assert detect_language(text) == "es"


@pytest.mark.parametrize("text", ENGLISH)
def test_clear_english_messages_are_en(text):
    assert detect_language(text) == "en"


@pytest.mark.parametrize("text", OTHER)
def test_clear_messages_in_other_languages_are_other(text):
    assert detect_language(text) == "other"


def test_urls_mentions_and_hashtags_are_not_evidence():
    noise = "@the_best_of_the_web #TheAndThe https://example.com/the/and/of/the"
    assert detect_language(f"{noise} hola, ¿cómo estás?") == "es"
    assert detect_language(f"@hola_que_tal #MuchasGracias https://es.example.com/para/todos {ENGLISH[0]}") == "en"


def test_text_without_evidence_gets_the_default_which_is_english_unless_told():
    for text in ("ok 👍", "12:30", "@bank", "https://t.co/abc", "", "!!!"):
        assert detect_language(text) == "en"
        assert detect_language(text, default="es") == "es"


def test_other_needs_positive_evidence_so_spanglish_stays_es_or_en():
    assert detect_language("all I want for christmas is que nadie vote a nadie") in ("es", "en")
    assert detect_language("mac os x terminal colors") in ("es", "en")


def test_batch_gives_undecided_texts_the_majority_language():
    texts = ["hola, ¿qué tal?", "no me llegó la tarjeta", "my card hasn't arrived", "ok 👍"]
    assert detect_languages(texts) == ["es", "es", "en", "es"]


def test_batch_without_a_majority_gives_undecided_texts_english():
    assert detect_languages(["hola, ¿qué tal?", "where is my order?", "👍"]) == ["es", "en", "en"]
    assert detect_languages(["👍", "🙂"]) == ["en", "en"]


def test_batch_default_can_be_fixed():
    assert detect_languages(["where is my order?", "where is it?", "👍"], default="es") == ["en", "en", "es"]


def test_batch_agrees_with_single_detection_on_decided_texts():
    texts = SPANISH + ENGLISH + OTHER
    assert detect_languages(texts) == [detect_language(text) for text in texts]


def test_non_text_values_get_the_default():
    assert detect_languages([None, math.nan, 42], default="es") == ["es", "es", "es"]


def test_an_unknown_default_is_rejected():
    with pytest.raises(ValueError, match="default language"):
        detect_language("hola", default="fr")


def test_accuracy_on_real_english_and_spanish_data(shared_data):
    """A sample of banking77 (English) and coset (Spanish tweets), detected together as one mixed batch."""
    english = pd.read_csv(shared_data / "banking77" / "test.csv", dtype=str, keep_default_na=False)
    spanish = pd.read_csv(shared_data / "coset" / "test.csv", dtype=str, keep_default_na=False)
    english_texts = english["text"].sample(n=1000, random_state=0).tolist()
    spanish_texts = spanish["text"].sample(n=min(600, len(spanish)), random_state=0).tolist()
    detected = detect_languages(english_texts + spanish_texts)
    english_accuracy = sum(lang == "en" for lang in detected[:len(english_texts)]) / len(english_texts)
    spanish_accuracy = sum(lang == "es" for lang in detected[len(english_texts):]) / len(spanish_texts)
    assert english_accuracy >= 0.95
    assert spanish_accuracy >= 0.95


def test_remembered_word_votes_give_the_same_languages_as_fresh_ones_and_stay_bounded(monkeypatch):
    from processing import language

    texts = ["¿Dónde está mi pedido? Lo pedí ayer", "where is my refund, I ordered it yesterday",
             "l'été c'est très bien", "jajaja qué buena atención", "naïve café über straße", "ok 👍"] * 3
    monkeypatch.setattr(language, "_WORD_VOTES", {})
    fresh = [language._scores(text) for text in texts[:6]]
    remembered = [language._scores(text) for text in texts]
    assert remembered == fresh * 3 and language._WORD_VOTES
    monkeypatch.setattr(language, "_WORD_VOTES", {})
    monkeypatch.setattr(language, "_MAX_REMEMBERED_WORDS", 3)
    assert detect_languages(texts) == [detect_language(text, default="es") for text in texts]
    assert len(language._WORD_VOTES) == 3


def test_telling_characters_are_all_outside_ascii_so_ascii_texts_skip_them():
    from processing.language import _CHAR_CUES

    assert not [char for char in _CHAR_CUES if char.isascii()]
