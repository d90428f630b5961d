"""Screening end to end: an assignment's rows -> verdict -> Vote.valid, for every rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.design.models import Trap
from crowdtest.rating.models import Assignment, Vote
from crowdtest.results.models import RaterVerdict, SessionVerdict, VerdictOverride, VoteExclusion
from crowdtest.results.services import (
    ResultsError,
    assignment_screen,
    experiment_screen,
    verdict_override,
)
from tests.factories import GoldClipFactory, RaterFactory, TrapFactory

from .builders import make_stimuli, set_config, take_session

VARIED = [1, 2, 3, 4, 5]


def _votes_valid(assignment: Assignment) -> set[bool | None]:
    return set(Vote.objects.filter(assignment=assignment).values_list("valid", flat=True))


@pytest.fixture
def stimuli(experiment: Experiment) -> list[Stimulus]:
    return make_stimuli(experiment, 5)


@pytest.fixture
def trap(experiment: Experiment) -> Trap:
    return TrapFactory(source__track__experiment=experiment, answer=3)


def test_a_clean_session_is_valid_and_its_votes_count(
    experiment: Experiment, stimuli: list[Stimulus], trap: Trap
) -> None:
    rater = RaterFactory(experiment=experiment)
    assignment = take_session(
        rater=rater, stimuli=stimuli, scores=VARIED, traps=[(trap, 3)], training=[(stimuli[0], 2)]
    )
    report = experiment_screen(experiment=experiment)
    verdict = SessionVerdict.objects.get(assignment=assignment)
    assert (verdict.valid, verdict.rules_valid, verdict.reasons) == (True, True, [])
    assert verdict.ordinal == 1
    assert verdict.rating_variance == pytest.approx(2.5)
    assert verdict.rules["min_variance"] == 0.1
    assert _votes_valid(assignment) == {True}  # rating, trap and training votes alike
    assert (report.sessions, report.valid, report.invalid) == (1, 1, 0)


@pytest.mark.parametrize(
    ("answers", "trap_given", "scores", "reason"),
    [
        pytest.param({"math_given": 4}, 3, VARIED, "math_wrong", id="math"),
        pytest.param({}, 2, VARIED, "trap_wrong", id="trap-wrong"),
        pytest.param({}, None, VARIED, "trap_wrong", id="trap-unanswered"),
        pytest.param({"hearing_normal": False}, 3, VARIED, "abnormal_hearing", id="hearing"),
        pytest.param({"headphones": False}, 3, VARIED, "no_headphones", id="headphones"),
        pytest.param({"digits_correct": False}, 3, VARIED, "setup_failed", id="digits"),
        pytest.param({}, 3, [3, 3, 3, 3, 3], "low_variance", id="variance"),
        pytest.param(
            {"status": Assignment.Status.ABANDONED}, 3, VARIED, "incomplete", id="abandoned"
        ),
    ],
)
def test_each_rule_excludes_the_session_and_its_votes(
    experiment: Experiment,
    stimuli: list[Stimulus],
    trap: Trap,
    answers: dict[str, Any],
    trap_given: int | None,
    scores: list[int],
    reason: str,
) -> None:
    rater = RaterFactory(experiment=experiment)
    good = take_session(rater=rater, stimuli=stimuli, scores=VARIED, traps=[(trap, 3)])
    bad = take_session(
        rater=RaterFactory(experiment=experiment),
        stimuli=stimuli,
        scores=scores,
        traps=[(trap, trap_given)],
        **answers,
    )
    if answers.get("status") == Assignment.Status.ABANDONED:
        Assignment.objects.filter(pk=bad.pk).update(finished_at=None)
    experiment_screen(experiment=experiment)
    verdict = SessionVerdict.objects.get(assignment=bad)
    assert (verdict.valid, verdict.reasons) == (False, [reason])
    assert _votes_valid(bad) == {False}
    assert _votes_valid(good) == {True}


def test_a_rule_switched_off_in_the_settings_is_not_applied(
    experiment: Experiment, stimuli: list[Stimulus], trap: Trap
) -> None:
    set_config(experiment, screen_math=False, screen_headphones=False, min_rating_variance=0.0)
    assignment = take_session(
        rater=RaterFactory(experiment=experiment),
        stimuli=stimuli,
        scores=[4, 4, 4, 4, 4],
        traps=[(trap, 3)],
        math_given=1,
        headphones=False,
    )
    experiment_screen(experiment=experiment)
    assert SessionVerdict.objects.get(assignment=assignment).valid is True
    assert _votes_valid(assignment) == {True}


def test_questions_not_asked_neither_pass_nor_fail(
    experiment: Experiment, stimuli: list[Stimulus]
) -> None:
    assignment = take_session(
        rater=RaterFactory(experiment=experiment),
        stimuli=stimuli,
        scores=VARIED,
        math_answer=None,
        math_given=None,
        hearing_normal=None,
        headphones=None,
        digits_correct=None,
    )
    experiment_screen(experiment=experiment)
    assert SessionVerdict.objects.get(assignment=assignment).valid is True


def test_sessions_beyond_the_cap_are_not_used_in_order_of_completion(
    experiment: Experiment, stimuli: list[Stimulus]
) -> None:
    set_config(experiment, max_sessions_per_rater=2)
    rater = RaterFactory(experiment=experiment)
    now = timezone.now()
    # Created in one order, finished in another: the cap follows completion time.
    late = take_session(
        rater=rater, stimuli=stimuli, scores=VARIED, finished_at=now - timedelta(minutes=1)
    )
    first = take_session(
        rater=rater, stimuli=stimuli, scores=VARIED, finished_at=now - timedelta(hours=2)
    )
    second = take_session(
        rater=rater, stimuli=stimuli, scores=VARIED, finished_at=now - timedelta(hours=1)
    )
    experiment_screen(experiment=experiment)
    verdicts = {v.assignment_id: v for v in SessionVerdict.objects.all()}
    assert [verdicts[a.pk].ordinal for a in (first, second, late)] == [1, 2, 3]
    assert verdicts[late.pk].reasons == ["over_session_cap"]
    assert verdicts[first.pk].valid and verdicts[second.pk].valid
    assert _votes_valid(late) == {False}


def test_every_failing_rule_is_reported(
    experiment: Experiment, stimuli: list[Stimulus], trap: Trap
) -> None:
    assignment = take_session(
        rater=RaterFactory(experiment=experiment),
        stimuli=stimuli,
        scores=[2, 2, 2, 2, 2],
        traps=[(trap, 1)],
        math_given=0,
        headphones=False,
    )
    experiment_screen(experiment=experiment)
    assert SessionVerdict.objects.get(assignment=assignment).reasons == [
        "math_wrong",
        "trap_wrong",
        "no_headphones",
        "low_variance",
    ]


def test_screening_again_gives_the_same_verdicts_and_skips_sessions_in_progress(
    experiment: Experiment, stimuli: list[Stimulus]
) -> None:
    done = take_session(rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=VARIED)
    running = take_session(
        rater=RaterFactory(experiment=experiment),
        stimuli=stimuli,
        scores=VARIED,
        status=Assignment.Status.ACTIVE,
    )
    first = experiment_screen(experiment=experiment)
    before = list(SessionVerdict.objects.values_list("assignment_id", "valid", "reasons"))
    second = experiment_screen(experiment=experiment)
    assert list(SessionVerdict.objects.values_list("assignment_id", "valid", "reasons")) == before
    assert first == second
    assert first.in_progress == 1
    assert not SessionVerdict.objects.filter(assignment=running).exists()
    assert _votes_valid(running) == {None}
    assert _votes_valid(done) == {True}


def test_the_screen_command_reports(
    experiment: Experiment, stimuli: list[Stimulus], capsys: pytest.CaptureFixture[str]
) -> None:
    take_session(rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=VARIED)
    call_command("screen", "vinyl")
    assert "1 sessions screened: 1 valid, 0 invalid" in capsys.readouterr().out


def test_one_session_is_screened_as_it_ends(
    experiment: Experiment, stimuli: list[Stimulus]
) -> None:
    rater = RaterFactory(experiment=experiment)
    assignment = take_session(rater=rater, stimuli=stimuli, scores=[3, 3, 3, 3, 3])
    verdict = assignment_screen(assignment=assignment)
    assert verdict.reasons == ["low_variance"]
    assert _votes_valid(assignment) == {False}
    running = take_session(
        rater=rater, stimuli=stimuli, scores=VARIED, status=Assignment.Status.ACTIVE
    )
    with pytest.raises(ResultsError, match="still in progress"):
        assignment_screen(assignment=running)


# --- Overrides ------------------------------------------------------------------------


def test_an_override_wins_is_audited_and_survives_screening_again(
    experiment: Experiment, stimuli: list[Stimulus], admin_user: User
) -> None:
    assignment = take_session(
        rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=[3, 3, 3, 3, 3]
    )
    experiment_screen(experiment=experiment)
    verdict = verdict_override(
        assignment=assignment, valid=True, note="Flat but honest: checked by ear", by=admin_user
    )
    assert (verdict.valid, verdict.rules_valid, verdict.overridden) == (True, False, True)
    assert _votes_valid(assignment) == {True}
    experiment_screen(experiment=experiment)
    again = SessionVerdict.objects.get(assignment=assignment)
    assert (again.valid, again.overridden, again.reasons) == (True, True, ["low_variance"])

    verdict_override(assignment=assignment, valid=None, note="Back to the rules", by=admin_user)
    assert SessionVerdict.objects.get(assignment=assignment).valid is False
    assert _votes_valid(assignment) == {False}
    audit = list(VerdictOverride.objects.values_list("valid", "note", "by__username"))
    assert audit == [
        (None, "Back to the rules", "admin"),
        (True, "Flat but honest: checked by ear", "admin"),
    ]


def test_an_override_needs_a_note_and_a_screened_session(
    experiment: Experiment, stimuli: list[Stimulus], admin_user: User
) -> None:
    assignment = take_session(
        rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=VARIED
    )
    with pytest.raises(ResultsError, match="has not been screened yet"):
        verdict_override(assignment=assignment, valid=False, note="spam", by=admin_user)
    experiment_screen(experiment=experiment)
    with pytest.raises(ResultsError, match="needs a note"):
        verdict_override(assignment=assignment, valid=False, note="  ", by=admin_user)


# --- Vote-level rules (optional) -----------------------------------------------------


def test_outlier_votes_are_dropped_with_their_reason(experiment: Experiment) -> None:
    set_config(experiment, outlier_z=3.29, min_rating_variance=0.0)
    [stimulus, other] = make_stimuli(experiment, 2)
    # 14 raters agree on 4; one says 1: |z| = 3.61 with ddof=0 (P.808 toolkit).
    sessions = [
        take_session(
            rater=RaterFactory(experiment=experiment),
            stimuli=[stimulus, other],
            scores=[4, 2 + i % 2],
        )
        for i in range(14)
    ]
    odd = take_session(
        rater=RaterFactory(experiment=experiment), stimuli=[stimulus, other], scores=[1, 3]
    )
    report = experiment_screen(experiment=experiment)
    assert report.votes_excluded == 1
    exclusion = VoteExclusion.objects.get()
    assert exclusion.rule == "outlier"
    assert (exclusion.vote.assignment_id, exclusion.vote.score) == (odd.pk, 1)
    assert Vote.objects.get(pk=exclusion.vote_id).valid is False
    assert SessionVerdict.objects.get(assignment=odd).valid is True  # the session stays valid
    assert _votes_valid(sessions[0]) == {True}
    # Again: same exclusions, not doubled.
    experiment_screen(experiment=experiment)
    assert VoteExclusion.objects.count() == 1


def test_raters_who_do_not_follow_the_mos_are_dropped(experiment: Experiment) -> None:
    set_config(experiment, min_rater_pcc=0.25, min_rater_answers=5, min_rating_variance=0.0)
    stimuli = make_stimuli(experiment, 5)
    for _ in range(4):
        take_session(rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=VARIED)
    contrarian = take_session(
        rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=VARIED[::-1]
    )
    experiment_screen(experiment=experiment)
    exclusions = VoteExclusion.objects.filter(vote__assignment=contrarian)
    assert exclusions.count() == 5
    assert {e.rule for e in exclusions} == {"rater_pcc"}
    assert RaterVerdict.objects.get(rater=contrarian.rater).pcc == pytest.approx(-1.0)
    assert _votes_valid(contrarian) == {False}
    assert VoteExclusion.objects.count() == 5


def test_gold_clips_are_screened_within_the_tolerance_and_apart_from_traps(
    experiment: Experiment, stimuli: list[Stimulus], trap: Trap
) -> None:
    """A gold clip (known score 5) answered 4 is within ±1; answered 3 it fails the
    session, but only with `screen_gold` on. Its vote is not a trap answer."""
    gold = GoldClipFactory(source__track__experiment=experiment, answer=5)
    near = take_session(
        rater=RaterFactory(experiment=experiment),
        stimuli=stimuli,
        scores=VARIED,
        traps=[(trap, 3), (gold, 4)],
    )
    far = take_session(
        rater=RaterFactory(experiment=experiment),
        stimuli=stimuli,
        scores=VARIED,
        traps=[(trap, 3), (gold, 3)],
    )
    experiment_screen(experiment=experiment)
    assert SessionVerdict.objects.get(assignment=far).valid is True  # off by default
    set_config(experiment, screen_gold=True)
    experiment_screen(experiment=experiment)
    assert SessionVerdict.objects.get(assignment=near).reasons == []
    verdict = SessionVerdict.objects.get(assignment=far)
    assert (verdict.valid, verdict.reasons) == (False, ["gold_wrong"])
    assert _votes_valid(far) == {False}
    set_config(experiment, screen_gold=True, gold_tolerance=2)
    experiment_screen(experiment=experiment)
    assert SessionVerdict.objects.get(assignment=far).valid is True


def test_the_page_visibility_rule_uses_what_the_page_measured(
    experiment: Experiment, stimuli: list[Stimulus], trap: Trap
) -> None:
    rater = RaterFactory(experiment=experiment)
    away = take_session(rater=rater, stimuli=stimuli, scores=VARIED, traps=[(trap, 3)])
    Vote.objects.filter(assignment=away, stimulus__in=stimuli[:2]).update(hidden_s=6.0)
    here = take_session(
        rater=RaterFactory(experiment=experiment), stimuli=stimuli, scores=VARIED, traps=[(trap, 3)]
    )
    experiment_screen(experiment=experiment)
    assert SessionVerdict.objects.get(assignment=away).valid  # the rule is off by default

    set_config(experiment, max_hidden_clips=1)
    experiment_screen(experiment=experiment)
    verdict = SessionVerdict.objects.get(assignment=away)
    assert (verdict.valid, verdict.reasons) == (False, ["page_hidden"])
    assert verdict.rules["max_hidden_clips"] == 1
    assert SessionVerdict.objects.get(assignment=here).valid
