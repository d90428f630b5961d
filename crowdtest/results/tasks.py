"""Results tasks: thin wrappers that load ids and call one service."""

from __future__ import annotations

import logging

from django.db import OperationalError

from crowdtest.celery import DEFAULT_TIME_LIMIT
from crowdtest.jobs.durable import durable_task

logger = logging.getLogger(__name__)


@durable_task(
    "crowdtest.results.tasks.refresh_results", time_limit=DEFAULT_TIME_LIMIT, soft_margin=60
)
def refresh_results_task(experiment_id: int, job_id: int) -> str:
    """Screen, compute MOS, retire saturated sessions. Idempotent: every step rewrites
    its own rows from the votes, so a redelivered task does the same again."""
    from crowdtest.corpus.models import Experiment
    from crowdtest.jobs.services import job_advance, job_fail

    from .services import results_refresh

    try:
        report = results_refresh(experiment=Experiment.objects.get(pk=experiment_id))
    except OperationalError:
        raise
    except Exception as exc:  # recorded on the job, which the dashboard shows
        logger.exception("refreshing the results of experiment %s failed", experiment_id)
        job_fail(job_id=job_id, error=f"{exc.__class__.__name__}: {exc}")
        return "failed"
    job_advance(job_id=job_id, done=1, message=report.summary())
    return report.summary()


@durable_task(
    "crowdtest.results.tasks.screen_assignment", time_limit=DEFAULT_TIME_LIMIT, soft_margin=60
)
def screen_assignment_task(assignment_id: int) -> str:
    """Screen a session as soon as its rater finishes it, then, when the experiment
    collects adaptively, retire the sessions nobody needs any more. Both rewrite their
    own rows, so a redelivered task is harmless."""
    from crowdtest.rating.models import Assignment

    from .services import adaptive_retire, assignment_screen

    assignment = Assignment.objects.select_related("experiment", "rater").get(pk=assignment_id)
    if assignment.rater.is_preview:
        return "a staff preview: not screened"
    verdict = assignment_screen(assignment=assignment)
    if assignment.experiment.config.target_ci_width is not None:
        adaptive_retire(experiment=assignment.experiment)
    return "valid" if verdict.valid else "invalid"
