"""Bradley-Terry ranking, adaptive pairs and the comparison tests' validity in a simulated
crowd: versions of known order made by degrading one track at increasing strength."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modeling.comparison import PairVotes, cmos
from modeling.crowd import SimulatedRater
from modeling.ranking import bradley_terry, kendall_tau, next_pair, rank_versions
from modeling.screening import rater_agreement, rater_verdict
from modeling.synth import synth_track


def test_two_versions_three_wins_in_four() -> None:
    # P(0 > 1) = 3/4 maximises the likelihood: s0 - s1 = log(3), centred +-log(3)/2
    strengths = bradley_terry(2, [(0, 1)] * 3 + [(1, 0)], alpha=1e-9)
    assert strengths[0] - strengths[1] == pytest.approx(math.log(3), rel=1e-4)
    assert strengths.sum() == pytest.approx(0.0, abs=1e-9)


def test_bad_comparisons_are_refused() -> None:
    with pytest.raises(ValueError):
        bradley_terry(1, [])
    with pytest.raises(ValueError):
        bradley_terry(3, [(0, 3)])
    with pytest.raises(ValueError):
        bradley_terry(3, [(1, 1)])


def test_kendall_tau() -> None:
    assert kendall_tau([0, 1, 2, 3], [0, 1, 2, 3]) == 1.0
    assert kendall_tau([3, 2, 1, 0], [0, 1, 2, 3]) == -1.0
    # one swap of 6 pairs: (5 - 1) / 6
    assert kendall_tau([1, 0, 2, 3], [0, 1, 2, 3]) == pytest.approx(4 / 6)


def test_the_next_pair_is_the_least_known() -> None:
    assert next_pair(3, []) == (0, 1)
    # 0 and 1 compared ten times, 2 never: any pair with 2 tells more
    assert 2 in next_pair(3, [(0, 1), (1, 0)] * 5)
    # a pair already in the rater's session is not asked again
    assert next_pair(3, [], exclude=[(1, 0)]) == (0, 2)


def test_a_clear_winner_is_known_to_be_best() -> None:
    comparisons = [(0, 1)] * 8 + [(0, 2)] * 8 + [(1, 2)] * 6 + [(2, 1)] * 2
    ranking = rank_versions(3, comparisons, n_boot=200, seed=1)
    assert ranking.order == [0, 1, 2]
    assert ranking.p_top_best > 0.95
    assert all(ranking.ci_low <= ranking.strengths) and all(ranking.strengths <= ranking.ci_high)
    assert list(ranking.wins) == [16, 6, 2] and list(ranking.comparisons) == [16, 16, 16]


# --- Validity in a simulated crowd ----------------------------------------------------

STRENGTHS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # crackle on one track, best version first


def known_quality() -> list[float]:
    """Each version's quality on the ACR scale from its signal-to-degradation ratio
    against the clean track: 1 + (SNR - 5 dB) / 5 within 1..5. Known order: the
    stronger the crackle, the lower."""
    clean = synth_track(seconds=3.0, sample_rate=16000, seed=7)
    quality = []
    for strength in STRENGTHS:
        version = synth_track(seconds=3.0, sample_rate=16000, seed=7, faults={"crackle": strength})
        noise = float(((version - clean) ** 2).sum())
        snr = 10 * math.log10(float((clean**2).sum()) / max(noise, 1e-12))
        quality.append(min(5.0, max(1.0, 1 + (snr - 5) / 5)))
    return quality


def test_the_versions_quality_follows_the_degradation() -> None:
    quality = known_quality()
    assert quality == sorted(quality, reverse=True)
    assert quality[0] == 5.0 and quality[-1] < 2.5


def collect(
    quality: list[float], budget: int, *, adaptive: bool, seed: int
) -> list[tuple[int, int]]:
    """`budget` preferences from honest raters, one pair each: adaptive, or every pair in
    turn."""
    rng = np.random.default_rng(seed)
    n = len(quality)
    every = [(i, j) for i in range(n) for j in range(i + 1, n)]
    comparisons: list[tuple[int, int]] = []
    for k in range(budget):
        i, j = next_pair(n, comparisons) if adaptive else every[k % len(every)]
        rater = SimulatedRater(spread=0.7)
        first = bool(rng.random() < 0.5)  # the order played
        a, b = (i, j) if first else (j, i)
        winner, loser = (a, b) if rater.prefers_first(quality[a], quality[b], rng) else (b, a)
        comparisons.append((winner, loser))
    return comparisons


def test_the_ranking_recovers_the_known_order() -> None:
    """6 versions from 90 judgements, fewer than the 15 pairs x 10 votes of asking every
    pair: Kendall's tau against the known order, over 10 simulated crowds."""
    quality = known_quality()
    truth = list(range(len(quality)))
    taus: dict[bool, list[float]] = {True: [], False: []}
    tops = []
    for seed in range(10):
        for adaptive in (True, False):
            ranking = rank_versions(
                len(quality), collect(quality, 90, adaptive=adaptive, seed=seed), n_boot=100
            )
            taus[adaptive].append(kendall_tau(ranking.order, truth))
            if adaptive:
                tops.append((ranking.order[0] == 0, ranking.p_top_best))
    adaptive_tau, fixed_tau = float(np.mean(taus[True])), float(np.mean(taus[False]))
    print(f"Kendall's tau, 90 judgements: adaptive {adaptive_tau:.3f}, every pair {fixed_tau:.3f}")
    assert adaptive_tau >= 0.8
    assert min(taus[True]) >= 0.6
    assert adaptive_tau >= fixed_tau - 0.05
    # the best version is found, and the ranking says how sure it is
    assert sum(found for found, _ in tops) >= 8
    assert np.mean([p for _, p in tops]) > 0.5


def ccr_votes(quality: list[float], reference: int, processed: int, n: int, seed: int) -> PairVotes:
    rng = np.random.default_rng(seed)
    scores, orders = [], []
    for k in range(n):
        rater = SimulatedRater(spread=0.7)
        reference_first = k % 2 == 0
        a, b = (reference, processed) if reference_first else (processed, reference)
        scores.append(rater.compare(quality[a], quality[b], rng))
        orders.append(reference_first)
    return PairVotes(scores=scores, reference_first=orders)


def test_the_cmos_sign_matches_the_known_better_clip() -> None:
    quality = known_quality()
    for k in range(len(quality) - 1):
        # processing that adds crackle makes it worse; taking it away, better
        worse = cmos(ccr_votes(quality, k, k + 1, 24, seed=k))
        better = cmos(ccr_votes(quality, k + 1, k, 24, seed=100 + k))
        assert worse.mos < 0 < better.mos, (k, worse, better)
        assert worse.ci95_t is not None and worse.mos + worse.ci95_t < 0.5


def test_random_raters_are_caught_by_the_traps_and_the_consistency_rule() -> None:
    """CCR crowds over all 15 pairs of the 6 versions, 3 sessions of 12 pairs a rater:
    honest raters, random raters who pass the traps, and careless ones who answer traps
    at random. The traps catch the careless; the rater verdict (the correlation of the
    order-undone answers with the others' CMOS per pair, the rule ACR uses, at ACR's
    0.3) catches most trap-passing random raters and almost no honest one. Over 20
    crowds: 3 of 480 honest raters and 66 of 80 random ones were left out."""
    quality = known_quality()
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    honest_out = random_out = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        raters = [SimulatedRater(spread=0.7) for _ in range(24)]
        raters += [SimulatedRater(strategy="uniform") for _ in range(4)]
        raters += [SimulatedRater(strategy="uniform", careless=True) for _ in range(2)]
        ids, pair_ids, relative, trap_failed = [], [], [], set()
        for who, rater in enumerate(raters):
            for _ in range(3):
                trap = int(rng.choice([-3, -2, 0, 2, 3]))
                if rater.answer_trap(trap, rng, scale=(-3, 3)) != trap:
                    trap_failed.add(who)  # the session is invalid: its votes don't count
                    continue
                for p in rng.choice(len(pairs), 12, replace=False):
                    reference, processed = pairs[p]
                    reference_first = bool(rng.random() < 0.5)
                    a, b = (reference, processed) if reference_first else (processed, reference)
                    given = rater.compare(quality[a], quality[b], rng)
                    ids.append(who)
                    pair_ids.append(int(p))
                    relative.append(given if reference_first else -given)
        assert trap_failed == {28, 29}
        agreements = rater_agreement(ids, pair_ids, relative)
        valid = {who: rater_verdict(agreements.get(who)).valid for who in range(28)}
        honest_out += sum(valid[who] is False for who in range(24))
        random_out += sum(valid[who] is False for who in range(24, 28))
    print(f"left out: {honest_out} of 480 honest, {random_out} of 80 random raters")
    assert honest_out <= 10  # 2%
    assert random_out >= 60  # 75%
