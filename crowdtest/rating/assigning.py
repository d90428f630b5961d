"""Handing sessions to raters: the planned rating session a rater takes when they start,
and the release of sessions abandoned half-way.

A rater never rates a stimulus twice: an open session holding a stimulus they already
rated is repaired by same-cluster swaps with other open sessions (`choose_session`), which
keeps every stimulus's number of appearances and every session's cluster make-up. The
chosen session and the swap donors are locked (`select_for_update`, skipping rows another
rater is being given on PostgreSQL) and checked unchanged before anything is written, so
two raters never get the same session.
"""

from __future__ import annotations

import math
import random
import secrets
from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.design.models import Design, DigitsClip, Session, SessionItem, Trap
from crowdtest.design.services.sessions import (
    session_take,
    sessions_reopen,
    sessions_swap_stimuli,
)
from modeling.allocation import choose_session, math_question

from .errors import REFUSED_MESSAGE, RatingError
from .identity import RaterIdentity
from .models import Assignment, AssignmentItem, Rater
from .signals import precision_among, saturated_among

MAX_ATTEMPTS = 20
SPREAD = 16
# Adaptive collection leaves saturated stimuli out of a session, but never below this.
MIN_STIMULI_KEPT = 5


class _Retry(Exception):
    """The sessions read changed before they could be locked; read them again."""


def rater_get_or_create(*, experiment: Experiment, identity: RaterIdentity) -> Rater:
    rater, _created = Rater.objects.get_or_create(
        experiment=experiment, platform=identity.platform, external_id=identity.external_id
    )
    return rater


def rater_may_start(*, rater: Rater | None, experiment: Experiment) -> None:
    """Refuse a blocked rater or one who took the most sessions allowed."""
    if rater is None:
        return
    if rater.blocked:
        raise RatingError(REFUSED_MESSAGE, status=403, code="blocked")
    cap = experiment.config.max_sessions_per_rater
    if rater.platform == Rater.Platform.LINK:
        from .links import link_session_limit

        limit = link_session_limit(experiment=experiment, participant=rater.external_id)
        cap = min(cap, limit) if limit is not None else cap
    done = rater.assignments.filter(status=Assignment.Status.COMPLETED).count()
    if done >= cap:
        raise RatingError(
            _("You have taken the most sessions allowed (%(cap)s). Thank you for your help!")
            % {"cap": cap},
            status=403,
            code="over_cap",
        )


def assignment_start(
    *,
    experiment: Experiment,
    identity: RaterIdentity,
    language: str | None = None,
    now: datetime | None = None,
) -> Assignment:
    """Give the rater a rating session (or their unfinished one back), in `language` when
    the test offers it, else in its first language."""
    now = now or timezone.now()
    offered = experiment.config.language_codes
    language = language if language in offered else offered[0]
    if not Design.objects.filter(experiment=experiment).exists():
        raise RatingError(_("This test is not open yet."), code="closed")
    assignments_release_abandoned(experiment=experiment, now=now)
    rater = rater_get_or_create(experiment=experiment, identity=identity)
    skipped: set[int] = set()
    for _attempt in range(MAX_ATTEMPTS):
        try:
            with transaction.atomic():
                return _start(experiment, identity, rater, skipped, now, language)
        except _Retry:
            continue
    raise RatingError(
        _("Many raters are starting at this moment; please try again in a few seconds."),
        status=429,
        code="busy",
        retry_after_s=2.0,
    )


def _start(
    experiment: Experiment,
    identity: RaterIdentity,
    rater: Rater,
    skipped: set[int],
    now: datetime,
    language: str,
) -> Assignment:
    rater = Rater.objects.select_for_update().get(pk=rater.pk)
    active = rater.assignments.filter(status=Assignment.Status.ACTIVE).first()
    if active is not None:
        if identity.assignment_id and active.platform_assignment_id != identity.assignment_id:
            active.platform_assignment_id = identity.assignment_id
            active.platform_batch_id = identity.batch_id
            active.platform_return_url = identity.return_url
            active.save(
                update_fields=[
                    "platform_assignment_id",
                    "platform_batch_id",
                    "platform_return_url",
                    "last_seen_at",
                ]
            )
        return active
    if rater.is_preview:
        return _create_assignment(
            experiment, identity, rater, _preview_session(experiment), now, language
        )
    rater_may_start(rater=rater, experiment=experiment)
    seen = set(
        AssignmentItem.objects.filter(
            assignment__rater=rater, phase=AssignmentItem.Phase.RATING, stimulus__isnull=False
        ).values_list("stimulus_id", flat=True)
    )
    if not seen:
        # A first session: every open session suits, so the first few in handing-out
        # order are enough, and their stimuli need not be read (a crowd arriving at once
        # is all first sessions).
        chosen = _first_free_session(experiment, skipped)
        session_take(session_id=chosen, now=now)
        return _create_assignment(experiment, identity, rater, chosen, now, language)
    open_sessions = _open_sessions(experiment, exclude=skipped)
    cluster_of = {
        pk: cluster
        for pk, cluster in Stimulus.objects.filter(
            experiment=experiment, role=Stimulus.Role.RATED
        ).values_list("pk", "cluster")
        if cluster is not None
    }
    ids = list(open_sessions)
    # Raters starting at the same moment would all pick the first open session and queue
    # behind each other's lock: each takes one of the first few in random order instead.
    head = ids[:SPREAD]
    random.shuffle(head)
    ids[:SPREAD] = head
    choice = choose_session([open_sessions[i] for i in ids], seen, cluster_of)
    if choice is None:
        raise RatingError(
            _("No session is available for you right now. Thank you for your interest!"),
            code="no_session",
        )
    chosen = ids[choice.index]
    involved = {chosen} | {ids[swap.other] for swap in choice.swaps}
    locked = Session.objects.filter(pk__in=involved, status=Session.Status.OPEN).order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        locked = locked.select_for_update(skip_locked=True)
    got = set(locked.values_list("pk", flat=True))
    if got != involved:
        skipped |= involved - got
        raise _Retry
    if _open_sessions(experiment, only=involved) != {i: open_sessions[i] for i in involved}:
        raise _Retry
    for swap in choice.swaps:
        other = ids[swap.other]
        sessions_swap_stimuli(
            session_id=chosen,
            other_id=other,
            stimulus_out=swap.stimulus_out,
            stimulus_in=swap.stimulus_in,
        )
    session_take(session_id=chosen, now=now)
    return _create_assignment(experiment, identity, rater, chosen, now, language)


def _first_free_session(experiment: Experiment, skipped: set[int]) -> int:
    """One of the first SPREAD open rating sessions that no other rater is being given
    at this moment, locked (on PostgreSQL the others' locked rows are skipped, so raters
    starting together each get their own at once)."""
    head = list(
        Session.objects.filter(
            experiment=experiment, kind=Session.Kind.RATING, status=Session.Status.OPEN
        )
        .exclude(pk__in=skipped)
        .order_by("index")
        .values_list("pk", flat=True)[:SPREAD]
    )
    if not head:
        raise RatingError(
            _("No session is available for you right now. Thank you for your interest!"),
            code="no_session",
        )
    free = Session.objects.filter(pk__in=head, status=Session.Status.OPEN).order_by("index")
    if connection.features.has_select_for_update_skip_locked:
        free = free.select_for_update(skip_locked=True)
    got = free.values_list("pk", flat=True).first()
    if got is None:  # all of them are being given to others: look further down the queue
        skipped |= set(head)
        raise _Retry
    return got


def _open_sessions(
    experiment: Experiment, *, exclude: set[int] | None = None, only: set[int] | None = None
) -> dict[int, list[int]]:
    """Open rating sessions in handing-out order, as their stimuli (traps left out)."""
    rows = SessionItem.objects.filter(
        session__experiment=experiment,
        session__kind=Session.Kind.RATING,
        session__status=Session.Status.OPEN,
        stimulus__isnull=False,
    )
    if exclude:
        rows = rows.exclude(session_id__in=exclude)
    if only is not None:
        rows = rows.filter(session_id__in=only)
    sessions: dict[int, list[int]] = defaultdict(list)
    for session_id, stimulus_id in rows.order_by("session__index", "position").values_list(
        "session_id", "stimulus_id"
    ):
        sessions[session_id].append(stimulus_id)
    return dict(sessions)


def _needs(done_at: datetime | None, minutes: int, now: datetime) -> bool:
    return done_at is None or now - done_at > timedelta(minutes=minutes)


def _preview_session(experiment: Experiment) -> int:
    """The rating session a staff preview shows: an open one when there is one, else any,
    picked at random. It is only read: its status stays as it is, so the preview uses
    nothing up, and no stimulus is swapped into or out of it."""
    sessions = Session.objects.filter(experiment=experiment, kind=Session.Kind.RATING)
    ids = list(sessions.filter(status=Session.Status.OPEN).values_list("pk", flat=True)) or list(
        sessions.values_list("pk", flat=True)
    )
    if not ids:
        raise RatingError(_("This test is not open yet."), code="closed")
    return secrets.choice(ids)


def _create_assignment(
    experiment: Experiment,
    identity: RaterIdentity,
    rater: Rater,
    session_id: int,
    now: datetime,
    language: str,
) -> Assignment:
    cfg = experiment.config
    needs_setup = _needs(rater.setup_passed_at, cfg.setup_repeat_minutes, now)
    training_items = list(
        SessionItem.objects.filter(
            session__experiment=experiment, session__kind=Session.Kind.TRAINING
        )
        .select_related("stimulus", "comparison")
        .order_by("position")
    )
    needs_training = bool(training_items) and _needs(
        rater.training_done_at, cfg.training_repeat_minutes, now
    )
    question = math_question(np.random.default_rng(secrets.randbits(64)))
    digits_ids = list(
        DigitsClip.objects.filter(experiment=experiment, language=language).values_list(
            "pk", flat=True
        )
    )
    assignment = Assignment.objects.create(
        experiment=experiment,
        rater=rater,
        session_id=session_id,
        stage=Assignment.Stage.SETUP if needs_setup else Assignment.Stage.QUESTIONS,
        platform_assignment_id=identity.assignment_id,
        platform_batch_id=identity.batch_id,
        platform_return_url=identity.return_url,
        needs_setup=needs_setup,
        needs_training=needs_training,
        digits_clip_id=secrets.choice(digits_ids) if needs_setup and digits_ids else None,
        math_question=question.text,
        math_answer=question.answer,
        language=language,
    )
    rating_items, skipped = _adapted(
        experiment,
        rater,
        list(
            SessionItem.objects.filter(session_id=session_id)
            .select_related("stimulus", "trap", "gold", "comparison")
            .order_by("position")
        ),
    )
    if skipped:
        assignment.saturated_skipped = skipped
        assignment.save(update_fields=["saturated_skipped"])
    voiced = _voiced_traps(experiment, [i.trap for i in rating_items if i.trap], language)
    items = [
        AssignmentItem(
            assignment=assignment,
            phase=AssignmentItem.Phase.TRAINING,
            position=position,
            stimulus=item.stimulus,
            comparison=item.comparison,
            duration_s=_duration(item, cfg.excerpt_seconds),
        )
        for position, item in enumerate(training_items if needs_training else [])
    ]
    items += [
        AssignmentItem(
            assignment=assignment,
            phase=AssignmentItem.Phase.RATING,
            position=position,
            stimulus=item.stimulus,
            trap=voiced.get(item.trap_id, item.trap) if item.trap_id else None,
            gold=item.gold,
            comparison=item.comparison,
            duration_s=_duration(item, cfg.excerpt_seconds),
        )
        for position, item in enumerate(rating_items)
    ]
    AssignmentItem.objects.bulk_create(items)
    return assignment


def _voiced_traps(experiment: Experiment, traps: list[Trap], language: str) -> dict[int, Trap]:
    """The session's traps as spoken in `language` (sessions list those of the test's
    first language), by the listed trap's id."""
    spoken = [t for t in traps if t.language != language]
    if not spoken:
        return {}
    found = {
        (t.source_id, t.answer): t
        for t in Trap.objects.filter(
            experiment=experiment,
            language=language,
            source_id__in={t.source_id for t in spoken},
        )
    }
    return {t.pk: found.get((t.source_id, t.answer), t) for t in spoken}


def _adapted(
    experiment: Experiment, rater: Rater, items: list[SessionItem]
) -> tuple[list[SessionItem], int]:
    """Adaptive collection: the session's items with each stimulus whose CI already
    reached the target (one small aggregation over this session's stimuli) swapped for
    the stimulus of the same cluster that needs votes most (`_neediest`), or left out
    when its cluster has none to give; returns the items and how many were left out.
    The session keeps its traps, gold clips, order and cluster make-up, and the rater
    never gets a stimulus twice. At least half the session's stimuli, and never fewer
    than MIN_STIMULI_KEPT, stay: a session of one or two votes would fail the variance
    rule, rejecting an honest rater. It still starts with a stimulus to rate."""
    if experiment.config.target_ci_width is None:
        return items, 0
    stimuli = [item.stimulus_id for item in items if item.stimulus_id is not None]
    done = saturated_among(experiment=experiment, among=stimuli)
    if not done:
        return items, 0
    saturated = [item for item in items if item.stimulus_id in done]
    clusters = {item.stimulus.cluster for item in saturated if item.stimulus is not None}
    spares = _neediest(experiment, rater, clusters, exclude=set(stimuli) | done)
    swapped: dict[int, Stimulus] = {}
    for item in saturated:
        assert item.stimulus is not None
        spare = spares.get(item.stimulus.cluster)
        if spare:
            swapped[item.pk] = spare.pop(0)
    may_skip = len(stimuli) - max(MIN_STIMULI_KEPT, math.ceil(len(stimuli) / 2))
    unswapped = [item.pk for item in saturated if item.pk not in swapped]
    dropped = set(unswapped[: max(may_skip, 0)])
    kept = []
    for item in items:
        if item.pk in dropped:
            continue
        if item.pk in swapped:
            # An unsaved copy: the planned session keeps its own stimulus.
            item = SessionItem(
                session_id=item.session_id,
                position=item.position,
                stimulus=swapped[item.pk],
            )
        kept.append(item)
    if dropped:
        first = next(i for i, item in enumerate(kept) if item.stimulus_id is not None)
        kept.insert(0, kept.pop(first))
    return kept, len(dropped)


def _neediest(
    experiment: Experiment, rater: Rater, clusters: set[int | None], *, exclude: set[int]
) -> dict[int | None, list[Stimulus]]:
    """Per cluster, the rated stimuli that still need votes, neediest first: those below
    `adaptive_min_votes` (fewest votes first), then by how far their CI full width is
    from the target once the votes being collected right now (sessions in progress) are
    counted, `width * sqrt(n / (n + pending))`. Stimuli in `exclude`, those this rater
    already had, and those that reached the target or `adaptive_max_votes` are not
    offered."""
    cfg = experiment.config
    target = cfg.target_ci_width
    assert target is not None
    had = AssignmentItem.objects.filter(
        assignment__experiment=experiment, assignment__rater=rater, stimulus__isnull=False
    ).values("stimulus_id")
    candidates = {
        s.pk: s
        for s in Stimulus.objects.filter(
            experiment=experiment,
            role=Stimulus.Role.RATED,
            status=Stimulus.Status.READY,
            cluster__in=[c for c in clusters if c is not None],
        )
        .exclude(pk__in=exclude)
        .exclude(pk__in=had)
    }
    if not candidates:
        return {}
    pending = dict(
        AssignmentItem.objects.filter(
            assignment__experiment=experiment,
            assignment__status=Assignment.Status.ACTIVE,
            phase=AssignmentItem.Phase.RATING,
            stimulus_id__in=candidates,
        )
        .values("stimulus_id")
        .annotate(n=Count("id"))
        .values_list("stimulus_id", "n")
    )
    min_votes = max(cfg.adaptive_min_votes, 2)
    ranked: list[tuple[tuple[int, float], Stimulus]] = []
    for pk, (n, width) in precision_among(experiment=experiment, among=list(candidates)).items():
        coming = n + pending.get(pk, 0)
        if cfg.adaptive_max_votes is not None and n >= cfg.adaptive_max_votes:
            continue  # at the cap
        if n < min_votes or width is None:
            key = (0, float(coming))
        elif width <= target:
            continue  # reached the target
        else:
            key = (1, -width * math.sqrt(n / coming) / target)
        ranked.append((key, candidates[pk]))
    ranked.sort(key=lambda pair: (pair[0], pair[1].pk))
    by_cluster: dict[int | None, list[Stimulus]] = defaultdict(list)
    for _key, stimulus in ranked:
        by_cluster[stimulus.cluster].append(stimulus)
    return by_cluster


def _duration(item: SessionItem, default: float) -> float:
    source = item.stimulus or item.trap or item.gold or item.comparison
    return float(getattr(source, "duration_s", None) or default)


def assignments_abandoned_count(*, experiment: Experiment, now: datetime | None = None) -> int:
    """How many sessions a release would give back now: real raters' active sessions
    silent for longer than `session_timeout_minutes`."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=experiment.config.session_timeout_minutes)
    return (
        Assignment.objects.crowd()
        .filter(experiment=experiment, status=Assignment.Status.ACTIVE, last_seen_at__lt=cutoff)
        .count()
    )


def assignments_release_abandoned(
    *, experiment: Experiment | None = None, now: datetime | None = None
) -> int:
    """Give the sessions of raters silent for longer than `session_timeout_minutes` back
    to the pool. Their votes are kept. Returns how many assignments were released."""
    now = now or timezone.now()
    experiments = (
        [experiment]
        if experiment is not None
        else list(
            Experiment.objects.filter(
                Q(assignments__status=Assignment.Status.ACTIVE)
                | Q(raters__platform=Rater.Platform.STAFF)
            ).distinct()
        )
    )
    released = 0
    for exp in experiments:
        cutoff = now - timedelta(minutes=exp.config.session_timeout_minutes)
        if experiment is None:  # the periodic release, not a rater's start (a hot path)
            previews_delete_stale(experiment=exp, cutoff=cutoff)
        with transaction.atomic():
            stale = Assignment.objects.filter(
                experiment=exp, status=Assignment.Status.ACTIVE, last_seen_at__lt=cutoff
            )
            if connection.features.has_select_for_update_skip_locked:
                stale = stale.select_for_update(skip_locked=True)
            rows = list(stale.values_list("pk", "session_id"))
            if not rows:
                continue
            Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(
                status=Assignment.Status.ABANDONED
            )
            session_release(session_ids=[s for _, s in rows], now=now)
            released += len(rows)
    return released


def previews_delete_stale(*, experiment: Experiment, cutoff: datetime) -> int:
    """Staff previews silent since `cutoff` are deleted, votes and all; how many."""
    deleted, _ = (
        Rater.objects.filter(experiment=experiment, platform=Rater.Platform.STAFF)
        .exclude(assignments__last_seen_at__gte=cutoff)
        .exclude(created_at__gte=cutoff)
        .delete()
    )
    return deleted


def session_release(*, session_ids: list[int], now: datetime) -> int:
    """Put sessions that nobody is taking any more back in the pool."""
    still_taken = (
        Assignment.objects.filter(session_id__in=session_ids, status=Assignment.Status.ACTIVE)
        .exclude(rater__platform=Rater.Platform.STAFF)  # a preview holds no session
        .values_list("session_id", flat=True)
    )
    return sessions_reopen(session_ids=session_ids, still_taken=still_taken, now=now)
