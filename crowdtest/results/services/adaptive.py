"""Adaptive collection: stop buying votes for stimuli whose CI is already narrow enough.

The decision is `selectors.saturated_stimulus_ids`. Two things act on it: the allocation
swaps each saturated stimulus of a session, as a rater starts it, for the stimulus of its
cluster that needs votes most, or leaves it out when its cluster has none left (votes
saved, recorded on the assignment); and this service RETIRES every OPEN rating session
whose every stimulus is saturated and whose clusters have nothing left to swap in (never
given out again: votes and money saved). Sessions being taken or
done are not touched.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.design.models import Session, SessionItem
from crowdtest.design.services.sessions import sessions_retire

from ..models import RetiredSession
from ..selectors import saturated_stimulus_ids


@dataclass(frozen=True)
class RetirementReport:
    sessions: int
    votes_saved: int
    usd_saved: Decimal

    def summary(self) -> str:
        return (
            f"adaptive collection retired {self.sessions} sessions "
            f"({self.votes_saved} votes, ${self.usd_saved} saved)"
        )


def adaptive_retire(*, experiment: Experiment) -> RetirementReport:
    """Retire the open rating sessions that only hold saturated stimuli of clusters in
    which every stimulus is saturated."""
    saturated = saturated_stimulus_ids(experiment=experiment)
    if not saturated:
        return RetirementReport(sessions=0, votes_saved=0, usd_saved=Decimal("0"))
    stimuli: dict[int, list[int]] = defaultdict(list)
    for session_id, stimulus_id in SessionItem.objects.filter(
        session__experiment=experiment,
        session__kind=Session.Kind.RATING,
        session__status=Session.Status.OPEN,
        stimulus__isnull=False,
    ).values_list("session_id", "stimulus_id"):
        stimuli[session_id].append(stimulus_id)
    # A saturated stimulus is swapped for one of its cluster that still needs votes as a
    # rater starts the session: a session is of no more use only when none is left.
    needy_clusters = set(
        Stimulus.objects.filter(
            experiment=experiment, role=Stimulus.Role.RATED, status=Stimulus.Status.READY
        )
        .exclude(pk__in=saturated)
        .values_list("cluster", flat=True)
    )
    cluster = dict(Stimulus.objects.filter(pk__in=saturated).values_list("pk", "cluster"))
    candidates = [
        pk
        for pk, ids in stimuli.items()
        if saturated.issuperset(ids) and not needy_clusters & {cluster[i] for i in ids}
    ]
    reward = Decimal(experiment.config.reward_usd)
    with transaction.atomic():
        # Lock what is still open; a session the allocation holds right now is skipped
        # (and reconsidered on the next run) instead of waited for.
        retiring = sessions_retire(session_ids=candidates)
        RetiredSession.objects.bulk_create(
            [
                RetiredSession(
                    session_id=pk,
                    experiment=experiment,
                    stimuli=len(stimuli[pk]),
                    reward_usd=reward,
                )
                for pk in retiring
            ]
        )
    return RetirementReport(
        sessions=len(retiring),
        votes_saved=sum(len(stimuli[pk]) for pk in retiring),
        usd_saved=reward * len(retiring),
    )
