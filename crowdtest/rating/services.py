"""Writes of a rater's answers, stage by stage: consent, setup digits, questions, playback
starts, ratings, finish.

Every answer is saved when it arrives, under a lock on the assignment, and sending it again
is harmless: a resent answer gets the first one's result; a different answer to something
already answered is refused (409), so nothing saved is ever overwritten. The server judges
everything: the clip must have played to its end (by the server's clock) before a rating
counts, and the answer keys never leave this module.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from crowdtest.corpus.models import Experiment
from crowdtest.corpus.selectors import experiment_recent
from crowdtest.design.models import Design, DigitsClip
from crowdtest.design.services.sessions import session_done
from modeling.allocation import DigitsChallenge
from modeling.comparison import on_scale

from .assigning import assignment_start, session_release
from .errors import MAX_DIGITS_ATTEMPTS, PLAYBACK_DURATION_TOLERANCE_S, RatingError
from .identity import RaterIdentity
from .models import Assignment, AssignmentItem, Rater, Vote, new_clip_key
from .openapi import SCALE_MESSAGES
from .selectors import StepItem, current_assignment, step_items, stopped_message

# A session counts as abandoned after minutes without a call (session_timeout_minutes), so
# a play or a rating moves the assignment's last_seen_at only when it is this much behind:
# most clips of a session then cost one write fewer.
SEEN_EVERY = timedelta(seconds=30)


def _seen_long_ago(assignment: Assignment, now: datetime) -> bool:
    seen = assignment.last_seen_at
    return seen is None or now - seen >= SEEN_EVERY


def assignment_consent(
    *,
    experiment: Experiment,
    identity: RaterIdentity,
    language: str | None = None,
    now: datetime | None = None,
) -> Assignment:
    """The rater agreed to take part: give them a session, or their current one back.
    A new session speaks `language` if the test offers it, else the test's first."""
    current = current_assignment(identity=identity)
    if current is not None:
        if current.status == Assignment.Status.ACTIVE:
            return current
        if current.status == Assignment.Status.STOPPED:
            raise RatingError(stopped_message(current), code="stopped")
        if current.status == Assignment.Status.COMPLETED and identity.assignment_id:
            raise RatingError(
                _("This session is finished; take another one from the crowd platform."),
                code="finished",
            )
    return assignment_start(experiment=experiment, identity=identity, language=language, now=now)


def _locked(assignment_id: int | None, rater: RaterIdentity | None) -> Assignment:
    """The assignment, locked until the transaction ends: by its id, or as the rater's
    current one (one query for a rater's call: its experiment is the process's recent
    copy, and other relations are read when used)."""
    if rater is not None:
        found = current_assignment(identity=rater, lock=True)
        experiment = experiment_recent(experiment_id=rater.experiment_id)
        if found is None or experiment is None:
            raise RatingError(
                _("No session has started yet; agree to take part first."), code="stage"
            )
        assignment = found
        assignment.experiment = experiment
    elif assignment_id is not None:
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("experiment", "rater", "digits_clip")
            .get(pk=assignment_id)
        )
    else:
        raise TypeError("_locked() needs an assignment_id or a rater")
    if assignment.status == Assignment.Status.ABANDONED:
        minutes = assignment.experiment.config.session_timeout_minutes
        raise RatingError(
            _(
                "This session timed out after %(minutes)s minutes without activity. Your "
                "answers are saved; reload the page to start a new session."
            )
            % {"minutes": minutes},
            code="expired",
        )
    if assignment.status == Assignment.Status.STOPPED:
        raise RatingError(stopped_message(assignment), code="stopped")
    return assignment


def _out_of_order(what: str) -> RatingError:
    return RatingError(
        _("%(what)s Reload the page to continue where you are.") % {"what": what}, code="stage"
    )


def setup_answer(
    *,
    assignment_id: int | None = None,
    rater: RaterIdentity | None = None,
    clip: str,
    digits: str,
    now: datetime | None = None,
) -> Assignment:
    """The digits the rater typed for the digits clip `clip`. A wrong answer gets a new
    clip while tries are left; the third wrong answer stops the test."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = _locked(assignment_id, rater)
        resent = clip != assignment.digits_clip_key  # its clip was replaced: judged already
        if assignment.stage != Assignment.Stage.SETUP:
            if assignment.digits_correct and not resent:
                return assignment
            raise _out_of_order(_("The setup is not the current step."))
        if resent:
            return assignment
        target = assignment.digits_clip
        if target is None:
            raise _out_of_order(_("There is no digits clip to answer."))
        typed = digits.strip()[:16]
        correct = DigitsChallenge(target.digits, tuple(target.channels)).matches(typed)
        assignment.digits_attempts += 1
        assignment.digits_given = typed
        assignment.digits_correct = correct
        assignment.digits_tries = [
            *assignment.digits_tries,
            {"clip": target.pk, "given": typed, "correct": correct, "at": now.isoformat()},
        ]
        fields = ["digits_attempts", "digits_given", "digits_correct", "digits_tries"]
        if correct:
            assignment.stage = Assignment.Stage.QUESTIONS
            fields.append("stage")
            Rater.objects.filter(pk=assignment.rater_id).update(setup_passed_at=now)
        elif assignment.digits_attempts >= MAX_DIGITS_ATTEMPTS:
            assignment.status = Assignment.Status.STOPPED
            assignment.finished_at = now
            fields += ["status", "finished_at"]
        else:
            assignment.digits_clip = _another_digits_clip(assignment, target.pk)
            assignment.digits_clip_key = new_clip_key()
            fields += ["digits_clip", "digits_clip_key"]
        assignment.save(update_fields=[*fields, "last_seen_at"])
        if assignment.status == Assignment.Status.STOPPED:
            session_release(session_ids=[assignment.session_id], now=now)
    return assignment


def _another_digits_clip(assignment: Assignment, current: int) -> DigitsClip:
    pool = list(
        DigitsClip.objects.filter(
            experiment_id=assignment.experiment_id, language=assignment.language
        ).exclude(pk=current)
    )
    return secrets.choice(pool) if pool else DigitsClip.objects.get(pk=current)


def questions_answer(
    *,
    assignment_id: int | None = None,
    rater: RaterIdentity | None = None,
    math: int,
    hearing_normal: bool,
    headphones: bool,
) -> Assignment:
    """The math answer (judged later, in screening) and the two declarations."""
    with transaction.atomic():
        assignment = _locked(assignment_id, rater)
        given = (math, hearing_normal, headphones)
        if assignment.stage != Assignment.Stage.QUESTIONS:
            answered = (assignment.math_given, assignment.hearing_normal, assignment.headphones)
            if assignment.math_given is not None and answered == given:
                return assignment
            if assignment.math_given is not None:
                raise RatingError(_("These questions were already answered."), code="answered")
            raise _out_of_order(_("The questions are not the current step."))
        assignment.math_given, assignment.hearing_normal, assignment.headphones = given
        has_training = assignment.items.filter(phase=AssignmentItem.Phase.TRAINING).exists()
        assignment.stage = (
            Assignment.Stage.TRAINING
            if assignment.needs_training and has_training
            else Assignment.Stage.RATING
        )
        assignment.save(
            update_fields=["math_given", "hearing_normal", "headphones", "stage", "last_seen_at"]
        )
    return assignment


@dataclass
class _Turn:
    """The clip a play or a rating is about, its saved score if it has one, and how many
    clips of the current step are still unrated (counting from it) when it is next."""

    item: StepItem
    saved_score: int | None
    unrated: int | None


def _turn(assignment: Assignment, clip: str) -> _Turn:
    """The clip `clip` of this assignment, with the current step's clips in the same query:
    enough to say whether it is rated already and whether it is the one to rate next."""
    rows = step_items(assignment=assignment, clip=clip)
    item = next((row for row in rows if row.clip_key == clip), None)
    if item is None:
        raise RatingError("Unknown clip.", status=404, code="unknown_clip")
    if item.saved_score is not None:
        return _Turn(item, item.saved_score, None)
    if assignment.status != Assignment.Status.ACTIVE or item.phase != assignment.stage:
        raise _out_of_order("This clip is not part of the current step.")
    unrated = [row.id for row in rows if row.phase == item.phase and row.saved_score is None]
    if unrated[0] != item.id:
        raise _out_of_order("Clips are played and rated in order.")
    return _Turn(item, None, len(unrated))


def clip_play(
    *,
    assignment_id: int | None = None,
    rater: RaterIdentity | None = None,
    clip: str,
    now: datetime | None = None,
) -> StepItem:
    """The rater's player started the clip: the server's clock starts here. Returns the
    clip as it now stands (its plays counted)."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = _locked(assignment_id, rater)
        turn = _turn(assignment, clip)
        item = turn.item
        if turn.saved_score is not None:
            return item  # already rated: a late, resent play changes nothing
        if item.audio_requested_at is None:
            raise RatingError(
                _("The clip's audio has not been loaded yet: wait a moment, then press play."),
                code="audio_not_loaded",
            )
        item = replace(item, play_started_at=item.play_started_at or now, plays=item.plays + 1)
        AssignmentItem.objects.filter(pk=item.id).update(
            play_started_at=item.play_started_at, plays=item.plays
        )
        if _seen_long_ago(assignment, now):
            Assignment.objects.filter(pk=assignment.pk).update(last_seen_at=now)
    return item


def clip_rate(
    *,
    assignment_id: int | None = None,
    rater: RaterIdentity | None = None,
    clip: str,
    score: int,
    hidden_s: float | None = None,
    now: datetime | None = None,
) -> tuple[Vote, Assignment]:
    """Save a score (on the test method's scale) for a clip that has played to its end.
    The same score sent again returns the saved vote; a different one is refused."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = _locked(assignment_id, rater)
        method = assignment.experiment.config.test_method
        if not on_scale(method, score):
            raise RatingError(SCALE_MESSAGES[method], status=400, code="invalid")
        turn = _turn(assignment, clip)
        item = turn.item
        if turn.saved_score is not None:
            if turn.saved_score != score:
                raise RatingError(
                    _("This clip was already rated %(score)s; a rating can't be changed.")
                    % {"score": turn.saved_score},
                    code="already_rated",
                )
            return Vote.objects.get(item_id=item.id), assignment
        if item.play_started_at is None:
            raise RatingError(_("Listen to the clip before rating it."), code="not_played")
        if item.audio_sent_at is None:
            raise RatingError(
                _("The clip's audio did not arrive in full: play it again, then rate it."),
                code="audio_incomplete",
            )
        listened = (now - item.play_started_at).total_seconds()
        needed = item.duration_s - assignment.experiment.config.playback_tolerance_seconds
        if listened < needed:
            raise RatingError(
                _("The clip has not finished playing yet; rate it when it ends."),
                code="too_early",
                retry_after_s=round(needed - listened, 2),
            )
        vote = Vote.objects.create(
            item_id=item.id,
            experiment_id=assignment.experiment_id,
            assignment=assignment,
            rater_id=assignment.rater_id,
            phase=item.phase,
            stimulus_id=item.stimulus_id,
            trap_id=item.trap_id,
            gold_id=item.gold_id,
            comparison_id=item.comparison_id,
            score=score,
            play_started_at=item.play_started_at,
            submitted_at=now,
            listened_s=round(listened, 3),
            hidden_s=None if hidden_s is None else round(min(hidden_s, listened), 3),
        )
        _after_vote(assignment, item, now, phase_done=turn.unrated == 1)
    return vote, assignment


def _after_vote(assignment: Assignment, item: StepItem, now: datetime, *, phase_done: bool) -> None:
    if phase_done and item.phase == AssignmentItem.Phase.TRAINING:
        assignment.stage = Assignment.Stage.RATING
        Rater.objects.filter(pk=assignment.rater_id).update(training_done_at=now)
        assignment.save(update_fields=["stage", "last_seen_at"])
    elif _seen_long_ago(assignment, now):
        Assignment.objects.filter(pk=assignment.pk).update(last_seen_at=now)
        assignment.last_seen_at = now


def assignment_finish(
    *,
    assignment_id: int | None = None,
    rater: RaterIdentity | None = None,
    now: datetime | None = None,
) -> Assignment:
    """Every clip is rated: the session is done and the completion code is the rater's."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = _locked(assignment_id, rater)
        if assignment.status == Assignment.Status.COMPLETED:
            return assignment
        unrated = AssignmentItem.objects.filter(assignment=assignment, vote__isnull=True)
        if assignment.stage != Assignment.Stage.RATING or unrated.exists():
            raise _out_of_order("Rate every clip before finishing.")
        done = Assignment.objects.filter(
            rater_id=assignment.rater_id, status=Assignment.Status.COMPLETED
        ).count()
        assignment.stage = Assignment.Stage.FINISHED
        assignment.status = Assignment.Status.COMPLETED
        assignment.finished_at = now
        assignment.ordinal = done + 1
        assignment.save(update_fields=["stage", "status", "finished_at", "ordinal", "last_seen_at"])
        platform = rater.platform if rater is not None else assignment.rater.platform
        if platform != Rater.Platform.STAFF:  # a preview uses none up
            session_done(session_id=assignment.session_id, now=now)
        # (results screens it once this commits: results/receivers.py)
    return assignment


def assignment_refuse(*, assignment_id: int, now: datetime | None = None) -> bool:
    """Stop an unfinished session and block its rater (their crowd platform does not know
    the place they came with); the session goes back to the pool. False when the session
    had already ended."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = Assignment.objects.select_for_update().get(pk=assignment_id)
        rater_block(rater_id=assignment.rater_id)
        if assignment.status != Assignment.Status.ACTIVE:
            return False
        assignment.status = Assignment.Status.STOPPED
        assignment.finished_at = now
        assignment.save(update_fields=["status", "finished_at"])
        session_release(session_ids=[assignment.session_id], now=now)
    return True


def playback_report(
    *,
    assignment_id: int | None = None,
    rater: RaterIdentity | None = None,
    can_play: bool,
    sample_rate_hz: int | None = None,
    duration_s: float | None = None,
    detail: str = "",
    now: datetime | None = None,
) -> Assignment:
    """Record the playback check on the rater's device (before the volume step). If the
    device can't decode the clips, or decodes the volume clip at the wrong length, the
    session ends and goes back to the pool: nothing of it was used."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = _locked(assignment_id, rater)
        if (
            assignment.status != Assignment.Status.ACTIVE
            or assignment.stage != Assignment.Stage.SETUP
        ):
            raise _out_of_order("The playback check comes before the volume step.")
        design = Design.objects.filter(experiment_id=assignment.experiment_id).first()
        expected = design.volume_duration_s if design is not None else None
        fits = (
            duration_s is None
            or expected is None
            or abs(duration_s - expected) <= PLAYBACK_DURATION_TOLERANCE_S
        )
        ok = can_play and fits
        assignment.playback = {
            "ok": ok,
            "can_play": can_play,
            "sample_rate_hz": sample_rate_hz,
            "duration_s": duration_s,
            "expected_duration_s": expected,
            "detail": detail or ("" if fits else "decoded at the wrong length"),
            "checked_at": now.isoformat(),
        }
        fields = ["playback"]
        if not ok:
            assignment.status = Assignment.Status.NO_PLAYBACK
            assignment.finished_at = now
            fields += ["status", "finished_at"]
        assignment.save(update_fields=[*fields, "last_seen_at"])
        if not ok:
            session_release(session_ids=[assignment.session_id], now=now)
    return assignment


def assignment_set_completion_code(*, assignment: Assignment, code: str) -> None:
    """The code the rater's platform expects back (a Prolific study's), shown at the end."""
    Assignment.objects.filter(pk=assignment.pk).update(completion_code=code)
    assignment.completion_code = code


def rater_block(*, rater_id: int) -> None:
    """Refuse the rater any further session of the experiment."""
    Rater.objects.filter(pk=rater_id).update(blocked=True)


def votes_set_validity(*, assignment_id: int, valid: bool) -> None:
    """The session's verdict onto its votes, in one UPDATE; a vote dropped by a vote-level
    rule (it has an exclusion) stays invalid."""
    Vote.objects.filter(assignment_id=assignment_id, exclusion__isnull=True).update(valid=valid)


def votes_follow_sessions(*, experiment: Experiment, verdicts: QuerySet[Any]) -> int:
    """Every vote of the experiment takes its session's verdict, given as `verdicts`, a
    queryset with `assignment_id` and `valid` fields, and a vote that a vote-level rule
    dropped (it has an exclusion) is invalid whatever its session's verdict; sessions
    `verdicts` leaves out are left alone. One UPDATE ... FROM, its exclusions read once
    (a hashed subplan), writing only the votes whose validity changes (screening again
    rewrites little); returns how many were written."""
    sql, params = verdicts.values_list("assignment_id", "valid").query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(Vote._meta.db_table)
    dropped = Vote._meta.get_field("exclusion").related_model
    assert dropped is not None and not isinstance(dropped, str)
    excluded = quote(dropped._meta.db_table)
    # vote_id is NOT NULL, so NOT IN means "has no exclusion".
    valid = (
        f"(s.valid AND {table}.id NOT IN "  # noqa: S608
        f"(SELECT x.vote_id FROM {excluded} x WHERE x.experiment_id = %s))"
    )
    statement = (
        f"UPDATE {table} SET valid = {valid} FROM ({sql}) AS s "  # noqa: S608
        f"WHERE {table}.assignment_id = s.assignment_id AND {table}.experiment_id = %s "
        f"AND {table}.valid IS DISTINCT FROM {valid}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [experiment.pk, *params, experiment.pk, experiment.pk])
        return int(cursor.rowcount)


def votes_invalidate_excluded(*, experiment: Experiment) -> None:
    """Votes that a vote-level screening rule dropped are invalid (only those that are
    not yet are written)."""
    Vote.objects.filter(experiment=experiment, exclusion__isnull=False).exclude(valid=False).update(
        valid=False
    )
