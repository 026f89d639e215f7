"""Specification of the synthetic demo data: shape, determinism, languages, categories, noise, malformed rows,
file formats. Every check below detects what it counts on its own (regexes, lengths, duplicates), without
asking the generator which rows it touched."""
from __future__ import annotations

import csv
import io
from datetime import datetime
import json
import re
import string

import numpy as np
import pandas as pd
import pytest

from processing import contract
from processing.demo_data import (
    CATEGORIES,
    FOLLOW_UPS,
    MALFORMED_REASONS,
    NOISE_RATES,
    RAW_ONLY_REASONS,
    SLOTS,
    TEMPLATES,
    generate_messages,
    write_demo_data,
)

ROWS = 5_000
EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
OTHER_LANGUAGE_MARKERS = re.compile(  # French, Portuguese and German words that es/en messages never use
    r"\b(bonjour|merci|j'ai|connecter|commande|personne|combien|l'application|abonnement|olá|não|duas|minha|"
    r"frete|aplicativo|atendimento|obrigado|hallo|ich|zweimal|stürzt|kundenservice|vielen|kostet)\b",
    re.IGNORECASE)
SPANISH_MARKERS = {"el", "la", "de", "que", "mi", "por", "los", "las", "una", "está", "para", "con", "hace", "y"}
ENGLISH_MARKERS = {"the", "my", "is", "and", "to", "i", "it", "you", "for", "was", "of", "not", "on", "i'm"}


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    """A 5k batch with the language column, as the noise and malformed checks need it."""
    return generate_messages(ROWS, seed=0, include_lang=True)


def texts_of(df: pd.DataFrame) -> pd.Series:
    """The text column with non-strings (missing, numbers) as ""."""
    return df["text"].map(lambda t: t if isinstance(t, str) else "")


def is_iso_utc(value) -> bool:
    """Whether `value` is a valid "YYYY-MM-DDTHH:MM:SSZ" timestamp."""
    try:
        return bool(ISO_UTC.match(value)) and bool(datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return False


def malformed_checks(df: pd.DataFrame) -> dict[str, pd.Series]:
    """Simple, independent detectors for each representable quarantine reason."""
    text = df["text"]
    is_str = text.map(lambda t: isinstance(t, str))
    strings = texts_of(df)
    ids = df["id"].map(lambda v: v if isinstance(v, str) else "")
    bad_time = ~df["created_at"].map(is_iso_utc)
    return {
        "control_characters": strings.str.contains("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", regex=True),
        "missing_id": ids.str.strip() == "",
        "missing_text": text.isna(),
        "invalid_type": (text.notna() & ~is_str) | bad_time,
        "duplicate_id": (ids != "") & ids.duplicated(),
        "empty_text": is_str & (strings.str.strip() == ""),
        "text_too_long": strings.str.len() > contract.DEFAULT_MAX_TEXT_CHARS,
        "url_only": strings.map(lambda t: bool(re.fullmatch(r"\s*(https?://\S+\s*)+", t))),
        "emoji_only": strings.map(lambda t: t.strip() != "" and not any(ch.isalnum() for ch in t)),
        "unsupported_language": strings.map(lambda t: bool(OTHER_LANGUAGE_MARKERS.search(t))),
    }


# ------------------------------------------------------------------------------------------------ shape
@pytest.mark.parametrize("rows", [0, 1, 7, 1234])
def test_generates_exactly_the_requested_number_of_rows(rows):
    assert len(generate_messages(rows, seed=3)) == rows


def test_columns_follow_the_contract_with_lang_only_on_request(sample):
    assert list(generate_messages(10).columns) == ["id", "text", "created_at", "source", "user_id", "label"]
    assert list(sample.columns) == list(contract.FIELDS)
    assert set(sample["lang"].dropna()) <= set(contract.LANGUAGES)


def test_ids_are_numeric_strings_unique_except_injected_duplicates(sample):
    ids = sample["id"].dropna()
    ids = ids[ids != ""]
    assert ids.map(lambda v: isinstance(v, str) and v.isdigit()).all()
    assert ids.duplicated().sum() == sample.attrs["malformed_counts"]["duplicate_id"]


def test_created_at_is_iso_utc_spread_over_weeks(sample):
    stamps = sample["created_at"][sample["created_at"].map(is_iso_utc)]
    times = pd.to_datetime(stamps, format="ISO8601", utc=True)
    assert len(stamps) > 0.98 * ROWS
    assert (times.max() - times.min()).days >= 21


def test_sources_and_user_ids_look_like_a_real_stream(sample):
    assert set(sample["source"]) == {"twitter", "app_review", "chat"}
    assert sample["user_id"].str.fullmatch(r"u\d{5}").all()
    assert sample["user_id"].value_counts().iloc[0] > 5  # some users post a lot


# ---------------------------------------------------------------------------------------- determinism
def test_same_seed_writes_byte_identical_csv(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_demo_data(generate_messages(2_000, seed=7), first)
    write_demo_data(generate_messages(2_000, seed=7), second)
    assert first.read_bytes() == second.read_bytes()


def test_different_seeds_give_different_messages():
    a, b = generate_messages(500, seed=1), generate_messages(500, seed=2)
    assert sum(x != y for x, y in zip(a["text"], b["text"])) > 450
    assert not a["id"].equals(b["id"])


def test_changing_one_noise_rate_leaves_every_other_choice_unchanged():
    base, no_typos = generate_messages(1_000, seed=4), generate_messages(1_000, seed=4, noise={"typo": 0})
    for column in ("id", "created_at", "source", "user_id", "label"):
        assert base[column].tolist() == no_typos[column].tolist()


# -------------------------------------------------------------------------------- languages, categories
def test_languages_are_roughly_half_spanish_half_english(sample):
    shares = sample["lang"].value_counts(normalize=True)
    assert 0.45 < shares["es"] < 0.55 and 0.45 < shares["en"] < 0.55

    def leans_spanish(text: str) -> bool:
        words = re.findall(r"[\w']+", text.lower())
        return sum(w in SPANISH_MARKERS for w in words) > sum(w in ENGLISH_MARKERS for w in words)

    # Independent of the lang column: marker words split the batch roughly in half too.
    assert 0.4 < texts_of(sample).map(leans_spanish).mean() < 0.6


def test_every_category_is_present_as_a_gold_label(sample):
    labels = sample["label"]
    assert set(labels[labels != ""]) == set(CATEGORIES)
    assert (labels != "").mean() > 0.97  # only messages with no underlying message have no label
    assert labels.value_counts(normalize=True).drop("", errors="ignore").min() > 0.05


def test_categories_argument_restricts_or_reweights_the_mix():
    subset = generate_messages(1_000, seed=1, malformed_share=0, categories=["billing", "praise"])
    assert set(subset["label"]) == {"billing", "praise"}
    weighted = generate_messages(2_000, seed=1, malformed_share=0, categories={"delivery": 3, "praise": 1})
    assert 0.7 < (weighted["label"] == "delivery").mean() < 0.8


def test_unknown_category_noise_kind_or_share_is_rejected():
    with pytest.raises(ValueError, match="categor"):
        generate_messages(10, categories=["weather"])
    with pytest.raises(ValueError, match="noise"):
        generate_messages(10, noise={"sarcasm": 0.1})
    with pytest.raises(ValueError, match="malformed_share"):
        generate_messages(10, malformed_share=1.5)


def test_templates_are_varied_and_free_of_noise_markers():
    """25+ templates per category and language; none holds what the noise checks below count."""
    for category in CATEGORIES:
        for lang in ("es", "en"):
            templates = TEMPLATES[category][lang] + FOLLOW_UPS[category][lang]
            assert len(TEMPLATES[category][lang]) >= 25, (category, lang)
            assert len(set(TEMPLATES[category][lang])) == len(TEMPLATES[category][lang])
            for template in templates:
                fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
                assert fields <= set(SLOTS[lang]) | {"amount", "order_no", "n", "brand"}, template
                assert not re.search(r"[@#]|https?://|([^\W\d_])\1{3,}", template), template
                assert not EMOJI.search(template), template


def test_spanish_fillers_contract_de_el_into_del(sample):
    assert not texts_of(sample).str.contains(r"\b(?:de|a) el\b").any()
    assert texts_of(sample).str.contains(r"\bdel plan\b").any()


def test_messages_are_not_near_copies_of_each_other(sample):
    body = texts_of(sample).str.lower()
    assert body.nunique() > 0.9 * ROWS


# ----------------------------------------------------------------------------------------------- noise
def _looks_shouted(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) >= 0.9


VISIBLE_NOISE = {
    "mention": lambda t: bool(re.search(r"@\w", re.sub(r"^RT @\S+: ", "", t))),
    "hashtag": lambda t: bool(re.search(r"#\w", t)),
    "emoji": lambda t: bool(EMOJI.search(t)),
    "url": lambda t: bool(re.search(r"https?://", t)),
    "elongation": lambda t: bool(re.search(r"([^\W\d_])\1{3,}", t)),
    "caps": _looks_shouted,
    "retweet": lambda t: t.startswith("RT @"),
}


@pytest.mark.parametrize("kind", sorted(VISIBLE_NOISE))
def test_visible_noise_appears_at_roughly_its_rate(sample, kind):
    observed = texts_of(sample).map(VISIBLE_NOISE[kind]).mean()
    rate = NOISE_RATES[kind]
    assert abs(observed - rate) <= max(0.01, 0.2 * rate), (kind, observed, rate)


def test_exact_duplicates_repeat_earlier_texts_under_new_ids(sample):
    text = texts_of(sample)
    duplicated = text.duplicated() & (text.str.len() > 20)  # short malformed texts repeat by nature
    assert NOISE_RATES["exact_duplicate"] <= duplicated.mean() <= NOISE_RATES["exact_duplicate"] + 0.02
    assert not sample.loc[duplicated, "id"].isin(sample.loc[~duplicated, "id"]).all()


@pytest.mark.parametrize("kind", sorted(NOISE_RATES))
def test_each_noise_kind_changes_roughly_its_rate_of_rows(sample, kind):
    """Switching one kind off changes about its rate of the rows (how typos, code-switching and near
    duplicates, which no regex can spot, are measured)."""
    without = generate_messages(ROWS, seed=0, include_lang=True, noise={kind: 0})
    changed = np.mean([a != b for a, b in zip(sample["text"].tolist(), without["text"].tolist())])
    rate = NOISE_RATES[kind]
    assert abs(changed - rate) <= max(0.01, 0.2 * rate), (kind, changed, rate)


def test_code_switching_mixes_the_other_language_in(sample):
    without = generate_messages(ROWS, seed=0, include_lang=True, noise={"code_switch": 0})
    switched = [a for a, b in zip(sample["text"].tolist(), without["text"].tolist()) if a != b]
    english_in_spanish = [t for t, lang in zip(sample["text"], sample["lang"]) if t in switched and lang == "es"]
    assert any(re.search(r"\b(so annoying|please|order|card|refund|wtf|love it)\b", t) for t in english_in_spanish)


# ------------------------------------------------------------------------------------------- malformed
def test_malformed_rows_cover_every_representable_quarantine_reason(sample):
    assert set(MALFORMED_REASONS) | set(RAW_ONLY_REASONS) == set(contract.QUARANTINE_REASONS)
    found = {reason: int(hits.sum()) for reason, hits in malformed_checks(sample).items()}
    assert set(found) == set(MALFORMED_REASONS)
    assert found == sample.attrs["malformed_counts"]
    assert all(count > 0 for count in found.values()), found
    assert 0.025 <= sum(found.values()) / ROWS <= 0.035


def test_malformed_share_zero_gives_a_clean_batch():
    clean = generate_messages(2_000, seed=5, malformed_share=0)
    assert sum(int(hits.sum()) for hits in malformed_checks(clean).values()) == 0


def test_malformed_rows_keep_the_underlying_label_or_none(sample):
    checks = malformed_checks(sample)
    assert (sample.loc[checks["emoji_only"] | checks["url_only"], "label"] == "").all()
    assert (sample.loc[checks["text_too_long"] | checks["missing_text"], "label"] != "").all()


# ---------------------------------------------------------------------------------------------- writers
def _read_back(path) -> pd.DataFrame:
    """Read a written file with plain pandas, ids as strings."""
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    if path.suffix == ".json":
        return pd.DataFrame(json.loads(path.read_text(encoding="utf-8"))["data"], dtype=object)
    return pd.read_parquet(path)


@pytest.mark.parametrize("extension", ["csv", "jsonl", "json", "parquet"])
def test_every_format_writes_and_reads_back_with_pandas(tmp_path, sample, extension):
    path = tmp_path / f"messages.{extension}"
    report = write_demo_data(sample, path)
    back = _read_back(path)
    assert report["rows"] == len(back) == ROWS
    assert report["raw_defects"] == {}
    present = sample["id"].map(lambda v: isinstance(v, str) and v != "")
    assert back.loc[present.to_numpy(), "id"].tolist() == sample.loc[present, "id"].tolist()
    assert back["id"].dropna().map(lambda v: isinstance(v, str)).all()
    texts = sample["text"].map(lambda t: isinstance(t, str) and t.strip() != "")
    assert back.loc[texts.to_numpy(), "text"].tolist() == sample.loc[texts, "text"].tolist()
    assert set(back["label"].dropna()) - {""} == set(CATEGORIES)


def test_json_document_has_the_twitter_v2_shape_and_keeps_wrong_types(tmp_path, sample):
    path = tmp_path / "messages.json"
    write_demo_data(sample, path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["meta"]["result_count"] == len(document["data"]) == ROWS
    assert any(isinstance(record.get("text"), int) for record in document["data"])
    assert any("id" not in record for record in document["data"])  # a missing id is an absent field


def test_csv_raw_defects_hold_latin1_rows_and_a_wrong_field_count(tmp_path, sample):
    path = tmp_path / "messages.csv"
    report = write_demo_data(sample, path, raw_defects=True)
    latin1_rows, broken_rows = report["raw_defects"]["invalid_encoding"], report["raw_defects"]["malformed_record"]
    assert latin1_rows and broken_rows

    undecodable = 0
    for line in path.read_bytes().split(b"\n"):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            undecodable += 1
    assert undecodable == len(latin1_rows)

    records = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8", errors="replace"))))
    header, rows = records[0], records[1:]
    assert len(rows) == ROWS
    assert sum(len(row) != len(header) for row in rows) == len(broken_rows)


def test_jsonl_raw_defects_hold_latin1_lines_and_broken_json(tmp_path, sample):
    path = tmp_path / "messages.jsonl"
    report = write_demo_data(sample, path, raw_defects=True)
    lines = path.read_bytes().split(b"\n")[:-1]
    assert len(lines) == ROWS
    undecodable, unparsable = 0, 0
    for line in lines:
        try:
            json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            undecodable += 1
        except json.JSONDecodeError:
            unparsable += 1
    assert undecodable == len(report["raw_defects"]["invalid_encoding"]) > 0
    assert unparsable == len(report["raw_defects"]["malformed_record"]) > 0


@pytest.mark.parametrize("extension", ["csv", "jsonl"])
def test_raw_defects_only_hit_otherwise_clean_rows(tmp_path, sample, extension):
    """So the expected quarantine counts are the frame's malformed counts plus the raw defects."""
    report = write_demo_data(sample, tmp_path / f"messages.{extension}", raw_defects=True)
    rows = [p for positions in report["raw_defects"].values() for p in positions]
    flagged = pd.DataFrame(malformed_checks(sample)).any(axis=1)
    assert len(rows) == len(set(rows)) and not flagged.iloc[rows].any()
    assert (sample["label"].iloc[rows] != "").all()


@pytest.mark.parametrize("extension", ["json", "parquet"])
def test_formats_that_cannot_carry_raw_defects_are_written_clean(tmp_path, sample, extension):
    report = write_demo_data(sample, tmp_path / f"messages.{extension}", raw_defects=True)
    assert report["raw_defects"] == {}
    assert len(_read_back(tmp_path / f"messages.{extension}")) == ROWS


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path):
    path = tmp_path / "out" / "messages.jsonl"
    write_demo_data(generate_messages(50, seed=1), path)
    write_demo_data(generate_messages(60, seed=2), path)  # overwrite in place
    assert [p.name for p in path.parent.iterdir()] == ["messages.jsonl"]
    assert len(path.read_text(encoding="utf-8").splitlines()) == 60

    unserialisable = generate_messages(5, seed=1).assign(text=[{1}, "a", "b", "c", "d"])
    with pytest.raises(TypeError):
        write_demo_data(unserialisable, path)
    assert [p.name for p in path.parent.iterdir()] == ["messages.jsonl"]
    assert len(path.read_text(encoding="utf-8").splitlines()) == 60  # the old file is untouched


def test_unsupported_extension_is_rejected_before_writing(tmp_path):
    with pytest.raises(ValueError, match="unsupported extension"):
        write_demo_data(generate_messages(5), tmp_path / "messages.txt")
    assert list(tmp_path.iterdir()) == []
