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
    """Plan an archive's scoring into shards and send them as one group."""
    from .services import scoring_plan

    return scoring_plan(scoring_id=scoring_id)


@durable_task(
    "crowdtest.training.tasks.score_shard",
    time_limit=GPU_TIME_LIMIT,
    soft_margin=SOFT_MARGIN,
    reject_on_worker_lost=True,  # goes on from its stored files; bounded by MAX_RESTARTS
)
def score_shard_task(scoring_id: int, index: int) -> str:
    """Score one shard of an archive, skipping the files already stored."""
    from .services import shard_score

    return shard_score(scoring_id=scoring_id, index=index)


@durable_task(
    "crowdtest.training.tasks.assemble_scoring",
    time_limit=GPU_TIME_LIMIT,
    reject_on_worker_lost=True,  # writes nothing until the CSV is whole
)
def assemble_scoring_task(scoring_id: int) -> str:
    """Write a scoring's CSV, in input order, once every shard has finished."""
    from .services import scoring_assemble

    return scoring_assemble(scoring_id=scoring_id)


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
