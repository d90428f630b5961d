"""Stimulus preparation (masters and features for every track) and the delivery files
of the stimuli raters will hear."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from crowdtest.jobs.dispatch import enqueue
from crowdtest.jobs.models import Job
from crowdtest.jobs.services import job_advance, job_create, job_start
from modeling.audio import AudioError
from modeling.audio.stimulus import StimulusConfig, prepare_stimulus

from ..models import Experiment, Stimulus
from ..sources import (
    SourceError,
    local_copy,
)

Progress = Callable[[int, int, str], None]


# How a failed delivery encode is recorded in the stimulus's warnings.
ENCODE_FAILED = "delivery encode failed:"


def stimuli_prepare(
    *,
    experiment: Experiment,
    retry_failed: bool = False,
    deliver_all: bool = False,
    created_by: Any = None,
) -> Job | None:
    """Queue one audio task per track that has no stimulus yet (and, if asked, per failed
    one). Returns the job that counts them, or None when nothing is missing.

    Only the lossless master and the features are made here; the AAC delivery file, most
    of the cost, is encoded for the stimuli raters will hear once clustering has chosen
    them (`deliveries_encode`), or here for every track with `deliver_all`."""
    from ..tasks import prepare_stimulus_task

    with transaction.atomic():
        usable = experiment.tracks.filter(error="", stimulus__isnull=True)
        Stimulus.objects.bulk_create(
            [Stimulus(experiment=experiment, track=track) for track in usable]
        )
        if retry_failed:
            experiment.stimuli.filter(status=Stimulus.Status.FAILED).update(
                status=Stimulus.Status.PENDING, error=""
            )
        todo = list(
            experiment.stimuli.filter(status=Stimulus.Status.PENDING).values_list("pk", flat=True)
        )
        if not todo:
            return None
        job = job_create(
            kind="prepare_stimuli",
            scope=experiment.job_scope,
            total=len(todo),
            created_by=created_by,
        )
        job_start(job_id=job.pk, message=f"{len(todo)} stimuli to prepare")
        for stimulus_id in todo:
            enqueue(
                prepare_stimulus_task, stimulus_id=stimulus_id, job_id=job.pk, deliver=deliver_all
            )
    return job


def stimulus_prepare(
    *, stimulus_id: int, job_id: int | None = None, deliver: bool = False
) -> Stimulus:
    """Prepare one stimulus (the audio task). Does nothing unless it is pending, so a task
    delivered twice does the work once."""
    from modeling.features import FEATURE_VERSION, extract_features

    stimulus = Stimulus.objects.select_related("track", "experiment").get(pk=stimulus_id)
    if stimulus.status != Stimulus.Status.PENDING:
        return stimulus
    cfg = stimulus.experiment.config
    config = StimulusConfig(
        excerpt_seconds=cfg.excerpt_seconds,
        target_lufs=cfg.target_lufs,
        max_true_peak_db=cfg.max_true_peak_db,
        bitrate=f"{cfg.delivery_bitrate_kbps}k",
    )
    track = stimulus.track
    error = ""
    with tempfile.TemporaryDirectory(prefix="stimulus-") as tmp:
        try:
            with local_copy(track.source_kind, track.source) as path:
                result = prepare_stimulus(
                    path, Path(tmp), name=stimulus.media_key, config=config, deliver=deliver
                )
            features = extract_features(result.audio, result.sample_rate)
        except (AudioError, SourceError, OSError) as exc:
            error = str(exc) or exc.__class__.__name__
        else:
            folder = f"stimuli/{stimulus.experiment_id}"
            master_name = store_file(result.master_path, f"{folder}/{result.master_path.name}")
            delivery_name = (
                store_file(result.delivery_path, f"{folder}/{result.delivery_path.name}")
                if result.delivery_path
                else ""
            )
    with transaction.atomic():
        stimulus = Stimulus.objects.select_for_update().get(pk=stimulus_id)
        if stimulus.status != Stimulus.Status.PENDING:
            return stimulus
        if error:
            stimulus.status, stimulus.error = Stimulus.Status.FAILED, error
        else:
            stimulus.status, stimulus.error = Stimulus.Status.READY, ""
            stimulus.master.name, stimulus.delivery.name = master_name, delivery_name
            stimulus.start_s, stimulus.duration_s = result.start_s, result.end_s - result.start_s
            stimulus.sample_rate, stimulus.channels = result.sample_rate, result.channels
            stimulus.mono_source, stimulus.downmixed = result.mono_source, result.downmixed
            stimulus.lufs_before, stimulus.lufs_after = result.lufs_before, result.lufs_after
            stimulus.gain_db, stimulus.true_peak_db = result.gain_db, result.true_peak_db
            stimulus.gain_limited = result.gain_limited
            if delivery_name:
                stimulus.codec, stimulus.encoder = result.codec, result.encoder
                stimulus.bitrate_kbps = int(result.bitrate.rstrip("k"))
            stimulus.warnings = list(result.warnings)
            stimulus.features = [float(v) for v in np.asarray(features, dtype=float)]
            stimulus.features_version = FEATURE_VERSION
            stimulus.prepared_at = timezone.now()
        stimulus.save()
    if job_id is not None:
        job_advance(
            job_id=job_id,
            done=0 if error else 1,
            failed=1 if error else 0,
            message=f"{track}: {error}" if error else f"prepared {track}",
        )
    return stimulus


def deliveries_encode(*, experiment: Experiment, created_by: Any = None) -> Job | None:
    """Queue the AAC encode of every rated stimulus that has no delivery file yet."""
    from ..tasks import deliver_stimulus_task

    with transaction.atomic():
        todo = list(
            experiment.stimuli.filter(
                status=Stimulus.Status.READY, role=Stimulus.Role.RATED, delivery=""
            ).values_list("pk", flat=True)
        )
        if not todo:
            return None
        job = job_create(
            kind="encode_deliveries",
            scope=experiment.job_scope,
            total=len(todo),
            created_by=created_by,
        )
        job_start(job_id=job.pk, message=f"{len(todo)} stimuli to encode for delivery")
        for stimulus_id in todo:
            enqueue(deliver_stimulus_task, stimulus_id=stimulus_id, job_id=job.pk)
    return job


def stimulus_deliver(*, stimulus_id: int, job_id: int | None = None) -> Stimulus:
    """Encode one stimulus's delivery file from its master (the audio task); does nothing
    when the file exists, so a task delivered twice encodes once."""
    from modeling.audio.stimulus import deliver_stimulus

    stimulus = Stimulus.objects.select_related("experiment").get(pk=stimulus_id)
    if stimulus.delivery or stimulus.status != Stimulus.Status.READY:
        return stimulus
    bitrate = f"{stimulus.experiment.config.delivery_bitrate_kbps}k"
    error = ""
    with tempfile.TemporaryDirectory(prefix="delivery-") as tmp:
        try:
            with local_copy("upload", stimulus.master.name or "") as master:
                encoded = deliver_stimulus(
                    master, Path(tmp), name=stimulus.media_key, bitrate=bitrate
                )
        except (AudioError, OSError) as exc:
            error = str(exc) or exc.__class__.__name__
        else:
            name = store_file(encoded.path, f"stimuli/{stimulus.experiment_id}/{encoded.path.name}")
    with transaction.atomic():
        stimulus = Stimulus.objects.select_for_update().get(pk=stimulus_id)
        if not stimulus.delivery and not error:
            stimulus.delivery.name = name
            stimulus.codec, stimulus.encoder = encoded.codec_name, encoded.encoder
            stimulus.bitrate_kbps = int(encoded.bitrate.rstrip("k"))
            stimulus.warnings = [*stimulus.warnings, *encoded.warnings]
            stimulus.save(
                update_fields=["delivery", "codec", "encoder", "bitrate_kbps", "warnings"]
            )
        elif error:
            stimulus.warnings = [*stimulus.warnings, f"{ENCODE_FAILED} {error}"]
            stimulus.save(update_fields=["warnings"])
    if job_id is not None:
        job_advance(
            job_id=job_id,
            done=0 if error else 1,
            failed=1 if error else 0,
            message=error[:200] if error else "",
        )
    return stimulus


def store_file(path: Path, name: str) -> str:
    """Save a finished file under `name` in media storage, replacing an earlier
    attempt's copy."""
    if default_storage.exists(name):
        default_storage.delete(name)
    with path.open("rb") as handle:
        return default_storage.save(name, File(handle))


def stimulus_fail(*, stimulus_id: int, job_id: int | None, error: str) -> None:
    updated = Stimulus.objects.filter(pk=stimulus_id, status=Stimulus.Status.PENDING).update(
        status=Stimulus.Status.FAILED, error=error[:2000]
    )
    if updated and job_id is not None:
        job_advance(job_id=job_id, failed=1, message=error[:200])
