"""The training app's file in an experiment export: models.csv, one row per model run
with its model (Table 1's row name), backbone or pre-trained CNN, settings, labels
fingerprint, metrics (mean and std over folds) and code version."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from crowdtest.corpus.models import Experiment
from crowdtest.exports import export_file

from .models import ModelRun

METRICS = ("rmse", "pcc", "srcc", "pra", "rmse_raw", "pcc_raw", "tau")
MODEL_COLUMNS = (
    "run_id",
    "kind",
    "model",
    "status",
    "backbone",
    "pretrained",
    "random_labels",
    "folds",
    "max_epochs",
    "patience",
    "loss",
    "batch_size",
    "seed",
    "n_labels",
    "labels_fingerprint",
    *(f"{m}_{part}" for m in METRICS for part in ("mean", "std")),
    "code_version",
    "created_at",
    "finished_at",
)


@export_file("models.csv", "Model runs (w2vMOS, baselines): settings, labels fingerprint, metrics")
def models_csv(experiment: Experiment) -> tuple[Sequence[str], Iterable[Sequence[Any]]]:
    runs = ModelRun.objects.filter(experiment=experiment).defer("labels").order_by("pk")
    return MODEL_COLUMNS, (_row(run) for run in runs)


def _row(run: ModelRun) -> list[Any]:
    train = run.config.get("train", {})
    values = []
    for metric in METRICS:
        stats = run.summary.get(metric, {}) if run.kind == ModelRun.Kind.CROSSVAL else {}
        values += [stats.get("mean"), stats.get("std")]
    return [
        run.pk,
        run.kind,
        run.name,
        run.status,
        run.backbone,
        run.config.get("model", {}).get("pretrained") or "",
        run.random_labels,
        run.k if run.kind != ModelRun.Kind.PRETRAIN else None,
        train.get("max_epochs"),
        train.get("patience"),
        train.get("loss", "l1") if train else None,
        train.get("batch_size"),
        train.get("seed"),
        run.n_items,
        run.labels_fingerprint,
        *values,
        run.code_version,
        run.created_at.isoformat(),
        run.finished_at.isoformat() if run.finished_at else None,
    ]
