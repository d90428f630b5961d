"""The simulated crowd's single rater, the one the demo, the benchmarks and the API tests
share: hand-checked answers for the cases that need no statistics."""

from __future__ import annotations

import numpy as np
import pytest

from modeling.crowd import GOLD_HEARD, GOLD_SCORE, SimulatedRater, acr


def test_an_honest_rater_hears_the_quality_through_bias_and_noise_on_the_acr_scale() -> None:
    rng = np.random.default_rng(0)
    exact = SimulatedRater(bias=0.4, spread=0.0)
    assert [exact.rate(q, rng) for q in (0.2, 2.0, 3.3, 4.7, 6.0)] == [1, 2, 4, 5, 5]
    assert SimulatedRater(spread=0.0).rate(GOLD_HEARD, rng) == GOLD_SCORE

    noisy = SimulatedRater(bias=-0.5, spread=0.7)
    scores = np.array([noisy.rate(3.5, rng) for _ in range(4000)])
    assert set(scores) <= {1, 2, 3, 4, 5}
    assert scores.mean() == pytest.approx(3.0, abs=0.05)


def test_the_same_seed_gives_the_same_answers() -> None:
    rater = SimulatedRater(bias=0.1, spread=0.7)
    first = [rater.rate(3.0, np.random.default_rng(7)) for _ in range(3)]
    assert first == [rater.rate(3.0, np.random.default_rng(7)) for _ in range(3)]


@pytest.mark.parametrize(
    ("strategy", "allowed"),
    [("uniform", {1, 2, 3, 4, 5}), ("middle", {2, 3, 4}), ("narrow", {3, 4})],
)
def test_a_cheater_answers_by_strategy_without_the_quality(
    strategy: str, allowed: set[int]
) -> None:
    rng = np.random.default_rng(1)
    cheater = SimulatedRater(strategy=strategy)
    assert {cheater.rate(None, rng) for _ in range(500)} == allowed


def test_traps_are_answered_right_unless_careless() -> None:
    rng = np.random.default_rng(2)
    assert {SimulatedRater().answer_trap(3, rng) for _ in range(50)} == {3}
    careless = SimulatedRater(careless=True)
    assert {careless.answer_trap(3, rng) for _ in range(200)} == {1, 2, 4, 5}


def test_what_cannot_be_simulated_is_refused() -> None:
    with pytest.raises(ValueError, match="strategy must be None or one of"):
        SimulatedRater(strategy="lazy")
    with pytest.raises(ValueError, match="needs the clip's quality"):
        SimulatedRater().rate(None, np.random.default_rng(0))


def test_acr_rounds_to_whole_points_within_the_scale() -> None:
    assert acr(np.array([-1.0, 1.49, 1.51, 3.5, 4.5, 9.0])).tolist() == [1, 1, 2, 4, 4, 5]
