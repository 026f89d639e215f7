"""Specification of text cleaning (processing/clean.py): the normalisation policy, offline spaCy lemmas and
stop words, and the frame contract (rows in = rows out, order, determinism)."""
from __future__ import annotations

import pandas as pd
import pytest

from processing.clean import (
    NUMBER_TOKEN,
    OUTPUT_COLUMNS,
    PARALLEL_MIN_MESSAGES,
    TextCleaner,
    clean_messages,
    resolve_n_process,
    usable_cpus,
)


def clean_one(text: str, lang: str) -> pd.Series:
    """The cleaned row of a single message."""
    return clean_messages(pd.DataFrame({"id": ["m1"], "text": [text], "lang": [lang]})).iloc[0]


def clean_texts(texts: list[str], lang: str) -> pd.DataFrame:
    """Cleaned frame of several messages in one language."""
    ids = [f"m{i}" for i in range(len(texts))]
    return clean_messages(pd.DataFrame({"id": ids, "text": texts, "lang": lang}))


# --- normalisation policy ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, lang, expected", [
    ("#MalServicio otra vez", "es", "mal servicio otra vez"),
    ("gracias #ReyesMagos", "es", "gracias reyes magos"),
    ("thanks #CustomerService", "en", "thanks customer service"),
    ("watching #BBCNews", "en", "watching bbc news"),
    ("#mal_servicio", "es", "mal servicio"),
    ("#EleccionesGenerales2015 #20D", "es", "elecciones generales 2015 20d"),
    ("encuestas?#PedroCV#PSOE", "es", "encuestas? pedro cv psoe"),  # glued tags
    ("#Mi_Loko# ya", "es", "mi loko ya"),  # stray marks go
])
def test_hashtag_loses_its_hash_and_camel_case_is_split_into_words(text, lang, expected):
    assert clean_one(text, lang).clean_text == expected


@pytest.mark.parametrize("text, lang, expected", [
    ("holaaaa", "es", "hola"),
    ("siiiii claro", "es", "si claro"),
    ("sooooo goooood", "en", "so good"),
    ("I loooove it", "en", "i love it"),
    ("yeeeessss", "en", "yes"),
])
def test_elongated_words_collapse_to_their_most_common_spelling(text, lang, expected):
    assert clean_one(text, lang).clean_text == expected


@pytest.mark.parametrize("text, lang", [
    ("quiero llamar al carro", "es"),
    ("book a coffee", "en"),
    ("holaa", "es"),  # two letters are not an elongation
])
def test_legitimate_double_letters_are_kept(text, lang):
    assert clean_one(text, lang).clean_text == text


def test_elongated_unknown_word_collapses_each_run_to_one_letter():
    assert clean_one("blorrrrpt", "en").clean_text == "blorpt"


def test_digit_runs_are_not_elongations():
    assert clean_one("paid 1000 euros", "en").clean_text == "paid 1000 euros"


@pytest.mark.parametrize("text, lang, expected, n_urls", [
    ("mira esto https://t.co/Ul58uIw3ix ya", "es", "mira esto ya", 1),
    ("era descomunal? https…", "es", "era descomunal?", 1),  # link cut off by a retweet
    ("see www.bank.com/help and bit.ly/3xYz now", "en", "see and now", 2),
])
def test_urls_are_removed_and_counted(text, lang, expected, n_urls):
    row = clean_one(text, lang)
    assert (row.clean_text, row.n_urls) == (expected, n_urls)


@pytest.mark.parametrize("text, lang, expected, n_mentions", [
    ("@Santander_es mi tarjeta", "es", "mi tarjeta", 1),
    ("hey @bank and @support_team help", "en", "hey and help", 2),
    ('.@sanchezcastejon: "soy el líder"', "es", '"soy el líder"', 1),  # debris ".:" goes too
])
def test_mentions_are_removed_and_counted(text, lang, expected, n_mentions):
    row = clean_one(text, lang)
    assert (row.clean_text, row.n_mentions) == (expected, n_mentions)


@pytest.mark.parametrize("text, lang, expected", [
    ("RT @elmundoes: El humor de Rajoy", "es", "el humor de rajoy"),
    ("RT @bank: card limits raised", "en", "card limits raised"),
])
def test_retweet_prefix_is_removed(text, lang, expected):
    assert clean_one(text, lang).clean_text == expected


@pytest.mark.parametrize("text, expected", [
    ("RT@rodriguezbraun Las 5 pifias", "las 5 pifias"),
    ("Participando RT“@eldiarioes: Ampliación", "participando ampliación"),
    ("RT Jamoncitos: La afición secreta", "la afición secreta"),
    ("Vota y haz RT", "vota y haz rt"),  # a call to action, not a marker
])
def test_retweet_marker_variants_are_removed_but_a_call_to_retweet_stays(text, expected):
    assert clean_one(text, "es").clean_text == expected


def test_spanish_inclusive_at_sign_is_a_letter_not_a_mention():
    row = clean_one("Hola a tod@s y l@s amig@s", "es")
    assert (row.clean_text, row.n_mentions) == ("hola a todos y los amigos", 0)


def test_invisible_and_mis_decoded_characters_are_removed():
    assert clean_one("el #\x93parentesco\x94 no\u200b directo\U000fe041", "es").clean_text == "el parentesco no directo"


def test_acute_accent_used_as_apostrophe_becomes_an_apostrophe():
    assert clean_one("llenan de Rt´s", "es").clean_text == "llenan de rt's"


def test_email_addresses_are_removed():
    assert clean_one("write to ana.garcia@example.com today", "en").clean_text == "write to today"


def test_emojis_leave_the_text_and_are_kept_one_per_sequence_in_their_own_column():
    row = clean_one("genial 😂😂 👍🏽 👨\u200d👩\u200d👧 🇪🇸 1\ufe0f\u20e3 ❤\ufe0f fin", "es")
    assert row.clean_text == "genial fin"
    assert row.emojis.split() == ["😂", "😂", "👍🏽", "👨\u200d👩\u200d👧", "🇪🇸", "1\ufe0f\u20e3", "❤\ufe0f"]


def test_message_without_emojis_has_empty_emoji_column():
    assert clean_one("sin emojis", "es").emojis == ""


@pytest.mark.parametrize("text, lang, expected", [
    ("Pagos &amp; transferencias", "es", "pagos & transferencias"),
    ("I &lt;3 this bank", "en", "i <3 this bank"),
    ("fees &amp;amp; charges", "en", "fees &amp; charges"),  # escaped twice upstream: one level is kept
])
def test_html_entities_are_unescaped(text, lang, expected):
    assert clean_one(text, lang).clean_text == expected


@pytest.mark.parametrize("text, expected", [
    ("try &amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt; here",
     "try &lt;script&gt;alert(1)&lt;/script&gt; here"),
    ("&amp;#60;img src=x onerror=alert(1)&amp;#62;", "&#60;img src=x onerror=alert(1)&#62;"),
])
def test_html_entities_are_unescaped_exactly_once_so_typed_entities_never_become_markup(text, expected):
    row = clean_one(text, "en")
    assert row.clean_text == expected
    assert "<" not in row.clean_text + row.feature_text and ">" not in row.clean_text + row.feature_text


def test_text_is_lowercased_and_whitespace_collapsed():
    assert clean_one("  Mi   TARJETA\n\tno\r\nfunciona  ", "es").clean_text == "mi tarjeta no funciona"


def test_fancy_unicode_letters_become_plain_letters():
    assert clean_one("ＦＵＬＬ 𝐛𝐨𝐥𝐝 ﬁle", "en").clean_text == "full bold file"


def test_laughter_and_repeated_marks_are_shortened():
    assert clean_one("jajajajaja qué bueno!!!! ¿¿en serio??", "es").clean_text == "jaja qué bueno! ¿en serio?"
    assert clean_one("hahahaha wait.....", "en").clean_text == "haha wait..."


def test_accents_are_kept_in_clean_text_and_stripped_in_feature_text():
    row = clean_one("necesito información", "es")
    assert row.clean_text == "necesito información"
    assert "informacion" in row.feature_text.split()


def test_accent_typos_and_missing_accents_meet_in_feature_text():
    frame = clean_texts(["la tarjeta", "la tárjeta", "información", "informacion"], "es")
    assert frame.feature_text.tolist() == ["tarjeta", "tarjeta", "informacion", "informacion"]


def test_enye_is_not_stripped_so_words_stay_apart():
    assert clean_one("feliz año", "es").feature_text == "feliz año"


def test_numbers_stay_in_clean_text_and_become_one_token_in_feature_text():
    row = clean_one("charged 2,000 twice at 10:30 for 50 items", "en")
    assert row.clean_text == "charged 2,000 twice at 10:30 for 50 items"
    assert row.feature_text == f"charge {NUMBER_TOKEN} twice {NUMBER_TOKEN} {NUMBER_TOKEN} item"


# --- spaCy: offline lemmas and stop words -----------------------------------------------------------------
def test_spanish_words_are_lemmatised_offline_with_the_lookup_table():
    row = clean_one("Las tarjetas llegaron y los pagos fallaron", "es")
    assert row.lemmas == "tarjeta llegar pago fallar"
    assert row.tokens == "tarjetas llegaron pagos fallaron"


@pytest.mark.parametrize("text, expected", [
    ("el paro", "paro"),  # the table says "parir"
    ("el partido", "partido"),  # "partir"
    ("el pago y los pagos", "pago pago"),  # "pagar" for the singular, "pago" for the plural
    ("buenas ideas", "buena idea"),  # "ideo" for ideas; "buenas" is a kept stop word with a kept lemma
    ("no queda nada", "no queda nada"),  # "quedo", "nadar"
])
def test_spanish_nouns_are_not_turned_into_verbs_or_masculine_by_the_part_of_speech_blind_table(text, expected):
    assert clean_one(text, "es").lemmas == expected


def test_english_lemma_table_mistakes_on_headwords_are_kept_out():
    assert clean_one("my card number", "en").lemmas == "card number"  # the table says "numb"


def test_english_words_are_lemmatised_offline_with_the_lookup_table():
    row = clean_one("My cards arrived damaged", "en")
    assert row.lemmas == "card arrive damage"


def test_stop_words_of_the_message_language_are_removed():
    assert clean_one("la cuota de la tarjeta y el banco", "es").feature_text == "cuota tarjeta banco"
    assert clean_one("the transfer of the money to my account", "en").feature_text == "transfer money account"


def test_negations_and_evaluatives_survive_stop_word_removal():
    assert clean_one("#MalServicio, nunca funciona", "es").feature_text == "mal servicio nunca funciona"
    assert clean_one("my card isn't working", "en").feature_text == "card not work"


def test_support_words_on_spacys_stop_lists_are_kept_as_signal():
    assert clean_one("Can I top up my account?", "en").feature_text == "top account"
    assert clean_one("mi cuenta nueva va mal, como siempre tarde", "es").feature_text == "cuenta nueva mal tarde"


def test_a_token_whose_lemma_is_a_stop_word_goes_too():
    assert clean_one("they made it", "en").feature_text == ""  # made -> make


def test_punctuation_symbols_and_single_letters_are_not_tokens():
    row = clean_one("card ... $ € :) - x ok?", "en")
    assert row.tokens == "card ok"


def test_other_language_uses_no_lemmas_and_both_stop_word_lists():
    row = clean_one("the tarjetas de las cards", "other")
    assert row.tokens == "tarjetas cards"
    assert row.feature_text == "tarjetas cards"


@pytest.mark.parametrize("lang", [None, "fr", float("nan")])
def test_missing_or_unknown_language_is_cleaned_as_other(lang):
    frame = pd.DataFrame({"id": ["a"], "text": ["the tarjetas"], "lang": [lang]})
    assert clean_messages(frame).feature_text.tolist() == ["tarjetas"]


def test_frame_without_lang_column_is_cleaned_as_other():
    frame = pd.DataFrame({"id": ["a"], "text": ["the cards"]})
    assert clean_messages(frame).feature_text.tolist() == ["cards"]


# --- frame contract ---------------------------------------------------------------------------------------
MIXED = pd.DataFrame({
    "id": ["e1", "s1", "o1", "e2", "s2", "e3"],
    "text": ["My cards never arrived", "¿Dónde está mi tarjeta?", "ok merci", "Top up failed",
             "#MalServicio holaaaa", "the of and"],
    "lang": ["en", "es", "other", "en", "es", "en"],
    "source": ["chat", "twitter", "chat", "chat", "twitter", "chat"],
}, index=[10, 3, 7, 0, 5, 1])


def test_rows_in_equal_rows_out_in_input_order_with_index_and_columns_kept():
    out = clean_messages(MIXED)
    assert out.index.tolist() == MIXED.index.tolist()
    assert out.id.tolist() == MIXED.id.tolist()
    assert out.source.tolist() == MIXED.source.tolist()
    assert list(out.columns) == list(MIXED.columns) + list(OUTPUT_COLUMNS)
    assert out.loc[5, "clean_text"] == "mal servicio hola"


@pytest.mark.parametrize("text, lang", [
    ("the of and", "en"), ("y de la", "es"), ("@bank 😡", "en"), ("https://bank.com/x", "es"), ("", "en"),
])
def test_message_empty_after_cleaning_is_kept_with_empty_feature_text(text, lang):
    frame = clean_texts(["card blocked", text, "tarjeta bloqueada"], lang)
    assert len(frame) == 3
    assert (frame.feature_text.iloc[1], frame.n_tokens.iloc[1]) == ("", 0)


def test_empty_frame_gives_an_empty_frame_with_the_output_columns():
    out = clean_messages(MIXED.iloc[:0])
    assert len(out) == 0
    assert set(OUTPUT_COLUMNS) <= set(out.columns)


def test_null_text_is_cleaned_as_empty_text():
    frame = clean_messages(pd.DataFrame({"id": ["a", "b"], "text": [None, "card"], "lang": ["en", "en"]}))
    assert frame.clean_text.tolist() == ["", "card"]


def test_input_frame_is_not_modified():
    before = MIXED.copy()
    clean_messages(MIXED)
    pd.testing.assert_frame_equal(MIXED, before)


def test_same_input_gives_same_output():
    pd.testing.assert_frame_equal(clean_messages(MIXED), TextCleaner().transform(MIXED.copy()))


def test_two_worker_processes_give_the_same_output_as_one():
    many = pd.concat([MIXED] * 5, ignore_index=True)
    pd.testing.assert_frame_equal(clean_messages(many, n_process=2), clean_messages(many, n_process=1))


def test_cleaner_is_a_stateless_scikit_learn_transformer():
    cleaner = TextCleaner(batch_size=64, n_process=1)
    assert cleaner.get_params()["batch_size"] == 64
    assert cleaner.fit(MIXED) is cleaner
    pd.testing.assert_frame_equal(cleaner.fit_transform(MIXED), cleaner.transform(MIXED))


def test_frame_without_text_column_is_rejected():
    with pytest.raises(KeyError, match="text"):
        clean_messages(pd.DataFrame({"id": ["a"]}))


def test_auto_n_process_stays_in_process_for_small_batches_and_never_exceeds_the_cpus():
    assert resolve_n_process("auto", PARALLEL_MIN_MESSAGES - 1) == 1
    assert 1 <= resolve_n_process("auto", 100 * PARALLEL_MIN_MESSAGES) <= usable_cpus()
    assert resolve_n_process(3, 10) == 3


@pytest.mark.parametrize("n_process", [0, -1, "many", True])
def test_invalid_n_process_is_rejected(n_process):
    with pytest.raises(ValueError):
        resolve_n_process(n_process, 100)


# --- real data (skipped when ../shared/data is absent) ----------------------------------------------------
def test_real_spanish_tweets_lose_urls_mentions_hashtag_marks_and_retweet_prefixes(shared_data):
    tweets = pd.read_csv(shared_data / "coset" / "train.csv", usecols=["id", "text"], nrows=300).assign(lang="es")
    out = clean_messages(tweets)
    assert len(out) == len(tweets)
    joined = " ".join(out.clean_text)
    for noise in ("http", "t.co/", "@", "#", "&amp;"):
        assert noise not in joined
    assert tweets.text.str.startswith("RT").mean() > 0.3
    assert out.clean_text.str.match(r"rt\b").mean() < 0.01  # only a "#RT" hashtag may start a message
    assert (out.n_tokens > 0).mean() > 0.95


def test_the_elongation_lexicon_is_read_back_from_the_cache_as_the_package_gives_it(tmp_path, monkeypatch):
    import marshal

    from processing import clean

    monkeypatch.setenv("TWEETOPS_CACHE_DIR", str(tmp_path))
    clean.word_log_probs.cache_clear()
    try:
        first = clean.word_log_probs("es")  # read from spacy-lookups-data, then written to the cache
        (cached,) = (tmp_path / clean.LEXICON_CACHE).glob("es-lexeme-prob-*.marshal")
        clean.word_log_probs.cache_clear()
        again = clean.word_log_probs("es")  # read from the cache
        assert again == first and list(again) == list(first)
        for damage in (b"", cached.read_bytes()[:1000], b"\xff not marshal", marshal.dumps([1, 2])):
            cached.write_bytes(damage)  # empty, cut short, not marshal, not the table: read past and rewritten
            clean.word_log_probs.cache_clear()
            assert clean.word_log_probs("es") == first
            assert marshal.loads(cached.read_bytes()) == first
    finally:
        clean.word_log_probs.cache_clear()


@pytest.mark.parametrize("lang", ["es", "en"])
def test_the_lemma_table_answers_every_form_as_spacys_lookup_lemmatizer_does(lang, tmp_path, monkeypatch):
    from processing import clean

    monkeypatch.setenv("TWEETOPS_CACHE_DIR", str(tmp_path))
    clean.lemma_lookup.cache_clear()
    try:
        built = clean.lemma_lookup(lang)  # from spacy-lookups-data, then written to the cache
        clean.lemma_lookup.cache_clear()
        table = clean.lemma_lookup(lang)  # read back from the cache
    finally:
        clean.lemma_lookup.cache_clear()
    assert type(table) is dict and table == built  # no two forms share a spaCy string id: the plain dict is used
    lemmatizer = clean.load_pipeline(lang, lemmatizer=True).get_pipe("lemmatizer")
    spacy_table = lemmatizer.lookups.get_table("lemma_lookup")
    assert len(table) == len(spacy_table)
    forms = list(table) + ["", "zzqx", "Tarjeta", "ADJ", "N'T", "información"]  # every form, and some it lacks
    assert [table.get(form, form) for form in forms] == [spacy_table.get(form, form) for form in forms]
    doc = clean.load_pipeline(lang)("Las tarjetas no llegaron y el pago falló: the cards weren't working")
    assert [table.get(token.text, token.text) for token in doc] == [lemmatizer.lemmatize(token)[0] for token in doc]
