"""Self-supervised pre-training of a wav2vec 2.0 backbone on a folder of unlabeled music
(`modeling.w2vmos.pretrain`: 20 s windows, 10 s hop, 16 kHz), as a gpu task with
progress, cancel and resume. Its output folder's `backbone/` is what `train_w2vmos
--backbone <out_dir>` fine-tunes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, transaction
from django.utils import timezone

from crowdtest.corpus.models import Experiment
from crowdtest.jobs.dispatch import enqueue, uses_workers
from crowdtest.jobs.models import Job
from crowdtest.jobs.services import (
    job_advance,
    job_create,
    job_fail,
    job_finish,
    job_mark_cancelled,
    job_report,
    job_start,
)
from modeling.provenance import code_version
from modeling.w2vmos.config import ModelConfig, PretrainConfig
from modeling.w2vmos.errors import W2VMOSError

from ..errors import TrainingError
from ..models import ModelRun
from .control import StopControl, task_deadline

logger = logging.getLogger(__name__)

JOB_KIND = "pretrain_wav2vec2"
Status = ModelRun.Status


def pretrain_start(
    *,
    folder: str,
    out_dir: str,
    init: str | None = None,
    experiment: Experiment | None = None,
    created_by: Any = None,
    **settings: Any,
) -> ModelRun:
    """Check the folder, the output folder and the settings (`PretrainConfig` fields:
    max_steps, window_seconds, hop_seconds, batch_size, lr, warmup_steps, save_every,
    device, precision, seed, ...), record the run and queue it on the gpu queue.
    `init` continues from a wav2vec 2.0 checkpoint; without it the backbone starts from
    random weights of wav2vec2-base's size."""
    from modeling.w2vmos.pretrain import find_audio_files

    from .runs import backbone_resolve

    source = Path(folder).expanduser().resolve()
    try:
        files = find_audio_files(source)
        config = PretrainConfig(**settings)
        if not uses_workers():
            from modeling.w2vmos.runtime import resolve_device, resolve_precision

            resolve_precision(config.precision, resolve_device(config.device))
    except TypeError as exc:
        raise TrainingError(f"Unknown pre-training setting: {exc}") from exc
    except W2VMOSError as exc:
        raise TrainingError(str(exc)) from exc
    if not files:
        raise TrainingError(f"{source} holds no audio files to pre-train on.")
    out = Path(out_dir).expanduser().resolve()
    if out.is_file():
        raise TrainingError(f"{out} is a file; give a folder for the pre-trained backbone.")
    # No init: wav2vec2-base's architecture (Wav2Vec2Config's defaults), random weights.
    start = ModelConfig(backbone=backbone_resolve(init)) if init else ModelConfig(tiny_config={})
    with transaction.atomic():
        job = job_create(
            kind=JOB_KIND,
            scope=experiment.job_scope if experiment else "",
            total=config.max_steps + 1,
            created_by=created_by,
        )
        run = ModelRun.objects.create(
            experiment=experiment,
            kind=ModelRun.Kind.PRETRAIN,
            job=job,
            folder=str(out),
            config={
                "pretrain": config.to_dict(),
                "init": start.to_dict(),
                "backbone": init or "",
                "folder": str(source),
                "files": len(files),
            },
            n_items=len(files),
            code_version=code_version(),
            created_by=created_by,
        )
        pretrain_send(run)
    return run


def pretrain_send(run: ModelRun) -> None:
    from ..tasks import pretrain_task

    enqueue(pretrain_task, run_id=run.pk)


def pretrain_run(*, run_id: int) -> str:
    """The pre-training task's work; resumes from the output folder's checkpoint."""
    from modeling.w2vmos.pretrain import PretrainProgress, find_audio_files, pretrain

    with transaction.atomic():
        run = ModelRun.objects.select_for_update().get(pk=run_id)
        if run.is_finished:
            return f"run {run.status}"
        if run.job_id and Job.objects.filter(pk=run.job_id, cancel_requested=True).exists():
            _finish(run, Status.CANCELLED)
            return "cancelled"
        run.status, run.started_at = Status.RUNNING, run.started_at or timezone.now()
        run.save(update_fields=["status", "started_at"])
    job_id = run.job_id
    if job_id:
        job_start(job_id=job_id, message="segmenting the audio")
    reported = Job.objects.get(pk=job_id).done if job_id else 0
    control = StopControl(job_id=job_id, deadline=task_deadline())

    def progress(p: PretrainProgress) -> None:
        nonlocal reported
        if job_id:
            job_advance(job_id=job_id, done=max(p.step - reported, 0))
            job_report(
                job_id=job_id,
                message=(
                    f"step {p.step}/{p.max_steps} · loss {p.loss:.3f} (contrastive "
                    f"{p.contrastive_loss:.3f}, diversity {p.diversity_loss:.3f}) · lr {p.lr:.2e}"
                ),
                detail={"step": p.step, "max_steps": p.max_steps, "loss": p.loss, "lr": p.lr},
            )
        reported = max(reported, p.step)

    try:
        result = pretrain(
            find_audio_files(run.config["folder"]),
            init=ModelConfig.from_dict(run.config["init"]),
            config=PretrainConfig.from_dict(run.config["pretrain"]),
            out_dir=run.path,
            progress=progress,
            should_stop=control,
        )
    except OperationalError:
        raise
    except SoftTimeLimitExceeded:  # continue from the last saved step in a new task
        pretrain_send(run)
        return "continues in a new task"
    except (W2VMOSError, OSError) as exc:
        _fail(run_id, str(exc))
        return "failed"
    except Exception as exc:  # a bug: the run must not wait forever
        logger.exception("pre-training run %s failed", run_id)
        _fail(run_id, f"internal error: {exc.__class__.__name__}: {exc}")
        return "failed"
    if result.cancelled:
        if control.out_of_time and not control.cancelled:
            pretrain_send(run)
            return "continues in a new task"
        with transaction.atomic():
            _finish(ModelRun.objects.select_for_update().get(pk=run_id), Status.CANCELLED)
        return "cancelled"
    with transaction.atomic():
        run = ModelRun.objects.select_for_update().get(pk=run_id)
        run.summary = {
            "backbone_dir": str(result.backbone_dir),
            "steps": result.steps,
            "segments": result.segments,
            "skipped": [list(s) for s in result.skipped[:50]],
            "n_skipped": len(result.skipped),
        }
        run.save(update_fields=["summary"])
        _finish(run, Status.SUCCEEDED)
        if job_id:
            job_finish(
                job_id=job_id,
                message=f"{result.steps} steps on {result.segments} segments: "
                f"backbone in {result.backbone_dir}",
            )
    return "pre-trained"


def _finish(run: ModelRun, status: str) -> None:
    if run.is_finished:
        return
    run.status, run.finished_at = status, timezone.now()
    run.save(update_fields=["status", "finished_at"])
    if run.job_id and status == Status.CANCELLED:
        job_mark_cancelled(job_id=run.job_id)


def _fail(run_id: int, error: str) -> None:
    with transaction.atomic():
        run = ModelRun.objects.select_for_update().get(pk=run_id)
        if run.is_finished:
            return
        run.status, run.error, run.finished_at = Status.FAILED, error, timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        if run.job_id:
            job_fail(job_id=run.job_id, error=error)
