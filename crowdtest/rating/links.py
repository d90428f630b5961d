"""Direct links to the test, for one's own panel or a lab: an open link (every new browser
becomes a new rater, remembered in a first-party cookie so the session cap holds per
browser) or one link per participant (a participant keeps their identity, their sessions
and the session cap across visits; `max_sessions` 1 makes one-off links)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse

from crowdtest.corpus.models import Experiment
from crowdtest.design.models import Design

from .errors import RatingError
from .identity import link_token, new_participant_id
from .models import Assignment, DirectLink, Rater

MAX_LINKS_AT_ONCE = 10_000


def link_url(link: DirectLink) -> str:
    path = reverse("rating:take", args=[link.experiment.slug])
    return f"{settings.PUBLIC_BASE_URL}{path}?t={link_token(link.experiment_id, link.participant)}"


def links_create(
    *, experiment: Experiment, participants: int | None = None, max_sessions: int | None = None
) -> list[DirectLink]:
    """The open link (`participants` None; the same one every time) or that many new
    per-participant links, each good for at most `max_sessions` completed sessions (None:
    the experiment's session cap)."""
    if not Design.objects.filter(experiment=experiment).exists():
        raise RatingError(
            "Build the sessions first (`build_sessions`): there is nothing to take yet.",
            code="closed",
        )
    if participants is None:
        if max_sessions is not None:
            raise RatingError(
                "A session limit is for participant links; the open link has the "
                "experiment's session cap.",
                code="invalid",
            )
        link, _ = DirectLink.objects.get_or_create(experiment=experiment, participant="")
        return [link]
    if not 1 <= participants <= MAX_LINKS_AT_ONCE:
        raise RatingError(f"Ask for 1 to {MAX_LINKS_AT_ONCE} participant links.", code="invalid")
    cap = experiment.config.max_sessions_per_rater
    if max_sessions is not None and not 1 <= max_sessions <= cap:
        raise RatingError(
            f"A link's session limit must be from 1 to the experiment's cap ({cap}).",
            code="invalid",
        )
    with transaction.atomic():
        return DirectLink.objects.bulk_create(
            DirectLink(
                experiment=experiment,
                participant=new_participant_id("p"),
                max_sessions=max_sessions,
            )
            for _ in range(participants)
        )


def link_session_limit(*, experiment: Experiment, participant: str) -> int | None:
    """The session limit of a participant's own link, if it has one."""
    if not participant:
        return None
    return (
        DirectLink.objects.filter(experiment=experiment, participant=participant)
        .values_list("max_sessions", flat=True)
        .first()
    )


def has_open_link(*, experiment: Experiment) -> bool:
    return DirectLink.objects.filter(experiment=experiment, participant="").exists()


def link_rows(*, experiment: Experiment) -> list[dict[str, Any]]:
    """Every link with its URL and how many sessions its participant completed."""
    done = dict(
        Rater.objects.filter(experiment=experiment, platform=Rater.Platform.LINK)
        .annotate(n=Count("assignments", filter=Q(assignments__status=Assignment.Status.COMPLETED)))
        .values_list("external_id", "n")
    )
    cap = experiment.config.max_sessions_per_rater
    return [
        {
            "participant": link.participant or "(open link)",
            "url": link_url(link),
            "sessions_done": done.get(link.participant, 0) if link.participant else None,
            "max_sessions": cap if link.max_sessions is None else min(cap, link.max_sessions),
            "created_at": link.created_at,
        }
        for link in DirectLink.objects.filter(experiment=experiment).select_related("experiment")
    ]
