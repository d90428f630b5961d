"""A session's status, written here only: the design owns its sessions, and the apps
above change them through these functions. OPEN sessions wait in the pool; a rater's
start makes one ACTIVE; finishing makes it DONE; a release puts an ACTIVE one nobody holds
back to OPEN; adaptive collection RETIREs open ones that need no more votes."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from django.db.models import Max
from django.utils import timezone

from crowdtest.corpus.models import Experiment

from ..models import Session, SessionItem


def session_take(*, session_id: int, now: datetime) -> None:
    """A rater starts the session (its row is locked by the caller)."""
    Session.objects.filter(pk=session_id).update(status=Session.Status.ACTIVE, updated_at=now)


def sessions_swap_stimuli(
    *, session_id: int, other_id: int, stimulus_out: int, stimulus_in: int
) -> None:
    """Exchange a stimulus between two open sessions (both locked by the caller), so a rater
    starting `session_id` does not hear `stimulus_out` again: it moves to `other_id`, whose
    `stimulus_in` takes its place."""
    SessionItem.objects.filter(session_id=session_id, stimulus_id=stimulus_out).update(
        stimulus_id=stimulus_in
    )
    SessionItem.objects.filter(session_id=other_id, stimulus_id=stimulus_in).update(
        stimulus_id=stimulus_out
    )


def session_done(*, session_id: int, now: datetime) -> None:
    Session.objects.filter(pk=session_id).update(status=Session.Status.DONE, updated_at=now)


def sessions_reopen(
    *, session_ids: Collection[int], still_taken: Iterable[int], now: datetime
) -> int:
    """Put the ACTIVE sessions of `session_ids` that are not in `still_taken` (ids, or a
    subquery of them) back in the pool; how many went back."""
    return (
        Session.objects.filter(pk__in=session_ids, status=Session.Status.ACTIVE)
        .exclude(pk__in=still_taken)
        .update(status=Session.Status.OPEN, updated_at=now)
    )


def sessions_retire(*, session_ids: Collection[int]) -> list[int]:
    """Retire the sessions of `session_ids` that are still open, skipping any that another
    transaction holds (the allocation handing it out); the ids retired. Call it inside a
    transaction."""
    retiring = list(
        Session.objects.select_for_update(skip_locked=True)
        .filter(pk__in=session_ids, status=Session.Status.OPEN)
        .values_list("pk", flat=True)
    )
    Session.objects.filter(pk__in=retiring).update(
        status=Session.Status.RETIRED, updated_at=timezone.now()
    )
    return retiring


def session_add_done(
    *, experiment: Experiment, items: list[tuple[int | None, int | None]]
) -> Session:
    """A rating session that was taken outside the app (an imported crowd batch), made DONE
    with its items: (stimulus id, trap id) in play order."""
    last = Session.objects.filter(experiment=experiment, kind=Session.Kind.RATING).aggregate(
        n=Max("index")
    )["n"]
    session = Session.objects.create(
        experiment=experiment,
        kind=Session.Kind.RATING,
        index=(last or 0) + 1,
        status=Session.Status.DONE,
    )
    SessionItem.objects.bulk_create(
        SessionItem(session=session, position=position, stimulus_id=stimulus, trap_id=trap)
        for position, (stimulus, trap) in enumerate(items)
    )
    return session
