"""The P.913 subject model: rater bias and inconsistency removed from the MOS."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from modeling.bias import subject_model
from modeling.crowd import simulate_crowd

VINYLSET = Path(__file__).resolve().parents[1] / "data" / "vinylset_MOS.csv"


def test_exact_offsets_are_recovered_where_the_plain_mos_is_wrong() -> None:
    """Raters with offsets -1, 0, +1 rate overlapping halves of 6 stimuli, no noise: the
    plain MOS mixes the offsets in, the model takes them out exactly."""
    psi = np.array([1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    offsets = {"low": -1.0, "mid": 0.0, "high": 1.0}
    rated = {"low": [0, 1, 2, 3], "mid": [0, 1, 2, 3, 4, 5], "high": [2, 3, 4, 5]}
    raters, stimuli, scores = [], [], []
    for rater, js in rated.items():
        for j in js:
            raters.append(rater)
            stimuli.append(j)
            scores.append(psi[j] + offsets[rater])
    model = subject_model(raters, stimuli, scores, min_inconsistency=0.1)
    assert model.converged
    plain = np.bincount(stimuli, weights=scores) / np.bincount(stimuli)
    assert np.abs(plain - psi).max() > 0.3
    np.testing.assert_allclose(model.mos, psi, atol=1e-4)
    bias = dict(zip(model.raters, model.bias))
    assert bias["high"] - bias["mid"] == pytest.approx(1.0, abs=1e-4)
    assert bias["mid"] - bias["low"] == pytest.approx(1.0, abs=1e-4)
    assert sum(bias.values()) == pytest.approx(0.0, abs=1e-9)  # the biases sum to zero
    # No spread left: every rater sits at the floor, so no one takes over.
    assert model.inconsistency.tolist() == pytest.approx([0.1, 0.1, 0.1])
    # By default the floor is the spread of rounding to whole points.
    floored = subject_model(raters, stimuli, scores).inconsistency
    assert floored.tolist() == pytest.approx([1 / np.sqrt(12)] * 3)


def test_the_corrected_mos_stays_on_the_scale() -> None:
    """A stimulus rated 5 only by a rater who rates everything else a point below the
    others comes out above 5 in the linear model; it is reported as 5."""
    raters = ["a", "b"] * 3 + ["b"]
    stimuli = [1, 1, 2, 2, 3, 3, 4]
    scores = [3, 2, 4, 3, 5, 4, 5]
    model = subject_model(raters, stimuli, scores)
    unclipped = subject_model(raters, stimuli, scores, scale=None)
    assert unclipped.mos.max() > 5.0
    assert model.mos.max() == 5.0 and model.mos.min() >= 1.0


def test_the_fit_is_a_fixed_point_of_its_updates() -> None:
    rng = np.random.default_rng(2)
    raters = rng.integers(0, 15, 400)
    stimuli = rng.integers(0, 30, 400)
    scores = rng.integers(1, 6, 400)
    model = subject_model(raters, stimuli, scores, tolerance=1e-10, scale=None)
    assert model.converged
    r = np.searchsorted(model.raters, raters)
    s = np.searchsorted(model.stimuli, stimuli)
    w = 1.0 / model.inconsistency[r] ** 2
    again = np.bincount(s, weights=w * (scores - model.bias[r])) / np.bincount(s, weights=w)
    np.testing.assert_allclose(again, model.mos, atol=1e-8)
    information = np.bincount(s, weights=w)
    np.testing.assert_allclose(model.ci95, 1.96 / np.sqrt(information))
    assert model.votes.sum() == 400


def test_a_rater_with_one_vote_gets_the_others_median_inconsistency() -> None:
    raters = ["a"] * 4 + ["b"] * 4 + ["c"]
    stimuli = [1, 2, 3, 4] * 2 + [1]
    scores = [1, 3, 3, 5, 2, 2, 4, 4, 5]
    model = subject_model(raters, stimuli, scores)
    spread = dict(zip(model.raters, model.inconsistency))
    assert spread["c"] == pytest.approx(np.median([spread["a"], spread["b"]]))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        subject_model(["a"], [1, 2], [3])
    with pytest.raises(ValueError, match="needs votes"):
        subject_model([], [], [])


def test_on_a_crowd_with_known_offsets_the_corrected_mos_is_closer_to_the_truth() -> None:
    """Honest raters with offsets of sd 0.6 ACR points (and half Vinylset's within-stimulus
    spread), 20 votes per stimulus on Vinylset's 620 MOS values as the truth."""
    with VINYLSET.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    truth = np.array([float(r["label"]) for r in rows])
    spread = np.array([float(r["std"]) for r in rows]) * 0.5
    errors_plain, errors_corrected, bias_r = [], [], []
    for seed in range(3):
        crowd = simulate_crowd(
            truth, spread, votes_per_stimulus=20, cheat_share=0.0, bias_sd=0.6, seed=seed
        )
        model = subject_model(crowd.rater, crowd.stimulus, crowd.score)
        plain = np.bincount(crowd.stimulus, weights=crowd.score) / np.bincount(crowd.stimulus)
        target = truth[model.stimuli]
        errors_plain.append(np.sqrt(np.mean((plain[model.stimuli] - target) ** 2)))
        errors_corrected.append(np.sqrt(np.mean((model.mos - target) ** 2)))
        bias_r.append(np.corrcoef(model.bias, crowd.bias[model.raters])[0, 1])
    plain_rmse, corrected_rmse = np.mean(errors_plain), np.mean(errors_corrected)
    print(
        f"\nRMSE to the truth: plain {plain_rmse:.3f}, corrected {corrected_rmse:.3f} "
        f"({corrected_rmse / plain_rmse:.2f}x); estimated vs true bias r = {np.mean(bias_r):.3f}"
    )
    assert corrected_rmse < 0.8 * plain_rmse
    assert np.mean(bias_r) > 0.95
