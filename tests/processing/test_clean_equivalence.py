"""Specification of how cleaning was made cheap (issue 18) without changing its output: the token stage cached per
space-separated chunk, and normalisation passes skipped when their pattern cannot match, give exactly what the
per-message cleaner of commit 883abc3 gave. `python -m benchmarks.cleaning --check` compares the two on all of
../shared/data, the demo data and the hostile corpus; these tests keep that honest in the suite."""
from __future__ import annotations

import subprocess

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.cleaning import OLD_CLEANER_COMMIT, digest_frames, load_old_cleaner, output_digest
from processing import clean
from processing.clean import OUTPUT_COLUMNS, clean_messages, clear_token_caches

# The 883abc3 cleaner's output on benchmarks.cleaning.DIGEST_FILES (coset dev and test, banking77 test) under the
# es, en and other paths, as printed by `python -m benchmarks.cleaning --digest`: a digest, so that no text of
# ../shared/data enters the repository.
OLD_DIGEST = "32af066ecd1b0baee0e86782cd5b723402e4977fdea9378f9f5aa26937441942"
OLD_ROWS = 11_862

PROPERTY_SETTINGS = settings(max_examples=120, derandomize=True, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Pieces that exercise every pass and spaCy's special cases: stop and signal words, accents, lemmas, clitics,
# emoticons and abbreviations the tokenizer keeps whole (also the Spanish "EE. UU." that holds a space), numbers,
# elongations, laughter, marks, entities, retweet markers, mentions, hashtags, URLs, e-mails, emojis, junk.
PIECES = [
    "tarjeta", "tárjetas", "llegaron", "funciona", "casa", "ideas", "no", "nada", "año", "información", "cuenta",
    "the", "card", "cards", "charged", "made", "working", "top", "up", "n't", "don't", "it's", "I'm", "can't",
    "EE. UU.", "Ee. Uu.", "ee. uu.", "e.g.", "etc.", "10a.m.", "a.m.", "p.m.", ":)", ":-)", "(:", ":D", "<3", "'s",
    "'", "''", "8)", "(-8", "o.O", "jajaja", "JAJA", "hahaha", "holaaaa", "goooood", "siiii", "2,000", "10:30",
    "25/12/15", "4g", "covid19", "¿qué?", "¡¡ya!!", "???", "!!!", "....", "…", "...", "&amp;", "&lt;3", "&amp;lt;",
    "RT", "RT @user:", "RT@u", "RT “@u:", "RT user:", "@user", ".@user", "tod@s", "@", "#", "#MalServicio", "#20D",
    "#a_b", "https://t.co/x1", "www.Bank.com/help", "WWW.x.es", "bit.ly/3x", "https…", "htt...", "mail@example.com",
    "😡", "👍🏽", "👨‍👩‍👧", "🇪🇸", "1️⃣", "™", "©", "\u200b", "\x93", "\x00", "´", "ＦＵＬＬ", "𝐛𝐨𝐥𝐝", "ﬁ", "-", "(",
    ")", '"', "$50", "50%", "x", "Ñandú",
]
SEPARATORS = [" ", "  ", "", "\t", "\n", "\u00a0", "\u2003", " . ", ", ", "-", "("]
piece = st.one_of(st.sampled_from(PIECES), st.text(max_size=6))
message = st.lists(st.tuples(piece, st.sampled_from(SEPARATORS)), max_size=10).map(
    lambda parts: "".join(text + separator for text, separator in parts))
batch = st.lists(st.tuples(message, st.sampled_from(["es", "en", "other", None])), min_size=1, max_size=6)


def frame_of(messages: list[tuple[str, str | None]]) -> pd.DataFrame:
    """A cleaner input of (text, lang) pairs."""
    return pd.DataFrame({"text": [text for text, _ in messages], "lang": [lang for _, lang in messages]})


def cleaned_rows(frame: pd.DataFrame) -> list[tuple]:
    """The OUTPUT_COLUMNS of each row, as tuples."""
    return list(zip(*(frame[column].tolist() for column in OUTPUT_COLUMNS)))


@pytest.fixture(scope="module")
def old_cleaner():
    """processing/clean.py of 883abc3 from git; skipped in a clone without that commit (a shallow CI checkout)."""
    try:
        return load_old_cleaner()
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip(f"commit {OLD_CLEANER_COMMIT} is not in this clone's history")


def test_real_data_cleans_to_exactly_what_the_per_message_cleaner_gave(shared_data):
    clear_token_caches()
    assert output_digest(digest_frames(), clean_messages) == (OLD_DIGEST, OLD_ROWS)
    # and again with every chunk already cached
    assert output_digest(digest_frames(), clean_messages) == (OLD_DIGEST, OLD_ROWS)


@PROPERTY_SETTINGS
@given(batch, batch)
def test_a_batch_cleaned_with_a_warm_cache_equals_each_message_cleaned_alone_with_empty_caches(warm_up, messages):
    clean_messages(frame_of(warm_up))
    together = cleaned_rows(clean_messages(frame_of(messages)))
    alone = []
    for one in messages:
        clear_token_caches()
        alone += cleaned_rows(clean_messages(frame_of([one])))
    assert together == alone


@PROPERTY_SETTINGS
@given(batch)
def test_random_messages_clean_to_exactly_what_the_per_message_cleaner_gave(old_cleaner, messages):
    frame = frame_of(messages)
    assert cleaned_rows(clean_messages(frame)) == cleaned_rows(old_cleaner.clean_messages(frame))


def test_the_token_cache_stays_bounded_and_emptying_it_changes_nothing(monkeypatch):
    texts = [f"mensaje {i} sobre la tarjeta número {i * 7} y el pago {i % 13}" for i in range(300)]
    frame = pd.DataFrame({"text": texts, "lang": "es"})
    clear_token_caches()
    unbounded = clean_messages(frame)
    monkeypatch.setattr(clean, "CHUNK_CACHE_MAX_ENTRIES", 40)
    monkeypatch.setattr(clean, "CACHE_BLOCK_MESSAGES", 4)  # a block of 4 messages brings at most 4 * 10 new chunks
    clear_token_caches()
    bounded = clean_messages(frame)
    assert len(clean.token_cache("es", frozenset(clean.SIGNAL_WORDS), clean.NUMBER_TOKEN).chunks) <= 40 + 4 * 10
    pd.testing.assert_frame_equal(bounded, unbounded)


def test_a_text_longer_than_spacys_limit_is_refused_as_spacy_refuses_it(monkeypatch):
    monkeypatch.setattr(clean.load_pipeline("other"), "max_length", 20)
    with pytest.raises(ValueError, match="E088"):
        clean_messages(pd.DataFrame({"text": ["a short one", "one message that is longer than twenty characters"]}))
