"""A study after publishing: more sessions on it, paused, resumed, closed on its platform.

Each change is claimed in the database first, with a conditional UPDATE from the state the
confirmation page showed, so a confirmation sent twice (or by two people at once) acts
once. The platform calls run outside any transaction; when one fails, the claim is undone
and the message says how far it got, so trying again finishes the job (expiring a HIT or
pausing a study twice is harmless).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from ..base import RemoteBatch, Requirements
from ..errors import PlatformError
from ..gateways import gateway_for
from ..link import NO_PLATFORM
from ..models import Batch, Platform, Publication
from ..money import CostEstimate
from ..selectors import estimate_for, open_sessions, session_minutes
from .publish import PublishOptions, PublishPlan, places_outstanding, publish_spec

Status = Publication.Status

# action: (the states it starts from, the state it leads to)
ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "add": (frozenset({Status.PUBLISHED}), Status.PUBLISHED),
    "pause": (frozenset({Status.PUBLISHED}), Status.PAUSED),
    "resume": (frozenset({Status.PAUSED}), Status.PUBLISHED),
    "close": (frozenset({Status.PUBLISHED, Status.PAUSED, Status.FAILED}), Status.CLOSED),
}
MAX_ADD = 100_000


@dataclass(frozen=True)
class ControlPlan:
    """What a change to a publication would do, as its confirmation page shows it."""

    publication: Publication
    action: str
    sessions: int = 0  # "add": sessions to add
    estimate: CostEstimate | None = None  # "add": what they cost at most
    warnings: list[str] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        p = self.publication
        total = self.estimate.total if self.estimate else 0
        return f"{p.pk}:{self.action}:{p.status}:{p.sessions}:{self.sessions}:{total}"


def publication_options(publication: Publication) -> PublishOptions:
    """The options a publication was published with, from its record."""
    o = publication.options
    default = Requirements()
    return PublishOptions(
        platform=publication.platform,
        sandbox=publication.sandbox,
        per_hit=int(o.get("per_hit", 9)),
        requirements=Requirements(
            locales=tuple(o.get("locales", default.locales)),
            min_approval_rate=int(o.get("min_approval_rate", default.min_approval_rate)),
            min_approved_hits=int(o.get("min_approved_hits", default.min_approved_hits)),
        ),
        lifetime_days=float(o.get("lifetime_days", 7.0)),
        auto_approve_hours=float(o.get("auto_approve_hours", 72.0)),
        frame_height=int(o.get("frame_height", 0)),
    )


def publication_control_plan(
    *, publication: Publication, action: str, sessions: int | None = None
) -> ControlPlan:
    """Check that `action` can be done to the publication now; nothing is sent."""
    if action not in ACTIONS:
        raise PlatformError(f"'{action}' is not something a publication can do.")
    if publication.platform == Platform.LINK:
        raise PlatformError(
            f"{NO_PLATFORM} Direct links are made and shared on the Sessions tab.",
            code="no_platform",
        )
    starts, _ = ACTIONS[action]
    if publication.status not in starts:
        raise PlatformError(
            f"Publication {publication.pk} is {publication.status}: it can't be "
            f"{_done(action)} now.",
            code="state",
        )
    if action != "add":
        return ControlPlan(publication, action)
    if sessions is None or not 1 <= sessions <= MAX_ADD:
        raise PlatformError(f"Add from 1 to {MAX_ADD:,} sessions.")
    experiment = publication.experiment
    options = publication_options(publication)
    cost = estimate_for(
        experiment=experiment,
        platform=publication.platform,
        sessions=sessions,
        per_hit=options.per_hit,
    )
    warnings = list(cost.warnings)
    available = open_sessions(experiment=experiment)
    outstanding = places_outstanding(experiment=experiment, platform=publication.platform)
    if sessions + outstanding > available:
        warnings.append(
            f"{sessions} new places plus {outstanding} still open are more than the "
            f"{available} open sessions: late raters will be told no session is available. "
            "Build more sessions on the Sessions tab first."
        )
    return ControlPlan(publication, action, sessions, cost, warnings)


def publication_control(
    *, publication: Publication, action: str, sessions: int | None = None, fingerprint: str
) -> ControlPlan:
    """Do what the confirmation page showed (`fingerprint`), and only that."""
    plan = publication_control_plan(publication=publication, action=action, sessions=sessions)
    if fingerprint != plan.fingerprint:
        raise PlatformError(
            "The publication changed since this was shown (or it was not confirmed): check "
            "it again.",
            code="stale",
        )
    if action == "add":
        _add(plan)
    else:
        _transition(plan)
    publication.refresh_from_db()
    return plan


def _claim(publication: Publication, status: str, **changes: Any) -> bool:
    """Move the publication on from the state the plan saw; False when another request
    already did."""
    seen = Publication.objects.filter(
        pk=publication.pk, status=publication.status, sessions=publication.sessions
    )
    return seen.update(status=status, **changes) == 1


def _transition(plan: ControlPlan) -> None:
    publication, action = plan.publication, plan.action
    before, (_, after) = publication.status, ACTIONS[action]
    if not _claim(publication, after):
        raise PlatformError(f"Publication {publication.pk} changed meanwhile.", code="stale")
    gateway = gateway_for(platform=publication.platform, sandbox=publication.sandbox)
    until = timezone.now() + timedelta(days=publication_options(publication).lifetime_days)
    batches = list(publication.batches.values_list("external_id", flat=True))
    done = 0
    try:
        for batch_id in batches:
            if action == "pause":
                gateway.batch_pause(batch_id=batch_id)
            elif action == "resume":
                gateway.batch_resume(batch_id=batch_id, until=until)
            else:
                gateway.batch_close(batch_id=batch_id)
            done += 1
    except PlatformError as exc:
        Publication.objects.filter(pk=publication.pk).update(status=before)
        raise PlatformError(
            f"{exc.message} {done} of {len(batches)} batch(es) were {_done(action)}; "
            "the publication is still "
            f"{before}. Try again to finish.",
            code=exc.code,
        ) from exc


def _add(plan: ControlPlan) -> None:
    publication = plan.publication
    if not _claim(publication, publication.status, sessions=F("sessions") + plan.sessions):
        raise PlatformError(f"Publication {publication.pk} changed meanwhile.", code="stale")
    experiment, estimate = publication.experiment, plan.estimate
    assert estimate is not None
    options = publication_options(publication)
    minutes = session_minutes(experiment)
    spec = publish_spec(
        experiment, publication, PublishPlan(options, plan.sessions, minutes, estimate, []), ""
    )
    gateway = gateway_for(platform=publication.platform, sandbox=publication.sandbox)
    existing = [
        RemoteBatch(external_id=b.external_id, places=b.places, url=b.url)
        for b in publication.batches.all()
    ]
    added = 0

    def on_batch(remote: RemoteBatch) -> None:
        nonlocal added
        batch, created = Batch.objects.get_or_create(
            publication=publication,
            external_id=remote.external_id,
            defaults={"places": remote.places, "url": remote.url},
        )
        if created:
            added += remote.places
        else:
            added += remote.places - batch.places
            batch.places = remote.places
            batch.save(update_fields=["places"])

    try:
        gateway.places_add(spec, type_id=publication.type_id, batches=existing, on_batch=on_batch)
    except PlatformError as exc:
        missing = plan.sessions - added
        Publication.objects.filter(pk=publication.pk).update(sessions=F("sessions") - missing)
        raise PlatformError(
            f"{exc.message} {added} of the {plan.sessions} sessions were added.",
            code=exc.code,
        ) from exc


def _done(action: str) -> str:
    return {"add": "added to", "pause": "paused", "resume": "resumed", "close": "closed"}[action]
