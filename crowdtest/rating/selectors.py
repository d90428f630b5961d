"""Reads for the rater's page: which assignment a rater is on, and the state the page
shows. The state holds question texts, opaque clip keys and signed clip URLs, never an
answer key, a stimulus, a trap or a duration."""

from __future__ import annotations

import math
import re
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Count
from django.utils.translation import gettext as _

from crowdtest.corpus.models import Experiment
from crowdtest.design.clips import PAIR_GAP_S
from crowdtest.design.models import Design, Session, SessionItem

from . import statements
from .clip_urls import clip_url
from .errors import (
    MAX_DIGITS_ATTEMPTS,
    NO_PLAYBACK_MESSAGE,
    REFUSED_MESSAGE,
    STOPPED_MESSAGE,
    RatingError,
)
from .identity import RaterIdentity
from .models import Assignment, AssignmentItem, Rater

PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete"


def rater_of(*, identity: RaterIdentity) -> Rater | None:
    return Rater.objects.filter(
        experiment_id=identity.experiment_id,
        platform=identity.platform,
        external_id=identity.external_id,
    ).first()


def current_assignment(*, identity: RaterIdentity, lock: bool = False) -> Assignment | None:
    """The assignment this entry is about: the one of the platform's piece of work
    (MTurk assignment, Prolific session) or, failing that, the rater's unfinished one;
    for a direct link, the rater's latest. With `lock` (inside a transaction) its row is
    locked until the transaction ends.

    Every rater call starts here, so it is one precompiled statement rather than an ORM
    query built anew each time (their compilation cost more than the rest of the call)."""
    rater = (identity.experiment_id, identity.platform, identity.external_id)
    if identity.assignment_id:
        found = _assignment_where(statements.BY_PLATFORM_ID, [*rater, identity.assignment_id], lock)
        return found or _assignment_where(
            statements.ACTIVE, [*rater, Assignment.Status.ACTIVE], lock
        )
    return _assignment_where("", list(rater), lock)


def _assignment_where(extra: str, params: list[Any], lock: bool) -> Assignment | None:
    lock = lock and connection.features.has_select_for_update_of
    with statements.cursor() as cursor:
        cursor.execute(statements.current_assignment(extra, lock), params)
        row = cursor.fetchone()
    if row is None:
        return None
    fields = statements.ASSIGNMENT_FIELDS
    values = statements.converted(Assignment, fields, row)
    return Assignment.from_db(connection.alias, statements.ASSIGNMENT_ATTNAMES, values)


@dataclass(frozen=True, slots=True)
class StepItem:
    """A clip of an assignment as a play or a rating judges it (`statements.STEP_FIELDS`,
    in that order), with its vote's score (None if unrated)."""

    id: int
    phase: str
    position: int
    clip_key: str
    duration_s: float
    stimulus_id: int | None
    trap_id: int | None
    gold_id: int | None
    comparison_id: int | None
    play_started_at: datetime | None
    plays: int
    audio_requested_at: datetime | None
    audio_sent_at: datetime | None
    saved_score: int | None


def step_items(*, assignment: Assignment, clip: str) -> list[StepItem]:
    """The clips of the assignment's current step, in order, and the clip `clip` if it is
    of another step, each with its vote's score: what a play or a rating needs to judge
    whose turn it is, in one precompiled statement read as plain rows."""
    with statements.cursor() as cursor:
        cursor.execute(statements.step_items(), [assignment.pk, assignment.stage, clip])
        rows = cursor.fetchall()
    fields = statements.STEP_FIELDS
    return [
        StepItem(*[*statements.converted(AssignmentItem, fields, row[:-1]), row[-1]])
        for row in rows
    ]


def _closed(message: str) -> dict[str, Any]:
    return {"stage": "closed", "message": message}


def _may_start(experiment: Experiment, rater: Rater | None) -> str:
    """Why this rater can't start a session now, or '' if they can."""
    from .assigning import rater_may_start

    if not Design.objects.filter(experiment=experiment).exists():
        return _("This test is not open yet.")
    try:
        rater_may_start(rater=rater, experiment=experiment)
    except RatingError as exc:
        return exc.message
    open_sessions = Session.objects.filter(
        experiment=experiment, kind=Session.Kind.RATING, status=Session.Status.OPEN
    )
    if not open_sessions.exists():
        return _("No session is available right now. Thank you for your interest!")
    return ""


def rater_state(*, experiment: Experiment, identity: RaterIdentity) -> dict[str, Any]:
    """What the page shows now, for any reload or reconnection."""
    assignment = current_assignment(identity=identity)
    base = {"platform": identity.platform}
    if assignment is not None and assignment.status == Assignment.Status.NO_PLAYBACK:
        refusal = _may_start(experiment, rater_of(identity=identity))
        if refusal:
            return {**base, **_closed(refusal)}
        return {**base, "stage": "consent", "message": str(NO_PLAYBACK_MESSAGE)}
    if assignment is None or assignment.status == Assignment.Status.ABANDONED:
        refusal = _may_start(experiment, rater_of(identity=identity))
        timed_out = ""
        if assignment is not None:
            minutes = experiment.config.session_timeout_minutes
            timed_out = (
                _(
                    "Your last session timed out after %(minutes)s minutes without activity; "
                    "your answers are saved."
                )
                % {"minutes": minutes}
                + " "
            )
        if refusal:
            return {**base, **_closed(timed_out + refusal)}
        if timed_out:
            return {**base, "stage": "expired", "message": timed_out + _("You can start again.")}
        return {**base, "stage": "consent"}
    if assignment.status == Assignment.Status.STOPPED:
        return {**base, "stage": "stopped", "message": stopped_message(assignment)}
    state: dict[str, Any] = {
        **base,
        "stage": assignment.stage,
        "progress": _progress(assignment),
    }
    if assignment.stage == Assignment.Stage.SETUP:
        retry = assignment.digits_attempts > 0
        state["setup"] = {
            "volume_url": clip_url(assignment.volume_clip_key),
            "digits_url": clip_url(assignment.digits_clip_key),
            "clip": assignment.digits_clip_key,
            "tries_left": MAX_DIGITS_ATTEMPTS - assignment.digits_attempts,
            "retry": retry,
        }
    elif assignment.stage == Assignment.Stage.QUESTIONS:
        state["questions"] = {"math": math_text(assignment.math_question)}
    elif assignment.stage in (Assignment.Stage.TRAINING, Assignment.Stage.RATING):
        state["clips"] = _clips(assignment, assignment.stage)
    elif assignment.status == Assignment.Status.COMPLETED:
        state["finish"] = _finish(experiment, assignment, identity)
    return state


def _progress(assignment: Assignment) -> dict[str, int]:
    # Counted in one row, with no ordering: the items' default order joins the assignment.
    counts = AssignmentItem.objects.filter(assignment=assignment).aggregate(
        items=Count("id"), voted=Count("vote")
    )
    done = counts["voted"]
    total = counts["items"] + 1 + (1 if assignment.needs_setup else 0)
    if assignment.math_given is not None:
        done += 1
    if assignment.needs_setup and assignment.digits_correct:
        done += 1
    return {"done": done, "total": total}


def _clips(assignment: Assignment, phase: str) -> list[dict[str, Any]]:
    rows = (
        AssignmentItem.objects.filter(assignment=assignment, phase=phase)
        .order_by("position")
        .values_list("clip_key", "vote__id")
    )
    return [{"clip": key, "url": clip_url(key), "rated": vote is not None} for key, vote in rows]


def _finish(
    experiment: Experiment, assignment: Assignment, identity: RaterIdentity
) -> dict[str, Any]:
    code = assignment.completion_code
    finish: dict[str, Any] = {"code": code, "submit": None, "redirect": None, "another": False}
    if identity.platform == Rater.Platform.MTURK and identity.return_url:
        rated = AssignmentItem.objects.filter(assignment=assignment, vote__isnull=False).count()
        finish["submit"] = {
            "action": f"{identity.return_url}/mturk/externalSubmit",
            "fields": {
                "assignmentId": identity.assignment_id,
                "completion_code": code,
                "clips_rated": str(rated),
            },
        }
    elif identity.platform == Rater.Platform.PROLIFIC:
        finish["redirect"] = f"{PROLIFIC_COMPLETE}?{urlencode({'cc': code})}"
    else:
        finish["another"] = not _may_start(experiment, assignment.rater)
    return finish


def stopped_message(assignment: Assignment) -> str:
    """Why a stopped session stopped: the setup check, or a refused rater."""
    return str(REFUSED_MESSAGE if assignment.rater.blocked else STOPPED_MESSAGE)


MATH = re.compile(r"What is (\d+) (plus|minus) (\d+)\?")


def math_text(question: str) -> str:
    """The math question (stored as asked, in English) in the active language."""
    found = MATH.fullmatch(question)
    if found is None:
        return question
    a, operation, b = found.groups()
    if operation == "plus":
        return _("What is %(a)s plus %(b)s?") % {"a": a, "b": b}
    return _("What is %(a)s minus %(b)s?") % {"a": a, "b": b}


# How long a session takes, from the design until sessions were timed.
SECONDS_PER_CLIP = 5  # reading, choosing a score, the next clip loading
SETUP_SECONDS = 120  # consent, volume, digits and the questions
TIMED_SESSIONS_NEEDED = 5
TIMED_SESSIONS_READ = 200
# The consent page says how long a session takes, on every link opened (a crowd batch
# opens ten a second), and the estimate counts every session's clips: tens of ms of
# PostgreSQL on an experiment of thousands of sessions. It moves slowly, so each process
# keeps it for MINUTES_RECENT_S; a new design or experiment setting drops it at once.
MINUTES_RECENT_S = 60.0
_minutes: dict[int, tuple[float, int]] = {}


def session_minutes_recent(*, experiment: Experiment) -> int:
    """`session_minutes`, computed at most MINUTES_RECENT_S seconds ago in this process."""
    now = time.monotonic()
    held = _minutes.get(experiment.pk)
    if held is not None and now - held[0] < MINUTES_RECENT_S:
        return held[1]
    minutes = session_minutes(experiment=experiment)
    _minutes[experiment.pk] = (now, minutes)
    return minutes


def session_minutes_forget(*, experiment_id: int) -> None:
    """Drop this process's estimate for an experiment (its design or settings changed)."""
    _minutes.pop(experiment_id, None)


def session_minutes(*, experiment: Experiment) -> int:
    """About how long a session takes, in whole minutes: the median real duration of the
    latest completed sessions once TIMED_SESSIONS_NEEDED exist, else from the design (its
    rating and training clips at their length, plus a few seconds each and the setup). A
    session shorter than its rating clips played end to end was not taken by a person (a
    simulated crowd, an import without times) and is not counted."""
    cfg = experiment.config
    rating = (
        SessionItem.objects.filter(
            session__experiment=experiment, session__kind=Session.Kind.RATING
        )
        .values("session_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("n", flat=True)
        .first()
    )
    training = SessionItem.objects.filter(
        session__experiment=experiment, session__kind=Session.Kind.TRAINING
    ).count()
    # A comparison test's clip plays two versions with a pause between.
    clip_s = (
        cfg.excerpt_seconds if cfg.test_method == "acr" else 2 * cfg.excerpt_seconds + PAIR_GAP_S
    )
    if rating is None:  # not built yet: from the settings
        per_session = (
            cfg.n_clusters * cfg.stimuli_per_cluster
            if cfg.test_method == "acr"
            else cfg.comparisons_per_session
        )
        rating = per_session + cfg.traps_per_session
        training = cfg.training_size
    shortest = rating * clip_s
    timed = [
        seconds
        for start, end in Assignment.objects.crowd()
        .filter(experiment=experiment, status=Assignment.Status.COMPLETED)
        .exclude(finished_at=None)
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:TIMED_SESSIONS_READ]
        if end is not None and (seconds := (end - start).total_seconds()) >= shortest
    ]
    if len(timed) >= TIMED_SESSIONS_NEEDED:
        return max(1, math.ceil(statistics.median(timed) / 60))
    seconds = (rating + training) * (clip_s + SECONDS_PER_CLIP) + SETUP_SECONDS
    return max(1, math.ceil(seconds / 60))
