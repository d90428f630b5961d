"""Publishing a batch of sessions on a platform, with its cost shown first.

Each platform call is committed as it succeeds (no transaction spans a network call), so
a publish that stops half way still records every HIT or study that exists and is live.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.urls import reverse

from crowdtest.corpus.models import Experiment
from crowdtest.design.models import Design
from crowdtest.rating.models import Assignment

from ..base import PublishSpec, Requirements
from ..errors import PlatformError
from ..gateways import gateway_for
from ..link import Links
from ..models import Batch, Platform, Publication
from ..money import CostEstimate, amount_text, usd
from ..selectors import estimate_for, open_sessions, session_minutes
from .caps import cap_list_ensure


@dataclass(frozen=True)
class PublishOptions:
    platform: str
    sessions: int | None = None  # default: every open rating session
    sandbox: bool = False
    per_hit: int = 9
    requirements: Requirements = field(default_factory=Requirements)
    lifetime_days: float = 7.0
    auto_approve_hours: float = 72.0
    duration_minutes: int | None = None  # default: the experiment's session timeout
    frame_height: int = 0
    title: str = ""
    description: str = ""
    participants: int | None = None  # direct links: per-participant links instead of one
    max_sessions: int | None = None  # direct links: sessions each participant link allows


@dataclass(frozen=True)
class PublishPlan:
    options: PublishOptions
    sessions: int
    minutes: int
    estimate: CostEstimate
    warnings: list[str]


@dataclass(frozen=True)
class PublishResult:
    publication: Publication
    plan: PublishPlan
    warnings: list[str]


def entry_url(experiment: Experiment) -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('rating:take', args=[experiment.slug])}"


def places_outstanding(*, experiment: Experiment, platform: str) -> int:
    """Places offered in earlier publications, not closed, that no completed session has
    used yet."""
    batches = Batch.objects.filter(
        publication__experiment=experiment, publication__platform=platform
    ).exclude(publication__status=Publication.Status.CLOSED)
    offered = batches.aggregate(n=Sum("places"))["n"] or 0
    used = Assignment.objects.filter(
        experiment=experiment,
        rater__platform=platform,
        status=Assignment.Status.COMPLETED,
        platform_batch_id__in=batches.values("external_id"),
    ).count()
    return max(0, offered - used)


def publication_plan(*, experiment: Experiment, options: PublishOptions) -> PublishPlan:
    """Check what would be published and what it costs; nothing is sent anywhere."""
    if options.platform not in Platform.values:
        raise PlatformError(f"Unknown platform '{options.platform}' (mturk, prolific or link).")
    if not Design.objects.filter(experiment=experiment).exists():
        raise PlatformError(
            "Build the sessions first (`build_sessions`): there is nothing to take yet.",
            code="closed",
        )
    cfg = experiment.config
    available = open_sessions(experiment=experiment)
    sessions = options.sessions if options.sessions is not None else available
    warnings: list[str] = []
    if options.platform != Platform.LINK:
        if sessions < 1:
            raise PlatformError("No open rating session to publish: ask for --sessions N.")
        if not settings.PUBLIC_BASE_URL.startswith("https://"):
            raise PlatformError(
                f"PUBLIC_BASE_URL is {settings.PUBLIC_BASE_URL}: crowd platforms need the test "
                "at an HTTPS address (MTurk only shows HTTPS pages). Set PUBLIC_BASE_URL to "
                "the https:// address raters reach this server at.",
                code="not_https",
            )
        amount_text(cfg.reward_usd, what="reward")
        amount_text(cfg.bonus_usd, what="bonus")
        if not 1 <= options.per_hit <= 1000:
            raise PlatformError("Assignments per HIT must be from 1 to 1000.")
        outstanding = places_outstanding(experiment=experiment, platform=options.platform)
        if sessions + outstanding > available:
            warnings.append(
                f"{sessions} new places plus {outstanding} still open from earlier "
                f"publications are more than the {available} open sessions: late raters "
                "will be told no session is available."
            )
    minutes = session_minutes(experiment)
    cost = estimate_for(
        experiment=experiment, platform=options.platform, sessions=sessions, per_hit=options.per_hit
    )
    return PublishPlan(options, sessions, minutes, cost, warnings + cost.warnings)


def publication_create(
    *, experiment: Experiment, options: PublishOptions, by: Any = None
) -> PublishResult:
    """Publish: MTurk HITs, a Prolific study, or direct links."""
    plan = publication_plan(experiment=experiment, options=options)
    if options.platform == Platform.LINK:
        return _links(experiment, plan, by)
    gateway = gateway_for(platform=options.platform, sandbox=options.sandbox)
    warnings = list(plan.warnings)
    try:
        cap_list = cap_list_ensure(
            experiment=experiment,
            platform=options.platform,
            sandbox=options.sandbox,
            gateway=gateway,
        )
    except PlatformError as exc:
        if exc.code != "no_workspace":
            raise
        cap_list = None
        warnings.append(f"{exc.message} Until then the cap is enforced when a rater arrives.")
    cfg = experiment.config
    publication = Publication.objects.create(
        experiment=experiment,
        platform=options.platform,
        sandbox=options.sandbox,
        sessions=plan.sessions,
        reward_usd=usd(cfg.reward_usd),
        completion_code=secrets.token_hex(4).upper() if options.platform == "prolific" else "",
        duration_s=(options.duration_minutes or cfg.session_timeout_minutes) * 60,
        options=_options_record(options, plan),
        estimate=_estimate_record(plan.estimate),
        created_by=by,
    )
    spec = publish_spec(experiment, publication, plan, cap_list.external_id if cap_list else "")

    def on_batch(remote: Any) -> None:
        Batch.objects.create(
            publication=publication,
            external_id=remote.external_id,
            places=remote.places,
            url=remote.url,
        )

    try:
        published = gateway.publish(spec, on_batch=on_batch)
    except PlatformError as exc:
        publication.status = Publication.Status.FAILED
        publication.error = exc.message
        publication.save(update_fields=["status", "error"])
        live = publication.batches.count()
        raise PlatformError(
            f"Publishing stopped: {exc.message} {live} batch(es) had been created and are "
            f"live (publication {publication.pk}).",
            code=exc.code,
        ) from exc
    publication.type_id = published.type_id
    publication.status = Publication.Status.PUBLISHED
    publication.save(update_fields=["type_id", "status"])
    return PublishResult(publication, plan, warnings)


def publish_spec(
    experiment: Experiment, publication: Publication, plan: PublishPlan, cap_list_id: str
) -> PublishSpec:
    options, cfg = plan.options, experiment.config
    clips = cfg.n_clusters * cfg.stimuli_per_cluster
    return PublishSpec(
        title=options.title or "Rate the audio quality of music recordings (headphones needed)",
        description=options.description
        or (
            f"Listen to {clips} short music excerpts with headphones and rate the audio quality "
            f"of each, from bad to excellent. About {plan.minutes} minutes."
        ),
        keywords="audio, music, listening, quality, rating, headphones",
        url=entry_url(experiment),
        reward=cfg.reward_usd,
        places=plan.sessions,
        duration_s=publication.duration_s,
        minutes=plan.minutes,
        lifetime_s=int(options.lifetime_days * 24 * 3600),
        auto_approve_s=int(options.auto_approve_hours * 3600),
        per_batch=options.per_hit,
        frame_height=options.frame_height,
        annotation=f"crowdtest:{experiment.slug}:{publication.pk}",
        token=f"ct{publication.pk}-{secrets.token_hex(6)}",
        completion_code=publication.completion_code,
        requirements=options.requirements,
        cap_list_id=cap_list_id,
    )


def _links(experiment: Experiment, plan: PublishPlan, by: Any) -> PublishResult:
    published = Links(experiment).publish_links(
        participants=plan.options.participants, max_sessions=plan.options.max_sessions
    )
    publication = Publication.objects.create(
        experiment=experiment,
        platform=Platform.LINK,
        status=Publication.Status.PUBLISHED,
        sessions=len(published.batches),
        reward_usd=usd(experiment.config.reward_usd),
        options=_options_record(plan.options, plan),
        estimate=_estimate_record(plan.estimate),
        created_by=by,
    )
    Batch.objects.bulk_create(
        Batch(publication=publication, external_id=b.external_id, places=b.places, url=b.url)
        for b in published.batches
    )
    return PublishResult(publication, replace(plan, sessions=len(published.batches)), [])


def _options_record(options: PublishOptions, plan: PublishPlan) -> dict[str, Any]:
    return {
        "per_hit": options.per_hit,
        "locales": list(options.requirements.locales),
        "min_approval_rate": options.requirements.min_approval_rate,
        "min_approved_hits": options.requirements.min_approved_hits,
        "lifetime_days": options.lifetime_days,
        "auto_approve_hours": options.auto_approve_hours,
        "frame_height": options.frame_height,
        "minutes": plan.minutes,
        "participants": options.participants,
        "max_sessions": options.max_sessions,
    }


def _estimate_record(cost: CostEstimate) -> dict[str, Any]:
    return {
        "total": str(cost.total),
        "fee_rule": cost.fee_rule,
        "lines": [
            {"label": x.label, "count": x.count, "unit": str(x.unit), "total": str(x.total)}
            for x in cost.lines
        ],
    }
