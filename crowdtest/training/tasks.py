"""gpu-queue tasks (routed by `crowdtest.training.tasks.*`): thin wrappers that take ids
and call one service. Each is idempotent through its run's or fold's status, hands over
to a continuation before its time limit, and retries only database outages."""

from __future__ import annotations

from crowdtest.celery import GPU_TIME_LIMIT
from crowdtest.jobs.durable import durable_task

SOFT_MARGIN = 5 * 60  # time for a fold to save and queue its continuation


@durable_task(
    "crowdtest.training.tasks.train_fold",
    time_limit=GPU_TIME_LIMIT,
    soft_margin=SOFT_MARGIN,
    reject_on_worker_lost=True,  # resumes from its checkpoint
)
def train_fold_task(run_id: int, fold: int) -> str:
    """Train (or resume) one fold of a model run, then queue the next one."""
    from .services import fold_train

    return fold_train(run_id=run_id, fold=fold)


@durable_task(
    "crowdtest.training.tasks.score_archive",
    time_limit=GPU_TIME_LIMIT,
    soft_margin=SOFT_MARGIN,
    reject_on_worker_lost=True,  # resumes from its checkpoint
)
def score_archive_task(scoring_id: int) -> str:
    """Score an archive with a run's model into a CSV."""
    from .services import scoring_run

    return scoring_run(scoring_id=scoring_id)


@durable_task(
    "crowdtest.training.tasks.pretrain",
    time_limit=GPU_TIME_LIMIT,
    soft_margin=SOFT_MARGIN,
    reject_on_worker_lost=True,  # resumes from its checkpoint
)
def pretrain_task(run_id: int) -> str:
    """Pre-train (or continue pre-training) a wav2vec 2.0 backbone."""
    from .services import pretrain_run

    return pretrain_run(run_id=run_id)


@durable_task(
    "crowdtest.training.tasks.pretrain_cnn",
    time_limit=GPU_TIME_LIMIT,
    soft_margin=SOFT_MARGIN,
    reject_on_worker_lost=True,  # resumes from its last epoch
)
def pretrain_cnn_task(run_id: int) -> str:
    """Pre-train (or continue pre-training) ConvMaxPool's CNN."""
    from .services import cnn_pretrain_run

    return cnn_pretrain_run(run_id=run_id)
