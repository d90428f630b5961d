"""The session cap on the platforms (paper: at most 20 sessions per rater).

crowdtest itself refuses a rater over the cap when they start (`rater_may_start`); this
keeps them from even being offered our work there: MTurk grants them our custom
qualification, which our HITs require `DoesNotExist`; Prolific adds them to the
participant group our studies block.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from crowdtest.corpus.models import Experiment
from crowdtest.rating.models import Assignment, Rater

from ..base import Gateway
from ..errors import PlatformError
from ..gateways import gateway_for
from ..models import CapGrant, CapList

CAPPED_PLATFORMS = ("mturk", "prolific")


def cap_list_ensure(
    *, experiment: Experiment, platform: str, sandbox: bool, gateway: Gateway
) -> CapList:
    """The experiment's cap list on this platform account, made on the platform once."""
    existing = CapList.objects.filter(experiment=experiment, platform=platform, sandbox=sandbox)
    found = existing.first()
    if found is not None:
        return found
    cap = experiment.config.max_sessions_per_rater
    external_id = gateway.cap_list_create(
        name=f"crowdtest {experiment.slug}: {cap} sessions taken{' (sandbox)' if sandbox else ''}",
        description=(
            f"Workers who took the most sessions ({cap}) of the listening test "
            f"'{experiment.name}' allowed to one person."
        ),
    )
    try:
        with transaction.atomic():
            return CapList.objects.create(
                experiment=experiment, platform=platform, sandbox=sandbox, external_id=external_id
            )
    except IntegrityError:  # made at the same moment by another process
        return CapList.objects.get(experiment=experiment, platform=platform, sandbox=sandbox)


def rater_at_cap(rater: Rater) -> bool:
    cap = rater.experiment.config.max_sessions_per_rater
    done = Assignment.objects.filter(rater=rater, status=Assignment.Status.COMPLETED).count()
    return done >= cap


def rater_cap_apply(*, rater_id: int) -> list[CapGrant]:
    """Put a rater who reached the session cap on every cap list of their platform.
    Idempotent: a confirmed grant is never sent again."""
    rater = Rater.objects.select_related("experiment").get(pk=rater_id)
    if rater.platform not in CAPPED_PLATFORMS or not rater_at_cap(rater):
        return []
    grants = []
    for cap_list in CapList.objects.filter(experiment=rater.experiment, platform=rater.platform):
        grant, _ = CapGrant.objects.get_or_create(cap_list=cap_list, rater=rater)
        if grant.status != CapGrant.Status.CONFIRMED:
            _send(grant, cap_list, rater)
        grants.append(grant)
    return grants


def _send(grant: CapGrant, cap_list: CapList, rater: Rater) -> None:
    try:
        gateway = gateway_for(platform=cap_list.platform, sandbox=cap_list.sandbox)
        gateway.cap(cap_list_id=cap_list.external_id, worker_ids=[rater.external_id])
    except PlatformError as exc:
        grant.status, grant.error = CapGrant.Status.FAILED, exc.message
    else:
        grant.status, grant.error = CapGrant.Status.CONFIRMED, ""
    grant.save(update_fields=["status", "error", "updated_at"])


def caps_apply(*, experiment: Experiment) -> int:
    """Catch up: every rater at the cap who is not confirmed on the cap lists yet (after a
    failed grant, or a cap list made after they reached the cap). Returns how many were
    listed now."""
    cap = experiment.config.max_sessions_per_rater
    if not CapList.objects.filter(experiment=experiment).exists():
        return 0
    confirmed = CapGrant.objects.filter(
        cap_list__experiment=experiment, status=CapGrant.Status.CONFIRMED
    ).values_list("rater_id", flat=True)
    candidates = (
        Assignment.objects.filter(
            experiment=experiment,
            status=Assignment.Status.COMPLETED,
            rater__platform__in=CAPPED_PLATFORMS,
        )
        .exclude(rater_id__in=confirmed)
        .values_list("rater_id", flat=True)
    )
    counts: dict[int, int] = {}
    for rater_id in candidates:
        counts[rater_id] = counts.get(rater_id, 0) + 1
    applied = 0
    for rater_id, done in counts.items():
        if done >= cap:
            grants = rater_cap_apply(rater_id=rater_id)
            applied += any(g.status == CapGrant.Status.CONFIRMED for g in grants)
    return applied
