"""Session screening rules and the optional vote-level rules, on hand-computed cases."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from modeling.screening import (
    RaterAgreement,
    RaterReason,
    RaterVerdict,
    Reason,
    ScreeningRules,
    SessionAnswers,
    SessionTable,
    Verdict,
    outlier_votes,
    rater_agreement,
    rater_verdict,
    rating_variance,
    screen_session,
    screen_sessions,
)

VARIED = [1, 2, 3, 4, 5] * 4  # variance 40/19


def session(**changes: Any) -> SessionAnswers:
    """A session that passes every default rule, with `changes` applied."""
    good = SessionAnswers(
        session="s1",
        rater="r1",
        ordinal=1,
        completed=True,
        scores=VARIED,
        math_correct=True,
        hearing_normal=True,
        headphones=True,
        setup_passed=True,
        traps=[(4, 4)],
        gold=[(5, 5)],
    )
    return dataclasses.replace(good, **changes)


def test_a_good_session_is_valid() -> None:
    assert screen_session(session()) == Verdict(valid=True, reasons=())


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"math_correct": False}, Reason.MATH_WRONG),
        ({"traps": [(4, 3)]}, Reason.TRAP_WRONG),
        ({"traps": [(4, 4), (2, None)]}, Reason.TRAP_WRONG),
        ({"hearing_normal": False}, Reason.ABNORMAL_HEARING),
        ({"headphones": False}, Reason.NO_HEADPHONES),
        ({"setup_passed": False}, Reason.SETUP_FAILED),
        ({"scores": [3] * 20}, Reason.LOW_VARIANCE),
        ({"ordinal": 21}, Reason.OVER_SESSION_CAP),
    ],
)
def test_each_default_rule_excludes_with_its_reason(
    changes: dict[str, Any], reason: Reason
) -> None:
    assert screen_session(session(**changes)) == Verdict(valid=False, reasons=(reason,))


@pytest.mark.parametrize(
    ("changes", "switch"),
    [
        ({"math_correct": False}, {"math_wrong": False}),
        ({"traps": [(4, 3)]}, {"trap_wrong": False}),
        ({"hearing_normal": False}, {"abnormal_hearing": False}),
        ({"headphones": False}, {"no_headphones": False}),
        ({"setup_passed": False}, {"setup_failed": False}),
        ({"scores": [3] * 20}, {"min_variance": None}),
        ({"ordinal": 21}, {"max_sessions_per_rater": None}),
    ],
)
def test_each_rule_can_be_switched_off(changes: dict[str, Any], switch: dict[str, Any]) -> None:
    assert screen_session(session(**changes), ScreeningRules(**switch)).valid


def test_questions_not_asked_in_the_session_neither_pass_nor_fail() -> None:
    answers = session(math_correct=None, hearing_normal=None, headphones=None, setup_passed=None)
    assert screen_session(answers).valid


def test_an_incomplete_session_is_judged_incomplete_only() -> None:
    answers = session(completed=False, math_correct=False, traps=[(4, None)], scores=[3])
    assert screen_session(answers) == Verdict(valid=False, reasons=(Reason.INCOMPLETE,))


def test_every_failing_rule_is_reported_in_a_fixed_order() -> None:
    answers = session(
        ordinal=22, math_correct=False, headphones=False, traps=[(1, 5)], scores=[5] * 20
    )
    assert screen_session(answers).reasons == (
        Reason.OVER_SESSION_CAP,
        Reason.MATH_WRONG,
        Reason.TRAP_WRONG,
        Reason.NO_HEADPHONES,
        Reason.LOW_VARIANCE,
    )


def test_session_cap_counts_sessions_beyond_it() -> None:
    assert screen_session(session(ordinal=20)).valid
    assert not screen_session(session(ordinal=21)).valid
    assert screen_session(session(ordinal=3), ScreeningRules(max_sessions_per_rater=3)).valid
    assert not screen_session(session(ordinal=4), ScreeningRules(max_sessions_per_rater=3)).valid


def test_variance_is_the_sample_variance_of_the_session() -> None:
    assert rating_variance([1, 2, 3, 4, 5]) == pytest.approx(2.5)
    assert rating_variance([4]) is None
    assert rating_variance([]) is None


def test_variance_exactly_on_the_threshold_is_kept() -> None:
    # nine 3s and one 4: squared deviations sum to 0.9, over n-1 = 9 gives 0.1
    assert rating_variance([3] * 9 + [4]) == pytest.approx(0.1)
    assert screen_session(session(scores=[3] * 9 + [4])).valid


def test_variance_just_below_the_threshold_is_excluded() -> None:
    # ten 3s and one 4: 10/11 over 10 gives 1/11 = 0.0909
    verdict = screen_session(session(scores=[3] * 10 + [4]))
    assert verdict.reasons == (Reason.LOW_VARIANCE,)


def test_fewer_than_two_votes_fail_the_variance_rule() -> None:
    assert screen_session(session(scores=[4])).reasons == (Reason.LOW_VARIANCE,)
    assert screen_session(session(scores=[])).reasons == (Reason.LOW_VARIANCE,)


def test_a_stricter_variance_threshold() -> None:
    rules = ScreeningRules(min_variance=0.5)
    assert not screen_session(session(scores=[3] * 9 + [4]), rules).valid
    assert screen_session(session(scores=[2, 4] * 10), rules).valid


def test_gold_rule_is_off_by_default() -> None:
    assert screen_session(session(gold=[(5, 1)])).valid


@pytest.mark.parametrize(
    ("given", "tolerance", "valid"),
    [(5, 1, True), (4, 1, True), (3, 1, False), (None, 1, False), (4, 0, False), (3, 2, True)],
)
def test_gold_answers_are_accepted_within_the_tolerance(
    given: int | None, tolerance: int, valid: bool
) -> None:
    rules = ScreeningRules(gold_wrong=True, gold_tolerance=tolerance)
    verdict = screen_session(session(gold=[(5, given)]), rules)
    assert verdict.valid is valid
    assert verdict.reasons == (() if valid else (Reason.GOLD_WRONG,))


def test_reasons_have_stable_codes_and_text() -> None:
    assert Reason.MATH_WRONG.value == "math_wrong"
    assert Reason("low_variance") is Reason.LOW_VARIANCE
    assert Reason.MATH_WRONG.text == "Math answer was wrong"
    assert all(reason.text for reason in Reason)


def test_outliers_are_off_and_the_rater_rule_on_by_default() -> None:
    rules = ScreeningRules()
    assert rules.outlier_z is None
    assert (rules.min_rater_pcc, rules.min_rater_answers) == (0.3, 10)
    # Too few answers to judge anybody: every verdict is pending, none invalid.
    agreement = rater_agreement(RATERS, STIMULI, SCORES)
    assert {rater_verdict(a, rules).valid for a in agreement.values()} == {None}


def pccs(*args: Any) -> dict[Any, float]:
    return {key: a.pcc for key, a in rater_agreement(*args).items()}


def test_a_lone_deviant_vote_is_an_outlier_from_13_votes_on() -> None:
    # One deviant among n votes has population |z| = sqrt(n - 1): sqrt(12) = 3.46 >= 3.29,
    # sqrt(10) = 3.16 < 3.29.
    stimuli = ["a"] * 13 + ["b"] * 11 + ["c"] * 4 + ["d"]
    scores = [5] * 12 + [1] + [5] * 10 + [1] + [3] * 4 + [2]
    mask = outlier_votes(stimuli, scores)
    assert np.flatnonzero(mask).tolist() == [12]
    assert not outlier_votes(stimuli, scores, threshold=3.5).any()
    assert outlier_votes(stimuli, scores, threshold=3.1).sum() == 2


def test_outlier_votes_checks_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        outlier_votes(["a", "b"], [1])


# Three raters on three stimuli: r1 and r3 run against the others, r2 sees a flat MOS.
RATERS = ["r1"] * 3 + ["r2"] * 3 + ["r3"] * 3
STIMULI = ["s1", "s2", "s3"] * 3
SCORES = [1, 3, 5, 2, 3, 4, 5, 3, 1]


def test_rater_correlation_is_against_the_other_raters_mos() -> None:
    # r1 votes 1, 3, 5; the others' MOS is 3.5, 3, 2.5 -> -1.
    # r2's others' MOS is 3, 3, 3 -> undefined. r3 votes 5, 3, 1 vs 1.5, 3, 4.5 -> -1.
    pcc = pccs(RATERS, STIMULI, SCORES)
    assert pcc["r1"] == pytest.approx(-1.0)
    assert math.isnan(pcc["r2"])
    assert pcc["r3"] == pytest.approx(-1.0)


def test_rater_correlation_leaves_out_stimuli_nobody_else_rated() -> None:
    pcc = pccs(["r1", "r1", "r2", "r2"], ["s1", "s2", "s1", "s3"], [1, 5, 2, 4])
    assert math.isnan(pcc["r1"])  # only s1 is shared: one point
    assert math.isnan(pcc["r2"])


def test_rater_correlation_of_an_agreeing_rater() -> None:
    raters = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    stimuli = ["s1", "s2", "s3", "s4"] * 3
    scores = [1, 2, 4, 5, 2, 2, 4, 4, 1, 3, 3, 5]
    pcc = pccs(raters, stimuli, scores)
    # a vs mean(b, c) = 1.5, 2.5, 3.5, 4.5 on votes 1, 2, 4, 5
    x, y = np.array([1, 2, 4, 5]), np.array([1.5, 2.5, 3.5, 4.5])
    assert pcc["a"] == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert pccs([], [], []) == {}


def test_raters_below_the_correlation_threshold_are_judged_invalid() -> None:
    rules = ScreeningRules(min_rater_pcc=0.25, min_rater_answers=3)
    verdicts = {
        k: rater_verdict(a, rules).valid
        for k, a in rater_agreement(RATERS, STIMULI, SCORES).items()
    }
    # r1 and r3 (pcc -1) go; r2's undefined correlation is no evidence against r2.
    assert verdicts == {"r1": False, "r2": None, "r3": False}


def test_gold_clips_count_at_their_known_score() -> None:
    # r1's votes 1, 3, 5 run against the others' MOS 3.5, 3, 2.5; with two gold clips known
    # to be 1 and answered 1 and 2, its five answers are (1, 3, 5, 1, 2) vs (3.5, 3, 2.5, 1, 1).
    agreement = rater_agreement(
        RATERS,
        STIMULI,
        SCORES,
        gold_raters=["r1", "r1", "r4"],
        gold_expected=[1, 1, 1],
        gold_given=[1, 2, 1],
    )
    x, y = np.array([1, 3, 5, 1, 2]), np.array([3.5, 3, 2.5, 1, 1])
    assert agreement["r1"].pcc == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert (agreement["r1"].answers, agreement["r1"].gold_answers) == (5, 2)
    assert agreement["r2"].gold_answers == 0 and math.isnan(agreement["r2"].pcc)
    # A rater with gold answers only: the reference is constant, so no correlation.
    assert agreement["r4"].answers == 1 and math.isnan(agreement["r4"].pcc)


def test_an_unanswered_gold_clip_is_left_out() -> None:
    agreement = rater_agreement(
        ["a"], ["s"], [3], gold_raters=["a", "a"], gold_expected=[1, 1], gold_given=[2, np.nan]
    )
    assert agreement["a"].gold_answers == 1


def test_rater_agreement_checks_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        rater_agreement(["a"], ["s"], [1, 2])
    with pytest.raises(ValueError, match="same length"):
        rater_agreement(["a"], ["s"], [1], gold_raters=["a"], gold_expected=[1], gold_given=[])


def test_a_stimulus_needs_enough_other_raters() -> None:
    raters = ["a", "a", "a", "b", "b", "b", "c", "c"]
    stimuli = ["s1", "s2", "s3", "s1", "s2", "s3", "s1", "s2"]
    scores = [1, 3, 5, 1, 3, 5, 2, 4]
    assert rater_agreement(raters, stimuli, scores)["a"].answers == 3
    assert rater_agreement(raters, stimuli, scores, min_others=2)["a"].answers == 2


def test_the_rater_verdict() -> None:
    rules = ScreeningRules(min_rater_pcc=0.3, min_rater_answers=10)
    assert rater_verdict(RaterAgreement(0.1, 12, 2), rules) == RaterVerdict(
        valid=False, reasons=(RaterReason.LOW_CORRELATION,)
    )
    assert rater_verdict(RaterAgreement(0.5, 12, 2), rules).valid is True
    assert rater_verdict(RaterAgreement(0.1, 9, 2), rules).valid is None  # too few yet
    assert rater_verdict(RaterAgreement(float("nan"), 20, 2), rules).valid is None
    assert rater_verdict(None, rules).valid is None
    off = ScreeningRules(min_rater_pcc=None)
    assert rater_verdict(RaterAgreement(-1.0, 50, 2), off).valid is True
    assert RaterReason.LOW_CORRELATION.value == "low_rater_pcc" and RaterReason.LOW_CORRELATION.text


def test_outlier_votes_at_the_toolkits_threshold() -> None:
    mask = outlier_votes(["a"] * 13, [5] * 12 + [1], 3.29)
    assert mask.tolist() == [False] * 12 + [True]


def test_the_page_hidden_rule_is_off_unless_asked_for() -> None:
    hidden = session(hidden_s=[0.0, 5.0, 12.0, None])
    assert screen_session(hidden).valid  # off by default
    one_allowed = ScreeningRules(max_hidden_clips=1)
    assert screen_session(hidden, one_allowed).reasons == (Reason.PAGE_HIDDEN,)
    assert screen_session(session(hidden_s=[0.0, 5.0, 0.4]), one_allowed).valid
    # A glance away shorter than the allowance does not count; an unmeasured clip neither.
    assert screen_session(
        session(hidden_s=[0.9, 1.0, None]), ScreeningRules(max_hidden_clips=0)
    ).valid
    lenient = ScreeningRules(max_hidden_clips=1, hidden_seconds_per_clip=10.0)
    assert screen_session(hidden, lenient).valid
    assert Reason.PAGE_HIDDEN.text.startswith("The page was hidden")


def random_sessions(n: int, seed: int) -> list[SessionAnswers]:
    rng = np.random.default_rng(seed)

    def tri() -> bool | None:
        return [None, True, False][int(rng.choice(3, p=[0.2, 0.7, 0.1]))]

    sessions = []
    for i in range(n):
        k = int(rng.integers(0, 8))
        flat = rng.random() < 0.3
        scores = [3] * k if flat else [int(x) for x in rng.integers(1, 6, k)]
        if flat and k and rng.random() < 0.5:
            scores[0] = 4  # just around the variance threshold
        sessions.append(
            SessionAnswers(
                session=i,
                rater=i % 7,
                ordinal=int(rng.integers(1, 25)),
                completed=bool(rng.random() < 0.9),
                scores=scores,
                math_correct=tri(),
                hearing_normal=tri(),
                headphones=tri(),
                setup_passed=tri(),
                traps=[
                    (
                        int(rng.integers(1, 6)),
                        None if rng.random() < 0.05 else int(rng.integers(1, 6)),
                    )
                    for _ in range(int(rng.integers(0, 3)))
                ],
                gold=[
                    (1, None if rng.random() < 0.05 else int(rng.integers(1, 4)))
                    for _ in range(int(rng.integers(0, 3)))
                ],
                hidden_s=[
                    None if rng.random() < 0.3 else float(rng.exponential(1.0)) for _ in range(k)
                ],
            )
        )
    return sessions


@pytest.mark.parametrize(
    "rules",
    [
        ScreeningRules(),
        ScreeningRules(gold_wrong=True, max_hidden_clips=1, max_sessions_per_rater=None),
        ScreeningRules(min_variance=None, math_wrong=False, gold_wrong=True, gold_tolerance=0),
    ],
)
def test_screening_sessions_at_once_gives_the_verdicts_one_by_one(rules: ScreeningRules) -> None:
    sessions = random_sessions(600, seed=3)
    table = SessionTable.from_answers(sessions, rules.hidden_seconds_per_clip)
    valid, reasons = screen_sessions(table, rules)
    expected = [screen_session(a, rules) for a in sessions]
    assert valid.tolist() == [v.valid for v in expected]
    assert reasons == [v.reasons for v in expected]
    assert len(set(reasons)) > 5  # the sample exercises many combinations
    variance = table.variances()
    for a, v in zip(sessions[:50], variance[:50]):
        one = rating_variance(a.scores)
        assert (one is None and np.isnan(v)) or v == pytest.approx(one, abs=1e-12)


def test_rater_agreement_judges_every_answer_against_the_reference_votes_only() -> None:
    """A vote left out of the reference (a screened-out session's) still counts among its
    rater's answers, and changes nobody else's reference."""
    rng = np.random.default_rng(0)
    truth = rng.uniform(1.5, 4.5, 12)
    raters, stimuli, scores = [], [], []
    for rater in range(6):
        for stimulus in range(12):
            raters.append(rater)
            stimuli.append(stimulus)
            scores.append(float(np.clip(np.rint(truth[stimulus] + rng.normal(0, 0.6)), 1, 5)))
    # Rater 9 answered at random in a session that was screened out.
    raters += [9] * 12
    stimuli += list(range(12))
    scores += rng.integers(1, 6, 12).astype(float).tolist()
    reference = [rater != 9 for rater in raters]
    with_nine = rater_agreement(raters, stimuli, scores, reference=reference)
    without = rater_agreement(raters[:-12], stimuli[:-12], scores[:-12])
    for rater in range(6):
        assert with_nine[rater].pcc == pytest.approx(without[rater].pcc)
        assert with_nine[rater].answers == without[rater].answers == 12
    # Rater 9 is judged on all 12 answers against the six honest raters' means.
    assert with_nine[9].answers == 12
    means = np.array(
        [
            np.mean([s for r, t, s in zip(raters, stimuli, scores) if t == k and r != 9])
            for k in range(12)
        ]
    )
    assert with_nine[9].pcc == pytest.approx(np.corrcoef(scores[-12:], means)[0, 1])
    # All votes in the reference by default: rater 9's votes then shift the others' means.
    assert rater_agreement(raters, stimuli, scores)[0].pcc != pytest.approx(without[0].pcc)
    with pytest.raises(ValueError, match="one flag per vote"):
        rater_agreement(raters, stimuli, scores, reference=reference[:-1])


@pytest.mark.parametrize(
    ("gold_rule", "answered", "wrong", "expected"),
    [
        pytest.param(True, 9, 4, False, id="more-than-a-third-missed"),
        pytest.param(True, 9, 3, True, id="a-third-missed"),
        pytest.param(True, 3, 1, True, id="one-slip-in-three"),
        pytest.param(True, 2, 2, True, id="too-few-to-judge"),
        pytest.param(False, 9, 9, True, id="gold-rule-off"),
    ],
)
def test_a_rater_who_misses_the_gold_over_their_sessions_is_out(
    gold_rule: bool, answered: int, wrong: int, expected: bool
) -> None:
    rules = ScreeningRules(gold_wrong=gold_rule, min_rater_pcc=0.3, min_rater_answers=10)
    agreement = RaterAgreement(pcc=0.8, answers=20, gold_answers=answered)
    verdict = rater_verdict(agreement, rules, gold_wrong=wrong)
    assert verdict.valid is expected
    assert verdict.reasons == (() if expected else (RaterReason.GOLD_WRONG,))
    # Even while too few answers count for the correlation.
    few = RaterAgreement(pcc=float("nan"), answers=4, gold_answers=answered)
    assert (rater_verdict(few, rules, gold_wrong=wrong).valid is False) == (not expected)
