"""Model runs: starting one (labels, model, backbone and settings checked before anything
is queued), each fold's training as its own gpu task, cancel and resume. A run trains
w2vMOS or one of the paper's baselines (NISQA, NISQA with L1 loss, ConvMaxPool), chosen
by its model name, through the same folds, metrics, tasks and run folder.

A cross-validation has k fold tasks, sent one after the other: a fold that finishes
sends the next one, the last one writes the mean ± std over folds. Every task is
idempotent through the fold's status (a finished fold is never trained again) and a
task delivered again after its worker died resumes its fold from the last per-epoch
checkpoint (`modeling.w2vmos.train`). A final model is a single "fold" trained on all
labels but a stratified validation part (`modeling.w2vmos.crossval.train_final`)."""

from __future__ import annotations

import logging
import math
import os
import secrets
import shutil
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.core.files.storage import default_storage
from django.db import OperationalError, transaction
from django.utils import timezone

from crowdtest.celery import GPU_TIME_LIMIT
from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.jobs.dispatch import enqueue, uses_workers
from crowdtest.jobs.models import Job
from crowdtest.jobs.services import (
    job_advance,
    job_create,
    job_fail,
    job_mark_cancelled,
    job_report,
    job_request_cancel,
    job_set_counts,
    job_start,
)
from modeling import metrics
from modeling.provenance import code_version
from modeling.w2vmos.config import (
    MODEL_NAMES,
    PRETRAINED_FROM,
    TABLE_NAMES,
    CVConfig,
    ModelConfig,
    TrainConfig,
    check_pairing,
    pretraining_phrase,
    train_config_for,
)
from modeling.w2vmos.errors import W2VMOSError

if TYPE_CHECKING:  # torch lives only in the workers that train
    from modeling.w2vmos.crossval import CVProgress, FoldOutcome
    from modeling.w2vmos.data import ManifestItem
    from modeling.w2vmos.train import EpochProgress

from ..errors import TrainingError
from ..labels import Label, masters_too_short, run_labels, unreadable_masters
from ..models import ModelFold, ModelRun
from .control import StopControl, task_deadline

logger = logging.getLogger(__name__)

JOB_KIND = "train_w2vmos"
# What a finished fold writes on its row.
FOLD_OUTCOME_FIELDS = [
    "status",
    "finished_at",
    "n_train",
    "n_val",
    "n_test",
    "best_epoch",
    "best_val_loss",
    "epochs_run",
    "stopped_early",
    "history",
    "model_dir",
    "tau",
    "metrics",
    "predictions",
]
DEFAULT_BACKBONE = "facebook/wav2vec2-base"
Status = ModelRun.Status


# --- Starting -------------------------------------------------------------------------


def backbone_resolve(source: str) -> str:
    """The checkpoint a run fine-tunes: a local HF-format folder (a `pretrain_wav2vec2`
    output folder means its `backbone/`) or a hub id, whose config must say wav2vec 2.0.
    Reads the config only, never the weights."""
    from modeling.w2vmos.model import checkpoint_model_type

    text = source.strip()
    if not text:
        raise TrainingError("Give a backbone: a wav2vec 2.0 checkpoint folder or a hub id.")
    local = Path(text).expanduser()
    if local.exists() or text.startswith((".", "/", "~")):
        if not local.is_dir():
            raise TrainingError(f"The backbone {text} is not a checkpoint folder.")
        if (local / "backbone" / "config.json").is_file():
            local = local / "backbone"
        if not (local / "config.json").is_file():
            raise TrainingError(
                f"The backbone {text} can't be read: no config.json, so it is not an HF-format "
                "checkpoint folder."
            )
        text = str(local.resolve())
    try:
        model_type = checkpoint_model_type(text)
    except W2VMOSError as exc:
        raise TrainingError(f"The backbone {source.strip()!r} can't be read: {exc}") from exc
    if model_type != "wav2vec2":
        raise TrainingError(
            f"The backbone {source.strip()!r} is a {model_type or 'untyped'!r} checkpoint, "
            "not a wav2vec 2.0 one (its config's model_type must be 'wav2vec2')."
        )
    return text


def run_configs(run: ModelRun) -> tuple[ModelConfig, TrainConfig, CVConfig]:
    return (
        ModelConfig.from_dict(run.config["model"]),
        TrainConfig.from_dict(run.config["train"]),
        CVConfig.from_dict(run.config["cv"]),
    )


def run_start(
    *,
    experiment: Experiment,
    kind: str = ModelRun.Kind.CROSSVAL,
    model: str = "w2vmos",
    backbone: str | None = None,
    folds: int = 3,
    max_epochs: int | None = None,
    patience: int = 20,
    random_labels: bool = False,
    device: str = "auto",
    precision: str = "auto",
    seed: int = 0,
    lr_backbone: float | None = None,
    lr_head: float | None = None,
    batch_size: int | None = None,
    pretrained: str | None = None,
    created_by: Any = None,
) -> ModelRun:
    """Check everything that can be checked here, record the run with its labels and
    resolved settings, and queue its first fold on the gpu queue. A GPU asked for is
    checked here when tasks run in this process, else by the worker at task start.
    Settings left as None take the model's defaults (the paper's, `TRAIN_DEFAULTS`); a
    backbone is for w2vMOS only (default: wav2vec 2.0 base), a pre-training's product
    (`pretrained`) for the pre-trained ConvMaxPools only, each from its own method."""
    if kind not in (ModelRun.Kind.CROSSVAL, ModelRun.Kind.FINAL):
        raise TrainingError(f"A run is a cross-validation or a final model, not {kind!r}.")
    if model not in MODEL_NAMES:
        raise TrainingError(f"Unknown model {model!r}: one of {', '.join(MODEL_NAMES)}.")
    baseline = model != "w2vmos"
    if baseline and backbone and backbone.strip():
        raise TrainingError(
            f"{TABLE_NAMES[model]} starts from a random initialisation on log-mel input: "
            "a wav2vec 2.0 backbone is for w2vMOS only."
        )
    if not baseline and pretrained and pretrained.strip():
        raise TrainingError(
            "w2vMOS fine-tunes a wav2vec 2.0 backbone (--backbone); a pre-trained CNN is for "
            "the pre-trained ConvMaxPools."
        )
    if folds < 2:
        raise TrainingError(f"Cross-validation needs at least 2 folds, not {folds}.")
    label_set = run_labels(experiment=experiment, k=folds, need_ci=kind == ModelRun.Kind.CROSSVAL)
    try:
        train = train_config_for(
            model,
            lr_backbone=lr_backbone,
            lr_head=lr_head,
            batch_size=batch_size,
            patience=patience,
            max_epochs=max_epochs,
            seed=seed,
            device=device,
            precision=precision,
        )
        model_config = pretrained_model_config(model, pretrained) if baseline else None
        if model_config is not None:
            check_pairing(model_config, train)
        cv = CVConfig(k=folds, seed=seed, random_labels=random_labels)
        if not uses_workers():
            from modeling.w2vmos.runtime import resolve_device, resolve_precision

            resolve_precision(precision, resolve_device(device))
    except W2VMOSError as exc:
        raise TrainingError(str(exc)) from exc
    stimulus_ids = [label.stimulus_id for label in label_set.labels]
    unreadable = unreadable_masters(stimulus_ids=stimulus_ids)
    if unreadable:
        shown = "; ".join(f"stimulus {pk}: {reason}" for pk, reason in unreadable[:5])
        raise TrainingError(f"Unreadable master audio: {shown}.")
    if model_config is None:
        backbone = backbone.strip() if backbone and backbone.strip() else DEFAULT_BACKBONE
        model_config = ModelConfig(backbone=backbone_resolve(backbone))
    else:
        _check_mel_input(model_config, stimulus_ids)
    config = {
        "model": model_config.to_dict(),
        "train": train.to_dict(),
        "cv": cv.to_dict(),
        "backbone": backbone.strip() if backbone else "",
        "random_labels": random_labels,
        "mos_classes": label_set.n_classes,
    }
    n_folds = folds if kind == ModelRun.Kind.CROSSVAL else 1
    with transaction.atomic():
        job = job_create(
            kind=JOB_KIND, scope=experiment.job_scope, total=n_folds, created_by=created_by
        )
        run = ModelRun.objects.create(
            experiment=experiment,
            kind=kind,
            job=job,
            config=config,
            labels=[label.to_list() for label in label_set.labels],
            labels_fingerprint=label_set.fingerprint,
            n_items=len(label_set.labels),
            code_version=code_version(),
            created_by=created_by,
        )
        # A new name even if an id is reused (SQLite reuses the highest after a delete),
        # so a run never resumes from a deleted run's checkpoints.
        run.folder = f"{run.pk}-{secrets.token_hex(4)}"
        run.save(update_fields=["folder"])
        ModelFold.objects.bulk_create(ModelFold(run=run, index=i) for i in range(n_folds))
        _send_next_fold(run)
    return run


def pretrained_model_config(model: str, pretrained: str | None) -> ModelConfig:
    """A baseline's model settings; a pre-trained ConvMaxPool's name the product it starts
    from (read and checked here: it must exist, be finished and be of the model's own
    pre-training) and take its log-mel settings."""
    from modeling.baselines.product import product_for

    source = (pretrained or "").strip()
    if model not in PRETRAINED_FROM:
        if source:
            raise TrainingError(
                f"{TABLE_NAMES[model]} starts from a random initialisation; a pre-trained "
                f"CNN is for {', '.join(TABLE_NAMES[n] for n in PRETRAINED_FROM)}."
            )
        return ModelConfig(name=model)  # type: ignore[arg-type]
    if not source:
        raise TrainingError(
            f"{TABLE_NAMES[model]} is fine-tuned from {pretraining_phrase(PRETRAINED_FROM[model])}"
            f": give its output folder (pretrain_cnn {PRETRAINED_FROM[model]} ... OUT_DIR)."
        )
    try:
        product = product_for(model, source)
    except W2VMOSError as exc:
        raise TrainingError(str(exc)) from exc
    return ModelConfig(
        name=model,  # type: ignore[arg-type]
        pretrained=str(product.folder),
        mel=product.mel,
    )


def _check_mel_input(config: ModelConfig, stimulus_ids: list[int]) -> None:
    """A baseline needs every master long enough for one log-mel segment (15 frames of
    10 ms: 0.14 s)."""
    from modeling.mel import MelSettings

    settings = MelSettings.from_dict(config.mel)
    shortest = settings.min_samples / settings.sample_rate
    short = masters_too_short(stimulus_ids=stimulus_ids, seconds=shortest)
    if short:
        shown = "; ".join(f"stimulus {pk} ({length:.3f} s)" for pk, length in short[:5])
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        raise TrainingError(
            f"{TABLE_NAMES[config.name]} needs log-mel input of at least {shortest:.2f} s "
            f"(one segment of {settings.seg_length} frames); these masters are shorter: "
            f"{shown}{more}."
        )


def _send_next_fold(run: ModelRun) -> None:
    """Queue the first unfinished fold, unless its task was already sent."""
    from ..tasks import train_fold_task

    fold = (
        ModelFold.objects.select_for_update()
        .filter(run=run)
        .exclude(status=Status.SUCCEEDED)
        .order_by("index")
        .first()
    )
    if fold is None or fold.sent:
        return
    fold.sent = True
    fold.save(update_fields=["sent"])
    enqueue(train_fold_task, run_id=run.pk, fold=fold.index)


# --- One fold: the task's work -------------------------------------------------------


def fold_train(*, run_id: int, fold: int) -> str:
    """Train (or resume) one fold of a run and record its metrics; returns what
    happened. Nothing is done for a finished run or an already trained fold."""
    with transaction.atomic():
        run = ModelRun.objects.select_for_update().get(pk=run_id)
        row = ModelFold.objects.select_for_update().get(run=run, index=fold)
        if run.is_finished:
            return f"run {run.status}"
        if row.status == Status.SUCCEEDED:
            _send_next_fold(run)
            return "fold already trained"
        job = Job.objects.get(pk=run.job_id) if run.job_id else None
        if job is not None and job.cancel_requested:
            _mark_cancelled(run)
            return "cancelled"
        now = timezone.now()
        run.status, run.started_at = Status.RUNNING, run.started_at or now
        run.save(update_fields=["status", "started_at"])
        row.status, row.started_at = Status.RUNNING, row.started_at or now
        row.save(update_fields=["status", "started_at"])
    if run.job_id:
        job_start(job_id=run.job_id, message=f"{_fold_name(run, fold)}: loading the audio")
    control = StopControl(job_id=run.job_id, deadline=task_deadline())
    try:
        return _train_and_record(run, row, control)
    except OperationalError:
        raise
    except SoftTimeLimitExceeded:  # an epoch outlasted the hand-over margin
        from ..tasks import train_fold_task

        enqueue(train_fold_task, run_id=run_id, fold=fold)
        return "continues in a new task"
    except (TrainingError, W2VMOSError, OSError) as exc:
        _mark_failed(run, str(exc))
        return "failed"
    except Exception as exc:  # a bug: the run must not wait forever
        logger.exception("training fold %s of model run %s failed", fold, run_id)
        _mark_failed(run, f"internal error: {exc.__class__.__name__}: {exc}")
        return "failed"


def _train_and_record(run: ModelRun, row: ModelFold, control: StopControl) -> str:
    outcome = _train(run, row, control)
    if outcome is None:
        if control.out_of_time and not control.cancelled:
            from ..tasks import train_fold_task

            enqueue(train_fold_task, run_id=run.pk, fold=row.index)
            return "continues in a new task"
        with transaction.atomic():
            _mark_cancelled(ModelRun.objects.select_for_update().get(pk=run.pk))
        return "cancelled"
    _fold_finished(run_id=run.pk, fold=row.index, outcome=outcome)
    return "trained"


def _json_safe(value: Any) -> Any:
    """NaN and infinities (an undefined PCC on a constant prediction) as null: JSON
    columns accept no NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _fold_name(run: ModelRun, fold: int) -> str:
    return f"fold {fold + 1}/{run.k}" if run.kind == ModelRun.Kind.CROSSVAL else "final model"


def stage_audio(run: ModelRun) -> list[ManifestItem]:
    """The run's labelled clips, each master linked (local storage) or copied (remote
    storage) into the run folder, so that the paths a run trains on never change."""
    from modeling.w2vmos.data import ManifestItem

    folder = run.path / "audio"
    folder.mkdir(parents=True, exist_ok=True)
    labels = [Label.from_list(row) for row in run.labels]
    masters = dict(
        Stimulus.objects.filter(pk__in=[label.stimulus_id for label in labels]).values_list(
            "pk", "master"
        )
    )
    items = []
    for label in labels:
        name = masters.get(label.stimulus_id)
        if not name:
            raise TrainingError(f"Stimulus {label.stimulus_id} no longer has its master audio.")
        target = folder / f"{label.stimulus_id}{Path(name).suffix or '.flac'}"
        if not os.path.lexists(target):
            try:
                target.symlink_to(Path(default_storage.path(name)).resolve())
            except NotImplementedError:
                partial = target.with_name(target.name + ".part")
                with default_storage.open(name, "rb") as remote, partial.open("wb") as local:
                    shutil.copyfileobj(remote, local, 1 << 20)
                partial.replace(target)
        items.append(ManifestItem(target, label.mos, label.ci, label.mos_class))
    return items


class _Reporter:
    """Each epoch: the fold's live history and best, the job's message and detail, and
    a fresh read of the cancel flag."""

    def __init__(self, run: ModelRun, row: ModelFold, control: StopControl) -> None:
        self.run, self.row, self.control = run, row, control
        self.history: list[dict[str, float]] = list(row.history)

    def __call__(self, progress: CVProgress | EpochProgress) -> None:
        from modeling.w2vmos.crossval import CVProgress

        epoch = progress.epoch if isinstance(progress, CVProgress) else progress
        self.history = [h for h in self.history if h["epoch"] < epoch.epoch]
        self.history.append(
            {"epoch": epoch.epoch, "train_loss": epoch.train_loss, "val_loss": epoch.val_loss}
        )
        ModelFold.objects.filter(pk=self.row.pk).update(
            history=self.history,
            epochs_run=epoch.epoch,
            best_epoch=epoch.best_epoch,
            best_val_loss=epoch.best_val_loss,
        )
        if self.run.job_id:
            loss = self.run.loss_name
            job_report(
                job_id=self.run.job_id,
                message=(
                    f"{_fold_name(self.run, self.row.index)} · epoch {epoch.epoch}/"
                    f"{epoch.max_epochs} · train {loss} {epoch.train_loss:.3f} · val {loss} "
                    f"{epoch.val_loss:.3f} · best {epoch.best_val_loss:.3f} "
                    f"(epoch {epoch.best_epoch})"
                ),
                detail={
                    "fold": self.row.index,
                    "folds": self.run.k if self.run.kind == ModelRun.Kind.CROSSVAL else 1,
                    "epoch": epoch.epoch,
                    "max_epochs": epoch.max_epochs,
                    "train_loss": epoch.train_loss,
                    "val_loss": epoch.val_loss,
                    "best_val_loss": epoch.best_val_loss,
                    "best_epoch": epoch.best_epoch,
                    "epochs_without_improvement": epoch.epochs_without_improvement,
                },
            )
        self.control.poll()


def _train(run: ModelRun, row: ModelFold, control: StopControl) -> FoldOutcome | None:
    """The fold's outcome (the final model's for a final run), None if stopped."""
    from modeling.w2vmos.crossval import run_crossval, train_final

    model_config, train_config, cv_config = run_configs(run)
    items = stage_audio(run)
    report = _Reporter(run, row, control)
    if run.kind == ModelRun.Kind.FINAL:
        return train_final(
            items,
            model_config=model_config,
            train_config=train_config,
            cv_config=cv_config,
            run_dir=run.path / "final",
            progress=report,
            should_stop=control,
        )
    cv = run_crossval(
        items,
        model_config=model_config,
        train_config=train_config,
        cv_config=cv_config,
        run_dir=run.path / "crossval",
        progress=report,
        should_stop=control,
        folds=[row.index],
    )
    if cv.cancelled:
        return None
    return next(f for f in cv.folds if f.fold == row.index)


def _fold_finished(*, run_id: int, fold: int, outcome: FoldOutcome) -> None:
    with transaction.atomic():
        run = ModelRun.objects.select_for_update().get(pk=run_id)
        row = ModelFold.objects.select_for_update().get(run=run, index=fold)
        stimulus_of = [int(label[0]) for label in run.labels]
        row.status, row.finished_at = Status.SUCCEEDED, timezone.now()
        row.n_train, row.n_val, row.n_test = outcome.n_train, outcome.n_val, outcome.n_test
        row.best_epoch = outcome.best_epoch
        row.best_val_loss = _json_safe(outcome.best_val_loss)
        row.epochs_run, row.stopped_early = outcome.epochs_run, outcome.stopped_early
        row.history, row.model_dir = _json_safe(outcome.history), outcome.model_dir
        row.tau, row.metrics = _json_safe(outcome.tau), _json_safe(outcome.metrics)
        row.predictions = _json_safe(
            [
                {
                    "stimulus": stimulus_of[p.index],
                    "fold": p.fold,
                    "split": p.split,
                    "mos": p.mos,
                    "label_used": p.label_used,
                    "pred": p.pred,
                    "pred_mapped": p.pred_mapped,
                }
                for p in outcome.predictions
            ]
        )
        row.save(update_fields=FOLD_OUTCOME_FIELDS)
        folds = list(ModelFold.objects.filter(run=run).order_by("index"))
        if all(f.status == Status.SUCCEEDED for f in folds):
            if run.kind == ModelRun.Kind.CROSSVAL:
                scores = [
                    {k: math.nan if v is None else v for k, v in f.metrics.items()} for f in folds
                ]
                run.summary = _json_safe(metrics.mean_std_over_folds(scores))
            run.status, run.finished_at = Status.SUCCEEDED, timezone.now()
            run.save(update_fields=["summary", "status", "finished_at"])
        else:
            _send_next_fold(run)
        if run.job_id:
            job_advance(job_id=run.job_id, done=1, message=_done_message(run, row))


def _done_message(run: ModelRun, row: ModelFold) -> str:
    if run.status == Status.SUCCEEDED and run.summary:
        means = {key: (run.summary.get(key) or {}).get("mean") for key in ("rmse", "pcc", "srcc")}
        text = ", ".join(
            f"{key.upper()} {'n/a' if v is None else f'{v:.3f}'}" for key, v in means.items()
        )
        pra = (run.summary.get("pra") or {}).get("mean")
        return f"{run.k} folds done: {text}, PRA {'n/a' if pra is None else f'{100 * pra:.1f} %'}"
    best = f"best val {run.loss_name} {row.best_val_loss:.3f} at epoch {row.best_epoch}"
    return f"{_fold_name(run, row.index)} done: {best}"


def _mark_cancelled(run: ModelRun) -> None:
    """Under the run's lock: the run, its unfinished folds and its job are cancelled."""
    if run.is_finished:
        return
    now = timezone.now()
    run.status, run.finished_at = Status.CANCELLED, now
    run.save(update_fields=["status", "finished_at"])
    ModelFold.objects.filter(run=run).exclude(status=Status.SUCCEEDED).update(
        status=Status.CANCELLED, sent=False
    )
    if run.job_id:
        job_mark_cancelled(job_id=run.job_id)


def _mark_failed(run: ModelRun, error: str) -> None:
    with transaction.atomic():
        locked = ModelRun.objects.select_for_update().get(pk=run.pk)
        if locked.is_finished:
            return
        locked.status, locked.error, locked.finished_at = Status.FAILED, error, timezone.now()
        locked.save(update_fields=["status", "error", "finished_at"])
        ModelFold.objects.filter(run=locked, status=Status.RUNNING).update(status=Status.FAILED)
        ModelFold.objects.filter(run=locked).exclude(status=Status.SUCCEEDED).update(sent=False)
        if locked.job_id:
            job_fail(job_id=locked.job_id, error=error)


# --- Cancel and resume ----------------------------------------------------------------


def run_cancel(*, run: ModelRun) -> ModelRun:
    """Stop a run: at once when no task is training it (queued, or its job silent for
    longer than any task may run), else at the training loop's next batch."""
    with transaction.atomic():
        run = ModelRun.objects.select_for_update().get(pk=run.pk)
        if run.is_finished:
            raise TrainingError(f"Run {run.pk} has already finished ({run.status}).")
        job = Job.objects.filter(pk=run.job_id).first() if run.job_id else None
        silent = job is None or job.updated_at < timezone.now() - timedelta(seconds=GPU_TIME_LIMIT)
        if run.status == Status.QUEUED or silent:
            _mark_cancelled(run)
        else:
            assert job is not None
            job_request_cancel(job_id=job.pk)
    return run


def run_resume(*, run: ModelRun, created_by: Any = None) -> ModelRun:
    """Continue a failed or cancelled run with a new job: finished folds are kept, an
    interrupted fold resumes from its last saved epoch."""
    from .cnn_pretraining import cnn_pretrain_send, cnn_pretrain_total, is_cnn_pretraining
    from .pretraining import pretrain_send

    with transaction.atomic():
        run = ModelRun.objects.select_for_update().get(pk=run.pk)
        if run.status not in (Status.FAILED, Status.CANCELLED):
            raise TrainingError(
                f"Only a failed or cancelled run can be resumed; run {run.pk} is {run.status}."
            )
        folds = list(ModelFold.objects.select_for_update().filter(run=run))
        done = sum(f.status == Status.SUCCEEDED for f in folds)
        scope = run.experiment.job_scope if run.experiment else ""
        pretraining = run.kind == ModelRun.Kind.PRETRAIN
        cnn = is_cnn_pretraining(run)
        if cnn:
            total = cnn_pretrain_total(run)
        elif pretraining:
            total = int(run.config["pretrain"]["max_steps"]) + 1
        else:
            total = len(folds)
        job = job_create(
            kind=run.job.kind if run.job else JOB_KIND,
            scope=scope,
            total=total,
            created_by=created_by,
        )
        job_set_counts(job_id=job.pk, done=done)
        run.status, run.error, run.finished_at, run.job = Status.QUEUED, "", None, job
        run.save(update_fields=["status", "error", "finished_at", "job"])
        ModelFold.objects.filter(run=run).exclude(status=Status.SUCCEEDED).update(
            status=Status.QUEUED, sent=False
        )
        if cnn:
            cnn_pretrain_send(run)
        elif pretraining:
            pretrain_send(run)
        else:
            _send_next_fold(run)
    return run
