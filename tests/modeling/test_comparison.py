"""DCR and CCR statistics and the checks of a comparison's pairs: hand-computed cases."""

from __future__ import annotations

import math

import pytest

from modeling.comparison import (
    ClipFacts,
    ComparisonError,
    PairVotes,
    ccr_relative,
    cmos,
    dmos,
    group_problems,
    on_scale,
    reference_pairs,
    version_groups,
)


def test_ccr_order_is_undone() -> None:
    # "much better" said of the second clip: the processed one when the reference led.
    assert ccr_relative(3, reference_first=True) == 3
    assert ccr_relative(3, reference_first=False) == -3
    assert ccr_relative(0, reference_first=False) == 0
    with pytest.raises(ValueError):
        ccr_relative(4, reference_first=True)


def test_cmos_of_votes_in_both_orders() -> None:
    # Relative to the reference: +2, +1, +3, +2 -> mean 2, s^2 = 2/3
    votes = PairVotes(scores=[2, -1, 3, -2], reference_first=[True, False, True, False])
    summary = cmos(votes)
    assert summary.mos == 2.0
    assert summary.n == 4
    assert summary.std == pytest.approx(math.sqrt(2 / 3))
    # t(0.975, 3) = 3.182446
    assert summary.ci95_t == pytest.approx(3.182446 * math.sqrt(2 / 3) / 2, rel=1e-6)


def test_a_rater_who_prefers_the_first_clip_cancels_out() -> None:
    # Always "the second is worse" whatever was played: no difference between versions.
    votes = PairVotes(scores=[-2, -2, -2, -2], reference_first=[True, False, True, False])
    assert cmos(votes).mos == 0.0


def test_dmos_is_the_mean_of_dcr_votes() -> None:
    summary = dmos([5, 4, 4, 3])
    assert summary.mos == 4.0
    assert summary.std == pytest.approx(math.sqrt(2 / 3))
    with pytest.raises(ValueError):
        dmos([0, 3])


def test_scales() -> None:
    assert on_scale("ccr", -3) and on_scale("ccr", 3) and not on_scale("ccr", 4)
    assert on_scale("dcr", 1) and not on_scale("dcr", 0)
    assert not on_scale("acr", -1)


def clip(name: str, seconds: float | None = 10.0, rate: int | None = 48000) -> ClipFacts:
    return ClipFacts(name=name, duration_s=seconds, sample_rate=rate)


def test_reference_pairs() -> None:
    clips = {n: clip(n) for n in ("a.wav", "a-declicked.wav", "a-denoised.wav")}
    pairs = reference_pairs(clips, {"a-declicked.wav": "a.wav", "a-denoised.wav": "a.wav"})
    assert pairs == [("a.wav", "a-declicked.wav"), ("a.wav", "a-denoised.wav")]


def test_every_problem_of_the_pairs_is_named_at_once() -> None:
    clips = {
        "a.wav": clip("a.wav"),
        "a-short.wav": clip("a-short.wav", seconds=8.0),
        "a-44k.wav": clip("a-44k.wav", rate=44100),
        "b-restored.wav": clip("b-restored.wav"),
    }
    with pytest.raises(ComparisonError) as raised:
        reference_pairs(
            clips,
            {"a-short.wav": "a.wav", "a-44k.wav": "a.wav", "b-restored.wav": "b.wav"},
        )
    problems = raised.value.problems
    assert len(problems) == 3
    assert "a-44k.wav and its reference a.wav differ in sample rate (44100 Hz" in problems[0]
    assert "a-short.wav and its reference a.wav differ in length (8.00 s" in problems[1]
    assert "b-restored.wav: its reference b.wav is missing" in problems[2]


def test_no_reference_at_all_is_refused() -> None:
    with pytest.raises(ComparisonError, match="no version names a reference"):
        reference_pairs({"a.wav": clip("a.wav")}, {})


def test_a_group_of_one_is_refused() -> None:
    assert group_problems({"w1": ["a", "b"], "w2": ["c"]}) == [
        "the work 'w2' has only one version (c); a group needs at least two"
    ]


def test_version_groups() -> None:
    clips = {n: clip(n) for n in ("a1", "a2", "a3", "b1", "b2", "c1")}
    works = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "c1": ""}
    assert version_groups(clips, works) == {"A": ["a1", "a2", "a3"], "B": ["b1", "b2"]}


def test_every_problem_of_the_groups_is_named_at_once() -> None:
    clips = {"a1": clip("a1"), "a2": clip("a2", rate=44100), "b1": clip("b1")}
    with pytest.raises(ComparisonError) as raised:
        version_groups(clips, {"a1": "A", "a2": "A", "b1": "B"})
    assert raised.value.problems == [
        "the work 'B' has only one version (b1); a group needs at least two",
        "a2 and its reference a1 differ in sample rate (44100 Hz against 48000 Hz); "
        "resample them to one rate",
    ]
    with pytest.raises(ComparisonError, match="no version names its work"):
        version_groups(clips, {})
