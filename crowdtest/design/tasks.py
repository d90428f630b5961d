"""Design tasks on the audio queue: thin wrappers that load ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from crowdtest.celery import AUDIO_TIME_LIMIT


@shared_task(
    name="crowdtest.design.tasks.build_sessions",
    acks_late=True,
    time_limit=AUDIO_TIME_LIMIT,
    soft_time_limit=AUDIO_TIME_LIMIT - 30,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def build_sessions_task(
    experiment_id: int, job_id: int, votes_per_stimulus: int, seed: int, digits_pool: int
) -> str:
    """Build an experiment's sessions; does nothing once its job has finished."""
    from .services import design_build

    design = design_build(
        experiment_id=experiment_id,
        job_id=job_id,
        votes_per_stimulus=votes_per_stimulus,
        seed=seed,
        digits_pool=digits_pool,
    )
    return "built" if design is not None else "not built"
