"""The rater verdict against cheaters who pass every trap, digit and math question but
rate the music at random, in a simulated crowd on Vinylset's published labels (its MOS as
the truth, its per-stimulus std as honest raters' noise). Vinylset's MOS spans a narrow
range (sd 0.35 against 0.85 within a stimulus), which is what makes a rater-vs-crowd
correlation weak without gold clips."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from modeling.crowd import STRATEGIES, CrowdVotes, simulate_crowd
from modeling.screening import ScreeningRules, rater_agreement, rater_verdict

VINYLSET = Path(__file__).resolve().parents[1] / "data" / "vinylset_MOS.csv"


def vinylset() -> tuple[np.ndarray, np.ndarray]:
    with VINYLSET.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([float(r["label"]) for r in rows]), np.array([float(r["std"]) for r in rows])


def caught_and_excluded(crowd: CrowdVotes, *, gold: bool = True) -> tuple[float, float]:
    """Share of cheaters judged invalid, and of honest raters judged invalid."""
    none = np.array([], dtype=np.int64)
    agreement = rater_agreement(
        crowd.rater,
        crowd.stimulus,
        crowd.score,
        gold_raters=crowd.gold_rater if gold else none,
        gold_expected=crowd.gold_expected if gold else none,
        gold_given=crowd.gold_given if gold else none,
    )
    rules = ScreeningRules()
    invalid = np.array(
        [rater_verdict(agreement.get(r), rules).valid is False for r in range(crowd.cheater.size)]
    )
    return float(invalid[crowd.cheater].mean()), float(invalid[~crowd.cheater].mean())


@pytest.mark.parametrize("strategy", [*STRATEGIES, "mixed"])
def test_the_default_rules_catch_random_raters_who_pass_the_traps(strategy: str) -> None:
    mos, spread = vinylset()
    caught, excluded = [], []
    for seed in range(3):
        crowd = simulate_crowd(mos, spread, strategy=strategy, seed=seed)
        # Such a cheater passes every session rule that is on: variance above 0.1.
        cheat_votes = crowd.cheater[crowd.rater]
        assert np.var(crowd.score[cheat_votes], ddof=1) > 0.1
        c, e = caught_and_excluded(crowd)
        caught.append(c)
        excluded.append(e)
    print(
        f"\n{strategy}: {np.mean(caught):.1%} of cheaters caught, "
        f"{np.mean(excluded):.1%} of honest raters excluded "
        f"(3 crowds of {crowd.cheater.size} raters, {crowd.sessions} sessions each)"
    )
    assert np.mean(caught) >= 0.90
    assert np.mean(excluded) <= 0.05


def test_without_gold_clips_the_correlation_alone_is_too_weak_here() -> None:
    """Why gold is in the default design: on Vinylset's narrow MOS range the same
    threshold without gold would exclude far more honest raters than it may."""
    mos, spread = vinylset()
    crowd = simulate_crowd(mos, spread, seed=0)
    _, excluded = caught_and_excluded(crowd, gold=False)
    print(f"\nwithout gold: {excluded:.1%} of honest raters excluded")
    assert excluded > 0.2


def test_early_in_collection_raters_wait_for_a_verdict() -> None:
    """With a handful of votes nobody has enough counted answers: pending, never invalid."""
    mos, spread = vinylset()
    crowd = simulate_crowd(mos[:40], spread[:40], votes_per_stimulus=1, seed=1)
    agreement = rater_agreement(
        crowd.rater[:8],
        crowd.stimulus[:8],
        crowd.score[:8],
        gold_raters=crowd.gold_rater[:1],
        gold_expected=crowd.gold_expected[:1],
        gold_given=crowd.gold_given[:1],
    )
    assert all(rater_verdict(a).valid is None for a in agreement.values())


def test_the_simulated_crowd_is_seeded_and_checks_its_strategy() -> None:
    mos, spread = vinylset()
    a = simulate_crowd(mos[:100], spread[:100], seed=4)
    b = simulate_crowd(mos[:100], spread[:100], seed=4)
    assert np.array_equal(a.score, b.score) and np.array_equal(a.cheater, b.cheater)
    assert a.sessions == 100 * 30 // 20
    assert np.bincount(a.stimulus).mean() == pytest.approx(30, rel=0.01)
    with pytest.raises(ValueError, match="strategy"):
        simulate_crowd(mos, spread, strategy="clever")
