"""Writes of the training app: model runs and their folds, archive scoring, backbone
and ConvMaxPool CNN pre-training, imported fairseq checkpoints, comparisons. Every
service takes keyword-only arguments and raises `TrainingError`."""

from ..errors import TrainingError
from .cnn_pretraining import cnn_pretrain_run, cnn_pretrain_start
from .compare import COMPARABLE, RANDOM_LABELS, comparison_models, runs_compare
from .imports import checkpoint_import
from .pretraining import pretrain_run, pretrain_start
from .runs import (
    DEFAULT_BACKBONE,
    backbone_resolve,
    fold_train,
    run_cancel,
    run_resume,
    run_start,
    stage_audio,
)
from .scoring import (
    ScoreSource,
    archive_score,
    archive_sources,
    iter_archive_sources,
    scoring_fold,
    scoring_folds,
    scoring_run_here,
    scoring_start,
)
from .sharding import scoring_assemble, scoring_plan, shard_score

__all__ = [
    "COMPARABLE",
    "DEFAULT_BACKBONE",
    "RANDOM_LABELS",
    "ScoreSource",
    "TrainingError",
    "archive_score",
    "archive_sources",
    "backbone_resolve",
    "checkpoint_import",
    "cnn_pretrain_run",
    "cnn_pretrain_start",
    "comparison_models",
    "fold_train",
    "iter_archive_sources",
    "pretrain_run",
    "pretrain_start",
    "run_cancel",
    "run_resume",
    "run_start",
    "runs_compare",
    "scoring_assemble",
    "scoring_fold",
    "scoring_folds",
    "scoring_plan",
    "scoring_run_here",
    "scoring_start",
    "shard_score",
    "stage_audio",
]
