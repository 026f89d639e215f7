"""Specification of the drift statistics: the MMD permutation test holds its level and detects shifts, the
witness points at what changed, near copies are dropped, changed terms are whole words (Spanish included), and
prediction drift's tests and intervals agree with hand computations and published values."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from processing.monitoring.drift import (changed_terms, distinct_rows, holm, median_bandwidth, mmd_test,
                                         newcombe_interval, prediction_drift, two_proportion_p_value, unknown_word_shares,
                                         unknown_words_test)

SEEDS = range(100)


def gaussian_pair(seed: int, shift: float = 0.0, rows: int = 150, dimensions: int = 20):
    """Two samples of a standard Gaussian, the second moved by `shift` along every axis."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, dimensions)), rng.normal(size=(rows, dimensions)) + shift


def p_value(reference, batch, seed: int) -> float:
    return mmd_test(reference, batch, median_bandwidth(reference, seed=seed), permutations=100, seed=seed)["p_value"]


@pytest.fixture(scope="module")
def null_p_values() -> np.ndarray:
    """p-values of 100 seeded pairs drawn from the same distribution."""
    return np.array([p_value(*gaussian_pair(seed), seed) for seed in SEEDS])


def test_same_distribution_pairs_are_rejected_at_about_the_level_alpha(null_p_values):
    # Binomial(100, 0.05): 12 or more rejections has probability below 0.5%.
    assert np.mean(null_p_values < 0.05) <= 0.12


def test_the_permutation_p_values_are_spread_over_the_unit_interval_under_the_null(null_p_values):
    assert 0.35 <= np.mean(null_p_values < 0.5) <= 0.65
    assert stats.kstest(null_p_values, "uniform").pvalue > 0.01


def test_a_mean_shift_is_detected_in_every_seed():
    rejections = [p_value(*gaussian_pair(seed, shift=0.4), seed) < 0.05 for seed in range(20)]
    assert all(rejections)


def test_the_witness_ranks_the_shifted_rows_of_a_mixture_highest():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(200, 20))
    batch = np.vstack([rng.normal(size=(170, 20)), rng.normal(size=(30, 20)) + 2.0])  # the last 30 moved
    result = mmd_test(reference, batch, median_bandwidth(reference), permutations=100, seed=1)
    top = np.argsort(-result["witness"])[:30]
    assert result["witness"].shape == (200,)
    assert np.mean(top >= 170) >= 0.9


def test_the_test_is_reproducible_from_its_seed():
    reference, batch = gaussian_pair(3)
    first, second = (mmd_test(reference, batch, 5.0, permutations=50, seed=7) for _ in range(2))
    assert first["statistic"] == second["statistic"] and first["p_value"] == second["p_value"]
    assert np.array_equal(first["witness"], second["witness"])


def test_median_bandwidth_is_the_median_pairwise_distance():
    points = np.array([[0.0], [1.0], [3.0]])  # distances 1, 2, 3
    assert median_bandwidth(points) == pytest.approx(2.0)


def test_median_bandwidth_is_deterministic_for_a_seed_when_it_samples():
    vectors = np.random.default_rng(0).normal(size=(1500, 5))
    assert median_bandwidth(vectors, max_rows=300, seed=4) == median_bandwidth(vectors, max_rows=300, seed=4)
    assert median_bandwidth(np.zeros((4, 3))) == 1.0  # all rows equal: a usable bandwidth, never zero


def test_distinct_rows_drops_near_copies_and_keeps_distinct_rows():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(5, 30))
    copies = rows[[1, 3]] * 1.5 + rng.normal(scale=0.01, size=(2, 30))  # rescaled, lightly edited copies
    vectors = np.vstack([rows, copies, np.zeros((1, 30))])
    assert distinct_rows(vectors).tolist() == [0, 1, 2, 3, 4, 7]


def test_distinct_rows_keeps_every_row_of_orthogonal_vectors():
    assert distinct_rows(np.eye(6)).tolist() == list(range(6))


# ---- changed terms

REFERENCE_TEXTS = [f"mi tarjeta fue bloqueada hoy {i}" for i in range(150)] + \
                  [f"quiero cancelar la suscripción número {i}" for i in range(150)]


def test_a_word_only_in_the_batch_is_more_frequent_with_its_shares():
    batch = [f"mi tarjeta fue bloqueada hoy {i}" for i in range(100)] + ["estafa con mi tarjeta"] * 100
    result = changed_terms(REFERENCE_TEXTS, batch)
    fraud = next(item for item in result["more_frequent"] if item["term"] == "estafa")
    assert fraud["batch_share"] == 0.5 and fraud["baseline_share"] == 0.0 and fraud["z"] >= 3


def test_a_word_that_disappeared_is_less_frequent():
    batch = [f"mi tarjeta fue bloqueada hoy {i}" for i in range(200)]
    less = {item["term"]: item for item in changed_terms(REFERENCE_TEXTS, batch)["less_frequent"]}
    assert {"cancelar", "suscripción"} <= set(less)
    assert less["cancelar"]["batch_share"] == 0.0 and less["cancelar"]["baseline_share"] == 0.5
    assert less["cancelar"]["z"] <= -3


def test_two_samples_of_the_same_texts_list_nothing():
    rng = np.random.default_rng(0)
    batch = [REFERENCE_TEXTS[i] for i in rng.permutation(len(REFERENCE_TEXTS))]
    assert changed_terms(REFERENCE_TEXTS, batch) == {"more_frequent": [], "less_frequent": []}


def test_spanish_accented_words_are_kept_whole():
    batch = ["la educación y la atención al cliente añadió más quejas"] * 100
    terms = {item["term"] for item in changed_terms(REFERENCE_TEXTS, batch)["more_frequent"]}
    assert {"educación", "atención", "añadió", "más"} <= terms
    assert not terms & {"educaci", "atenci", "ad", "n"}


def test_number_tokens_are_never_terms():
    batch = [f"pedido 12345 y 99 con código ab12 el {i}" for i in range(200)]
    result = changed_terms(REFERENCE_TEXTS, batch, top=1000, min_z=0.0)
    listed = [item["term"] for side in result.values() for item in side]
    assert "pedido" in listed
    assert not [term for term in listed if any(char.isdigit() for char in term)]


def test_samples_without_any_word_list_nothing():
    assert changed_terms(["🙂", "42"], ["!!", "7"]) == {"more_frequent": [], "less_frequent": []}
    assert changed_terms([], ["hola"]) == {"more_frequent": [], "less_frequent": []}


# ---- prediction drift

def test_a_doubled_category_is_detected_with_an_interval_around_the_true_change():
    baseline = {"billing": 500, "cards": 500, "support": 1000}  # shares .25 .25 .5
    batch = {"billing": 1000, "cards": 250, "support": 750}  # billing doubles to .5
    result = prediction_drift(baseline, batch)
    billing = next(row for row in result["categories"] if row["category"] == "billing")
    assert result["detected"] is True and result["chi2_p_value"] < 1e-6
    assert billing["significant"] and billing["change"] == pytest.approx(0.25)
    low, high = billing["interval"]
    assert 0 < low < 0.25 < high
    assert result["categories"][0]["category"] == "billing"  # largest change first
    assert 0 < result["jensen_shannon"] <= 1


def test_identical_shares_are_not_detected():
    counts = {"billing": 300, "cards": 200, "support": 500}
    result = prediction_drift(counts, {name: 2 * count for name, count in counts.items()})
    assert result["detected"] is False and result["chi2_p_value"] == pytest.approx(1.0)
    assert not any(row["significant"] for row in result["categories"])
    assert result["jensen_shannon"] == pytest.approx(0.0, abs=1e-9)
    assert all(row["interval"][0] < 0 < row["interval"][1] for row in result["categories"])


def test_a_category_new_in_the_batch_appears_with_a_zero_baseline_share():
    result = prediction_drift({"a": 500, "b": 500}, {"a": 400, "b": 400, "c": 200})
    new = next(row for row in result["categories"] if row["category"] == "c")
    assert new["baseline_share"] == 0.0 and new["batch_share"] == 0.2 and new["significant"]


def test_holm_adjustment_matches_a_hand_computation():
    # sorted: .005 x4 = .02, .01 x3 = .03, .03 x2 = .06, .04 x1 = .04 -> kept monotone: .06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


@pytest.mark.parametrize("counts, published", [
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (score, no continuity correction)
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
])
def test_newcombe_interval_matches_the_published_worked_examples(counts, published):
    assert newcombe_interval(*counts) == pytest.approx(published, abs=5e-5)


def test_two_proportion_p_value_two_sided_and_one_sided():
    # 60/100 vs 40/100: pooled .5, se = sqrt(.25 * .02), z = 2.828
    z = 0.2 / np.sqrt(0.25 * 0.02)
    two_sided = two_proportion_p_value(60, 100, 40, 100)
    assert two_sided == pytest.approx(2 * stats.norm.sf(z))
    assert two_proportion_p_value(60, 100, 40, 100, alternative="greater") == pytest.approx(two_sided / 2)
    assert two_proportion_p_value(40, 100, 60, 100, alternative="greater") == pytest.approx(1 - two_sided / 2)
    assert two_proportion_p_value(40, 100, 60, 100) == pytest.approx(two_sided)


def test_two_proportion_p_value_of_empty_or_constant_samples_is_one():
    assert two_proportion_p_value(0, 0, 5, 10) == 1.0
    assert two_proportion_p_value(0, 10, 0, 10) == 1.0


def test_unknown_word_shares_count_the_words_a_vocabulary_lacks():
    shares = unknown_word_shares(["cobrar tarjeta", "phishing enlace tarjeta", "", "a"], frozenset({"cobrar", "tarjeta"}))
    assert shares.tolist() == [0.0, 2 / 3, 0.0, 0.0]  # one-letter tokens are not words, as for the classifier


def test_the_unknown_words_test_sees_a_batch_with_more_unseen_words_and_not_the_reverse():
    rng = np.random.default_rng(0)
    reference = rng.beta(1, 20, size=800)
    assert unknown_words_test(reference, rng.beta(1, 20, size=800)) > 0.01
    shifted = np.concatenate([rng.beta(1, 20, size=720), rng.beta(5, 5, size=80)])  # 10% mostly unseen words
    assert unknown_words_test(reference, shifted) < 1e-6
    assert unknown_words_test(shifted, reference) > 0.5  # one-sided: fewer unseen words is no drift
