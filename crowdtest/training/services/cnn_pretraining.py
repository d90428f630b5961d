"""ConvMaxPool's pre-trainings of the framewise CNN on a folder of unlabeled music
(`modeling.baselines.pretrain`: autoencoder, degradation classifier, DCEC), as a gpu task
with progress per epoch, cancel and resume. Its output folder is what `train_w2vmos
--model convmaxpool_ae|convmaxpool_degr|convmaxpool_dcec|convmaxpool_dcec_mtl
--pretrained <out_dir>` fine-tunes, each model only from its own method's product.

A run is a pre-training run (`ModelRun.Kind.PRETRAIN`) whose config holds `pretrain_cnn`
(the method and its settings) where a wav2vec 2.0 pre-training holds `pretrain`."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, transaction
from django.utils import timezone

from crowdtest.corpus.models import Experiment
from crowdtest.jobs.dispatch import enqueue, uses_workers
from crowdtest.jobs.models import Job
from crowdtest.jobs.services import job_advance, job_create, job_finish, job_report, job_start
from modeling.provenance import code_version
from modeling.w2vmos.errors import W2VMOSError

from ..errors import TrainingError
from ..models import ModelRun
from .control import StopControl, task_deadline
from .pretraining import _fail, _finish

if TYPE_CHECKING:
    from modeling.baselines.pretrain import CNNPretrainConfig

logger = logging.getLogger(__name__)

JOB_KIND = "pretrain_cnn"
Status = ModelRun.Status


def is_cnn_pretraining(run: ModelRun) -> bool:
    return run.kind == ModelRun.Kind.PRETRAIN and "pretrain_cnn" in run.config


def cnn_pretrain_total(run: ModelRun) -> int:
    """The job's steps: one per epoch (and, for the degradation classifier, one for
    making the degraded set)."""
    from modeling.baselines.pretrain import CNNPretrainConfig

    return _total(CNNPretrainConfig.from_dict(run.config["pretrain_cnn"]))


def _total(config: CNNPretrainConfig) -> int:
    return config.total_epochs + (1 if config.method == "degradation" else 0)


def cnn_pretrain_start(
    *,
    method: str,
    folder: str,
    out_dir: str,
    experiment: Experiment | None = None,
    created_by: Any = None,
    **settings: Any,
) -> ModelRun:
    """Check the method, the folder, the output folder and the settings
    (`CNNPretrainConfig` fields: epochs, batch_size, lr, seconds, segments_per_file,
    embed_dim, clusters, ae_epochs, seed, device, ...), record the run and queue it on
    the gpu queue."""
    from modeling.baselines.pretrain import METHODS, CNNPretrainConfig
    from modeling.w2vmos.pretrain import find_audio_files

    if method not in METHODS:
        raise TrainingError(f"Unknown pre-training {method!r}: one of {', '.join(METHODS)}.")
    source = Path(folder).expanduser().resolve()
    try:
        files = find_audio_files(source)
        config = CNNPretrainConfig(method=method, **settings)
        config.mel_settings  # noqa: B018 - checks the mel settings now
        if not uses_workers():
            from modeling.w2vmos.runtime import resolve_device

            resolve_device(config.device)
    except TypeError as exc:
        raise TrainingError(f"Unknown pre-training setting: {exc}") from exc
    except W2VMOSError as exc:
        raise TrainingError(str(exc)) from exc
    if len(files) < 2:
        raise TrainingError(
            f"{source} holds {len(files)} audio file(s); a pre-training needs at least two "
            "(one is held out)."
        )
    if method == "degradation" and shutil.which("ffmpeg") is None:
        raise TrainingError("The degradation classifier's codecs need ffmpeg on PATH.")
    out = Path(out_dir).expanduser().resolve()
    if out.is_file():
        raise TrainingError(f"{out} is a file; give a folder for the pre-trained CNN.")
    with transaction.atomic():
        job = job_create(
            kind=JOB_KIND,
            scope=experiment.job_scope if experiment else "",
            total=_total(config),
            created_by=created_by,
        )
        run = ModelRun.objects.create(
            experiment=experiment,
            kind=ModelRun.Kind.PRETRAIN,
            job=job,
            folder=str(out),
            config={
                "pretrain_cnn": config.to_dict(),
                "folder": str(source),
                "files": len(files),
                "backbone": "",
            },
            n_items=len(files),
            code_version=code_version(),
            created_by=created_by,
        )
        cnn_pretrain_send(run)
    return run


def cnn_pretrain_send(run: ModelRun) -> None:
    from ..tasks import pretrain_cnn_task

    enqueue(pretrain_cnn_task, run_id=run.pk)


def cnn_pretrain_run(*, run_id: int) -> str:
    """The task's work; resumes from the output folder's last epoch."""
    from modeling.baselines.pretrain import CNNPretrainConfig, CNNPretrainProgress, pretrain_cnn
    from modeling.w2vmos.pretrain import find_audio_files

    with transaction.atomic():
        run = ModelRun.objects.select_for_update().get(pk=run_id)
        if run.is_finished:
            return f"run {run.status}"
        if run.job_id and Job.objects.filter(pk=run.job_id, cancel_requested=True).exists():
            _finish(run, Status.CANCELLED)
            return "cancelled"
        run.status, run.started_at = Status.RUNNING, run.started_at or timezone.now()
        run.save(update_fields=["status", "started_at"])
    config = CNNPretrainConfig.from_dict(run.config["pretrain_cnn"])
    job_id = run.job_id
    if job_id:
        job_start(job_id=job_id, message="reading the music")
    done = Job.objects.get(pk=job_id).done if job_id else 0
    offset = 1 if config.method == "degradation" else 0
    control = StopControl(job_id=job_id, deadline=task_deadline())

    def advance_to(step: int, message: str, detail: dict[str, Any]) -> None:
        nonlocal done
        if job_id:
            job_advance(job_id=job_id, done=max(step - done, 0))
            job_report(job_id=job_id, message=message, detail=detail)
        done = max(done, step)

    def set_made(made: int, total: int) -> None:
        message = f"degraded set: {made}/{total} sources, 6 versions each"
        if made == total:
            advance_to(1, message, {"sources": total})
        elif job_id:
            job_report(job_id=job_id, message=message, detail={"made": made, "sources": total})

    def progress(p: CNNPretrainProgress) -> None:
        accuracy = "" if p.val_accuracy is None else f" · val accuracy {100 * p.val_accuracy:.1f} %"
        advance_to(
            p.epoch + offset,
            f"{p.phase} epoch {p.epoch}/{p.epochs} · train loss {p.train_loss:.4f} · "
            f"val loss {p.val_loss:.4f}{accuracy}",
            {"epoch": p.epoch, "epochs": p.epochs, "phase": p.phase, "val_loss": p.val_loss},
        )

    try:
        result = pretrain_cnn(
            find_audio_files(run.config["folder"]),
            config=config,
            out_dir=run.path,
            progress=progress,
            should_stop=control,
            set_progress=set_made,
        )
    except OperationalError:
        raise
    except SoftTimeLimitExceeded:
        cnn_pretrain_send(run)
        return "continues in a new task"
    except (W2VMOSError, OSError) as exc:
        _fail(run_id, str(exc))
        return "failed"
    except Exception as exc:  # a bug: the run must not wait forever
        logger.exception("CNN pre-training run %s failed", run_id)
        _fail(run_id, f"internal error: {exc.__class__.__name__}: {exc}")
        return "failed"
    if result.cancelled:
        if control.out_of_time and not control.cancelled:
            cnn_pretrain_send(run)
            return "continues in a new task"
        with transaction.atomic():
            _finish(ModelRun.objects.select_for_update().get(pk=run_id), Status.CANCELLED)
        return "cancelled"
    last = result.history[-1] if result.history else {}
    with transaction.atomic():
        run = ModelRun.objects.select_for_update().get(pk=run_id)
        run.summary = {
            "product_dir": str(result.product_dir),
            "method": config.method,
            "epochs": result.epochs,
            "items": result.items,
            "val_loss": last.get("val_loss"),
            "val_accuracy": last.get("val_accuracy"),
            "skipped": [list(s) for s in result.skipped[:50]],
            "n_skipped": len(result.skipped),
        }
        run.save(update_fields=["summary"])
        _finish(run, Status.SUCCEEDED)
        if job_id:
            job_finish(
                job_id=job_id,
                message=f"{result.epochs} epochs on {result.items} items: CNN in "
                f"{result.product_dir}",
            )
    return "pre-trained"
