"""Platform tasks: thin wrappers that load ids and call one service."""

from __future__ import annotations

import logging

from celery import shared_task

from crowdtest.celery import DEFAULT_TIME_LIMIT
from crowdtest.jobs.durable import durable_task

logger = logging.getLogger(__name__)


@durable_task(
    "crowdtest.platforms.tasks.sync_platform", time_limit=DEFAULT_TIME_LIMIT, soft_margin=60
)
def sync_platform_task(experiment_id: int | None = None, job_id: int | None = None) -> str:
    """Sync one experiment, or (from beat, no id) every experiment published on MTurk or
    Prolific. Idempotent: a sync rewrites the rows of what the platforms report."""
    from crowdtest.corpus.models import Experiment
    from crowdtest.jobs.services import job_fail, job_finish

    from .errors import PlatformError
    from .models import Publication
    from .services import platform_sync

    if experiment_id is None:
        ids = list(
            Publication.objects.filter(platform__in=("mturk", "prolific"))
            .order_by()
            .values_list("experiment_id", flat=True)
            .distinct()
        )
    else:
        ids = [experiment_id]
    summaries = []
    for pk in ids:
        try:
            report = platform_sync(experiment=Experiment.objects.get(pk=pk))
        except PlatformError as exc:
            logger.warning("syncing experiment %s failed: %s", pk, exc.message)
            if job_id is not None:
                job_fail(job_id=job_id, error=exc.message)
            summaries.append(f"{pk}: failed")
            continue
        summaries.append(f"{pk}: {report.summary()}")
        if job_id is not None:
            job_finish(job_id=job_id, message=report.summary()[:500])
    return "; ".join(summaries)


@durable_task("crowdtest.platforms.tasks.apply_cap", time_limit=300, soft_margin=60)
def apply_cap_task(rater_id: int) -> int:
    """Put a rater who reached the session cap on the platform's cap list (idempotent:
    a confirmed grant is never sent again)."""
    from .services import rater_cap_apply

    return len(rater_cap_apply(rater_id=rater_id))


@durable_task("crowdtest.platforms.tasks.check_entry", time_limit=120, soft_margin=30)
def check_entry_task(assignment_id: int) -> str:
    """Ask the platform whether a rater who just started holds the place they came with."""
    from .services.entry import entry_check

    return entry_check(assignment_id=assignment_id)


@shared_task(
    name="crowdtest.platforms.tasks.execute_payments",
    acks_late=False,  # never delivered twice; a crashed run is resumed by the next one
    time_limit=DEFAULT_TIME_LIMIT,
    soft_time_limit=DEFAULT_TIME_LIMIT - 60,
)
def execute_payments_task(experiment_id: int, job_id: int) -> str:
    from crowdtest.corpus.models import Experiment
    from crowdtest.jobs.services import job_fail, job_finish

    from .errors import PlatformError
    from .services import payments_execute

    try:
        report = payments_execute(experiment=Experiment.objects.get(pk=experiment_id))
    except PlatformError as exc:
        job_fail(job_id=job_id, error=exc.message)
        return "stopped"
    job_finish(job_id=job_id, message=report.summary())
    return report.summary()
