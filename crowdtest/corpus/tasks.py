"""Audio tasks: thin wrappers that load ids and call one service."""

from __future__ import annotations

import logging

from django.db import OperationalError

from crowdtest.celery import AUDIO_TIME_LIMIT
from crowdtest.jobs.durable import durable_task

logger = logging.getLogger(__name__)


@durable_task(
    "crowdtest.corpus.tasks.prepare_stimulus", time_limit=AUDIO_TIME_LIMIT, soft_margin=30
)
def prepare_stimulus_task(
    stimulus_id: int, job_id: int | None = None, deliver: bool = False
) -> str:
    from .services import stimulus_fail, stimulus_prepare

    try:
        return stimulus_prepare(stimulus_id=stimulus_id, job_id=job_id, deliver=deliver).status
    except OperationalError:
        raise
    except Exception as exc:  # a bug must not leave the job waiting for this stimulus forever
        logger.exception("preparing stimulus %s failed", stimulus_id)
        stimulus_fail(stimulus_id=stimulus_id, job_id=job_id, error=f"internal error: {exc}")
        return "failed"


@durable_task(
    "crowdtest.corpus.tasks.deliver_stimulus", time_limit=AUDIO_TIME_LIMIT, soft_margin=30
)
def deliver_stimulus_task(stimulus_id: int, job_id: int | None = None) -> str:
    from crowdtest.jobs.services import job_advance

    from .services import stimulus_deliver

    try:
        stimulus = stimulus_deliver(stimulus_id=stimulus_id, job_id=job_id)
    except OperationalError:
        raise
    except Exception as exc:  # count it, so the job does not wait forever
        logger.exception("encoding the delivery of stimulus %s failed", stimulus_id)
        if job_id is not None:
            job_advance(job_id=job_id, failed=1, message=f"internal error: {exc}"[:200])
        return "failed"
    return "encoded" if stimulus.delivery else "not encoded"
