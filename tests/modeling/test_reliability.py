"""Reliability of a crowd's votes: Krippendorff's alpha (ordinal) and the Spearman-Brown
corrected split-half correlation, with bootstrap intervals, on crowds whose agreement is
known by construction."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from modeling.reliability import Estimate, reliability, value_counts


def bounds(estimate: Estimate) -> tuple[float, float, float]:
    """An estimate's interval and value: (low, value, high), all present."""
    low, value, high = estimate.low, estimate.value, estimate.high
    assert low is not None and value is not None and high is not None
    return low, value, high


def crowd(
    stimuli: int, votes: int, noise: float, seed: int = 0, spread: float = 1.0
) -> tuple[dict[int, list[int]], float]:
    """Votes on the ACR scale around a true MOS per stimulus (spread `spread`), with rater
    noise `noise`; and the reliability of a stimulus's mean that this implies."""
    rng = np.random.default_rng(seed)
    truth = np.clip(rng.normal(3.0, spread, stimuli), 1, 5)
    data = {
        i: [int(np.clip(np.rint(t + rng.normal(0, noise)), 1, 5)) for _ in range(votes)]
        for i, t in enumerate(truth)
    }
    return data, float(np.var(truth) / (np.var(truth) + noise**2 / votes))


def test_alpha_from_value_counts_is_the_packages_alpha_on_the_raw_table() -> None:
    """The count table is a faithful view of a raters x stimuli table with gaps."""
    rng = np.random.default_rng(3)
    table = rng.integers(1, 6, size=(12, 30)).astype(float)
    table[rng.random(table.shape) < 0.6] = np.nan  # each rater rates some stimuli
    votes = {unit: [int(x) for x in table[:, unit] if not np.isnan(x)] for unit in range(30)}
    votes = {k: v for k, v in votes.items() if len(v) >= 2}
    ours = reliability(votes, resamples=0).alpha.value
    theirs = krippendorff.alpha(
        reliability_data=table[:, list(votes)], level_of_measurement="ordinal"
    )
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_agreeing_crowd_is_reliable_and_a_random_one_is_not() -> None:
    agreeing, expected = crowd(stimuli=120, votes=12, noise=0.5)
    found = reliability(agreeing)
    assert found.alpha.value is not None and found.alpha.value > 0.6
    assert found.split_half.value == pytest.approx(expected, abs=0.05)
    rng = np.random.default_rng(1)
    random = {i: [int(x) for x in rng.integers(1, 6, 12)] for i in range(120)}
    chance = reliability(random)
    assert chance.alpha.value is not None and abs(chance.alpha.value) < 0.05
    assert chance.split_half.value is not None and abs(chance.split_half.value) < 0.3
    # Each interval holds its estimate, and excludes zero only for the agreeing crowd.
    for estimate in (found.alpha, found.split_half, chance.alpha):
        low, value, high = bounds(estimate)
        assert low <= value <= high
    chance_low, _, chance_high = bounds(chance.alpha)
    assert bounds(found.alpha)[0] > 0.5 and chance_low < 0 < chance_high


def test_more_votes_raise_split_half_reliability_as_spearman_brown_says() -> None:
    few, few_expected = crowd(stimuli=150, votes=4, noise=1.0, seed=5)
    many, many_expected = crowd(stimuli=150, votes=24, noise=1.0, seed=5)
    low, high = reliability(few).split_half, reliability(many).split_half
    assert low.value == pytest.approx(few_expected, abs=0.08)
    assert high.value == pytest.approx(many_expected, abs=0.05)
    assert high.value is not None and low.value is not None and high.value > low.value
    # More stimuli, a narrower interval.
    wide = reliability(crowd(stimuli=30, votes=12, noise=1.0, seed=2)[0]).alpha
    narrow = reliability(crowd(stimuli=300, votes=12, noise=1.0, seed=2)[0]).alpha
    narrow_low, _, narrow_high = bounds(narrow)
    wide_low, _, wide_high = bounds(wide)
    assert narrow_high - narrow_low < wide_high - wide_low


def test_single_votes_are_left_out_and_too_little_data_gives_no_figure() -> None:
    votes = {1: [3], 2: [4, 4], 3: [2, 3]}
    found = reliability(votes)
    assert (found.stimuli, found.stimuli_left_out, found.votes) == (2, 1, 4)
    assert found.split_half.value is None  # three stimuli with two votes are needed
    assert found.split_half.low is None
    assert reliability({}).alpha.value is None
    assert reliability({1: [3, 3], 2: [3, 3], 3: [3, 3]}).alpha.value is None  # no variation
    with pytest.raises(ValueError, match="ACR"):
        value_counts({1: [0, 6]})
    alpha = found.as_json()["krippendorff_alpha_ordinal"]
    assert isinstance(alpha, dict) and alpha["value"] is not None
