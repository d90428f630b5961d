"""Design tasks on the audio queue: thin wrappers that load ids and call one service."""

from __future__ import annotations

from crowdtest.celery import AUDIO_TIME_LIMIT
from crowdtest.jobs.durable import durable_task


@durable_task("crowdtest.design.tasks.build_sessions", time_limit=AUDIO_TIME_LIMIT, soft_margin=30)
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
