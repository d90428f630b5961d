"""gpu-queue tasks (routed by `crowdtest.training.tasks.*`): thin wrappers that take ids
and call one service. Each is idempotent through its run's or fold's status, hands over
to a continuation before its time limit, and retries only database outages."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from crowdtest.celery import GPU_TIME_LIMIT

SOFT_TIME_LIMIT = GPU_TIME_LIMIT - 5 * 60


@shared_task(
    name="crowdtest.training.tasks.train_fold",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=GPU_TIME_LIMIT,
    soft_time_limit=SOFT_TIME_LIMIT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def train_fold_task(run_id: int, fold: int) -> str:
    """Train (or resume) one fold of a model run, then queue the next one."""
    from .services import fold_train

    return fold_train(run_id=run_id, fold=fold)


@shared_task(
    name="crowdtest.training.tasks.score_archive",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=GPU_TIME_LIMIT,
    soft_time_limit=SOFT_TIME_LIMIT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def score_archive_task(scoring_id: int) -> str:
    """Score an archive with a run's model into a CSV."""
    from .services import scoring_run

    return scoring_run(scoring_id=scoring_id)


@shared_task(
    name="crowdtest.training.tasks.pretrain",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=GPU_TIME_LIMIT,
    soft_time_limit=SOFT_TIME_LIMIT,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def pretrain_task(run_id: int) -> str:
    """Pre-train (or continue pre-training) a wav2vec 2.0 backbone."""
    from .services import pretrain_run

    return pretrain_run(run_id=run_id)
