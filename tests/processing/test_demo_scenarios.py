"""Specification of the shifted demo batches (`demo-data --scenario`): each moves what it says by the share it is
given, the normal one is today's demo data byte for byte, the new topic speaks its own words, and the command
line writes the batch, says what moved, and refuses bad values as a usage error."""
from __future__ import annotations

import csv
import hashlib
import io
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from processing.demo_data import (
    CATEGORY_WEIGHTS,
    CLOSERS,
    CODE_SWITCH_TAILS,
    FOLLOW_UPS,
    LOG_LINES,
    OPENERS,
    SLOTS,
    TEMPLATES,
    generate_messages,
)
from processing.demo_scenarios import (
    DEFAULT_SHIFT_SHARES,
    NEW_TOPIC,
    SCENARIOS,
    SHIFTED_CATEGORY,
    generate_scenario,
    scenario_summary,
)

ROWS = 4_000
WORD = re.compile(r"[^\W\d_]{4,}")
# sha256 of `tweetops demo-data --rows 600 --seed 11 --out f.csv` before scenarios existed (commit 13e8a98).
NORMAL_CSV_SHA256 = "094b9f7d03f6961a6e16c130bec37b6ec7deefbbbf4210383c3ddf201bfc1664"


@pytest.fixture(scope="module")
def batches() -> dict[str, pd.DataFrame]:
    """One batch per scenario (default shares, default malformed share), with the language column."""
    return {name: generate_scenario(name, ROWS, seed=5, include_lang=True) for name in SCENARIOS}


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with a gold label (malformed rows without an underlying message have none)."""
    return df[df["label"].map(lambda v: isinstance(v, str) and v != "")]


def words_of(texts) -> set[str]:
    """Lowercased words of 4+ letters (missing and numeric texts of malformed rows have none)."""
    return {w.lower() for t in texts if isinstance(t, str) for w in WORD.findall(t)}


def distinctive_template_words() -> dict[str, set[str]]:
    """Per known category, the words of its templates and follow-ups that no other category uses, nor what every
    category shares (openers, closers, code-switch tails, slot fillers, links, pasted logs): what tells it apart."""
    own = {c: words_of([t for lang in TEMPLATES[c] for t in TEMPLATES[c][lang] + FOLLOW_UPS[c][lang]])
           for c in TEMPLATES}
    shared_noise = words_of([t for lang in OPENERS for t in OPENERS[lang]]
                            + [t for table in (CLOSERS, CODE_SWITCH_TAILS, SLOTS) for lang in table
                               for texts in table[lang].values() for t in texts]
                            + LOG_LINES + ["https://lumo.example/orders/"])
    return {c: words - set().union(*(own[o] for o in own if o != c)) - shared_noise for c, words in own.items()}


def differing_rows(a: pd.DataFrame, b: pd.DataFrame) -> set[int]:
    """Positions where two frames of the same shape differ in any column (missing values compare equal)."""
    return set(np.flatnonzero((a.astype(str) != b.astype(str)).any(axis=1).to_numpy()).tolist())


# ------------------------------------------------------------------------------------------------------ normal
def test_normal_writes_the_same_bytes_as_demo_data_did_before_scenarios(tmp_path):
    runner = CliRunner()
    for extra in ([], ["--scenario", "normal"]):
        out = tmp_path / f"normal{len(extra)}.csv"
        result = runner.invoke(main, ["demo-data", "--rows", "600", "--seed", "11", "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        assert result.output == f"wrote 600 messages to {out} (csv)\n"
        assert hashlib.sha256(out.read_bytes()).hexdigest() == NORMAL_CSV_SHA256


def test_normal_is_generate_messages_for_the_same_arguments():
    for seed, malformed in ((0, 0.03), (7, 0.1)):
        pd.testing.assert_frame_equal(generate_scenario("normal", 800, seed, malformed),
                                      generate_messages(800, seed, malformed))


# --------------------------------------------------------------------------------------------------- new topic
@pytest.mark.parametrize("share", [0.05, 0.15, 0.2, 1.0])
def test_new_topic_makes_exactly_the_share_it_is_given_of_new_category_messages(share):
    df = generate_scenario("new-topic", 2_000, seed=3, malformed_share=0.0, shift_share=share, include_lang=True)
    topic = df[df["label"] == NEW_TOPIC]
    assert len(topic) == round(share * 2_000)
    assert set(df["label"]) - {NEW_TOPIC} <= set(CATEGORY_WEIGHTS)
    assert abs((topic["lang"] == "es").mean() - 0.5) < 0.1  # the new topic comes in both languages


def test_new_topic_rows_lost_to_malformation_are_the_only_ones_missing_from_the_share(batches):
    df = batches["new-topic"]
    without_malformed = generate_scenario("new-topic", ROWS, seed=5, malformed_share=0.0)
    assert (without_malformed["label"] == NEW_TOPIC).sum() == round(DEFAULT_SHIFT_SHARES["new-topic"] * ROWS)
    malformed = differing_rows(df.drop(columns="lang"), without_malformed)
    lost = (without_malformed["label"] == NEW_TOPIC) & (df["label"] != NEW_TOPIC)
    assert set(np.flatnonzero(lost.to_numpy()).tolist()) <= malformed
    assert df.attrs["scenario"]["messages"] == (df["label"] == NEW_TOPIC).sum()


def test_new_topic_is_the_normal_batch_except_for_its_own_rows_and_the_same_malformed_rows(batches):
    shifted, normal = batches["new-topic"], batches["normal"]
    clean_shifted = generate_scenario("new-topic", ROWS, seed=5, malformed_share=0.0, include_lang=True)
    clean_normal = generate_messages(ROWS, seed=5, malformed_share=0.0, include_lang=True)
    topic_rows = set(np.flatnonzero((clean_shifted["label"] == NEW_TOPIC).to_numpy()).tolist())
    assert differing_rows(clean_shifted, clean_normal) == topic_rows
    malformed = differing_rows(normal, clean_normal)
    assert differing_rows(shifted, clean_shifted) == malformed  # the same rows break...
    assert shifted.attrs["malformed_counts"] == normal.attrs["malformed_counts"]  # ...for the same reasons
    assert differing_rows(shifted, normal) <= topic_rows | malformed
    same_columns = ["id", "created_at", "source", "user_id"]  # a replaced row keeps who posted it and when
    rows = sorted(topic_rows - malformed)
    pd.testing.assert_frame_equal(shifted.iloc[rows][same_columns], normal.iloc[rows][same_columns])


def test_new_topic_messages_use_none_of_the_words_that_tell_known_categories_apart(batches):
    df = labelled(batches["new-topic"])
    topic_words = words_of(df.loc[df["label"] == NEW_TOPIC, "text"])
    known_words = words_of(df.loc[df["label"] != NEW_TOPIC, "text"])
    some = {"factura", "repartidor", "seguimiento", "contraseña", "reembolso", "invoice", "tracking", "password",
            "refund", "descuento", "discount", "courier", "crashes", "agent"}  # a few, from several categories
    assert some <= known_words and not some & topic_words
    for category, words in distinctive_template_words().items():
        assert not topic_words & words, category
        own_words = words_of(df.loc[df["label"] == category, "text"])
        assert len(own_words & words) > 20, category  # the same check finds them in the category's own rows
    assert {"estafa", "phishing", "scam", "fraude", "fraud"} <= topic_words


# ------------------------------------------------------------------------------------------ language, category
def test_language_shift_makes_spanish_the_share_it_is_given_and_keeps_the_categories(batches):
    df = labelled(batches["language-shift"])
    spanish = (df["lang"] == "es").mean()
    assert abs(spanish - DEFAULT_SHIFT_SHARES["language-shift"]) < 0.02
    assert set(df["lang"]) == {"es", "en"}
    shares = df["label"].value_counts(normalize=True)
    for category, weight in CATEGORY_WEIGHTS.items():
        assert abs(shares[category] - weight) < 0.025, category
    shifted = labelled(generate_scenario("language-shift", ROWS, seed=5, shift_share=0.8, include_lang=True))
    assert abs((shifted["lang"] == "es").mean() - 0.8) < 0.025


def test_category_shift_doubles_delivery_and_scales_the_others_down_in_proportion(batches):
    df = labelled(batches["category-shift"])
    assert DEFAULT_SHIFT_SHARES["category-shift"] == 2 * CATEGORY_WEIGHTS[SHIFTED_CATEGORY]
    shares = df["label"].value_counts(normalize=True)
    assert abs(shares[SHIFTED_CATEGORY] - 2 * CATEGORY_WEIGHTS[SHIFTED_CATEGORY]) < 0.025
    scale = (1 - 2 * CATEGORY_WEIGHTS[SHIFTED_CATEGORY]) / (1 - CATEGORY_WEIGHTS[SHIFTED_CATEGORY])
    for category, weight in CATEGORY_WEIGHTS.items():
        if category != SHIFTED_CATEGORY:
            assert abs(shares[category] - weight * scale) < 0.02, category
    assert abs((df["lang"] == "es").mean() - 0.5) < 0.03


def test_every_shifted_scenario_keeps_the_malformed_rows_of_the_normal_batch(batches):
    for name, df in batches.items():
        assert df.attrs["malformed_counts"] == batches["normal"].attrs["malformed_counts"], name
        assert (df["label"] == "").sum() > 0, name  # label-less malformed rows (emoji only, other languages)


# ----------------------------------------------------------------------------------------- determinism, attrs
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_same_seed_gives_the_same_batch_and_another_seed_another(scenario):
    first, again = generate_scenario(scenario, 500, seed=21), generate_scenario(scenario, 500, seed=21)
    pd.testing.assert_frame_equal(first, again)
    assert first.attrs == again.attrs
    other = generate_scenario(scenario, 500, seed=22)
    assert (first["text"].astype(str) != other["text"].astype(str)).mean() > 0.9


def test_attrs_and_summary_say_what_moved(batches):
    assert batches["normal"].attrs["scenario"]["shifted"] is None
    assert scenario_summary(batches["normal"].attrs, ROWS) == ""
    expected = {"new-topic": NEW_TOPIC, "language-shift": "es", "category-shift": SHIFTED_CATEGORY}
    for name, shifted in expected.items():
        what = batches[name].attrs["scenario"]
        assert (what["name"], what["shifted"], what["shift_share"]) == (name, shifted, DEFAULT_SHIFT_SHARES[name])
        column = "lang" if name == "language-shift" else "label"
        assert what["messages"] == (batches[name][column] == shifted).sum()
        assert scenario_summary(batches[name].attrs, ROWS).startswith(f"scenario {name}: {what['messages']} ")


@pytest.mark.parametrize("scenario, share, message", [
    ("drift", None, "unknown scenario 'drift'"),
    ("new-topic", 1.5, "within [0, 1]"),
    ("category-shift", -0.1, "within [0, 1]"),
    ("normal", 0.2, "applies to a shifted scenario"),
])
def test_bad_scenarios_and_shares_are_refused_with_the_reason(scenario, share, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_scenario(scenario, 100, shift_share=share)


# ---------------------------------------------------------------------------------------------- command line
def test_the_command_writes_the_shifted_batch_and_says_what_moved(tmp_path):
    out = tmp_path / "batch.csv"
    result = CliRunner().invoke(main, ["demo-data", "--scenario", "new-topic", "--shift-share", "0.2", "--rows",
                                       "1000", "--seed", "4", "--malformed-share", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == (f"wrote 1000 messages to {out} (csv); "
                             f"scenario new-topic: 200 messages (20%) of the new category {NEW_TOPIC}\n")
    header, *records = csv.reader(io.StringIO(out.read_bytes().decode("utf-8", errors="replace")))
    labels = [record[header.index("label")] for record in records]
    assert len(labels) == 1000 and 195 <= labels.count(NEW_TOPIC) <= 200  # a few rows carry raw defects


@pytest.mark.parametrize("args, complaint", [
    (["--scenario", "new-topic", "--shift-share", "1.5"], "Invalid value for '--shift-share'"),
    (["--scenario", "weather"], "Invalid value for '--scenario'"),
    (["--shift-share", "0.2"], "--shift-share needs a shifted --scenario"),
])
def test_bad_values_are_a_usage_error_with_exit_code_2(tmp_path, args, complaint):
    out = tmp_path / "batch.csv"
    result = CliRunner().invoke(main, ["demo-data", "--rows", "50", "--out", str(out), *args])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and complaint in errors[0]
    assert "Traceback" not in result.output and not out.exists()


def test_help_explains_each_scenario_on_one_line():
    result = CliRunner().invoke(main, ["demo-data", "--help"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for name, what in SCENARIOS.items():
        assert any(line.split() == [name, *what.split()] for line in lines), name
