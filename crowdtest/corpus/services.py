"""Writes to the corpus: experiments, track imports, stimulus preparation, clustering."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from crowdtest.jobs.dispatch import enqueue
from crowdtest.jobs.models import Job
from crowdtest.jobs.services import job_advance, job_create, job_start
from modeling.audio import AudioError
from modeling.audio.probe import checksum, probe_audio
from modeling.audio.stimulus import StimulusConfig, prepare_stimulus
from modeling.provenance import code_version

from .config import ExperimentSettings, SettingsError
from .models import Clustering, Experiment, Stimulus, Track
from .sources import (
    Candidate,
    SourceError,
    folder_candidates,
    local_copy,
    manifest_candidates,
    s3_candidates,
)

logger = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]


class CorpusError(Exception):
    """An action on the corpus that can't be done; the message says why."""


# --- Experiments ----------------------------------------------------------------------


def experiment_create(
    *,
    slug: str,
    name: str,
    description: str = "",
    settings: dict[str, Any] | None = None,
    created_by: Any = None,
) -> Experiment:
    from django.core.exceptions import ValidationError

    try:
        resolved = ExperimentSettings.from_dict(settings)
    except SettingsError as exc:
        raise CorpusError(f"Invalid settings: {exc}") from exc
    experiment = Experiment(
        slug=slug,
        name=name,
        description=description,
        settings=resolved.to_dict(),
        created_by=created_by,
    )
    try:
        experiment.full_clean()
    except ValidationError as exc:
        messages = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise CorpusError(messages) from exc
    try:
        with transaction.atomic():
            experiment.save()
    except IntegrityError as exc:
        raise CorpusError(f"An experiment with the slug '{slug}' already exists.") from exc
    return experiment


def experiment_update_settings(*, experiment: Experiment, changes: dict[str, Any]) -> Experiment:
    """Change settings; those that shaped existing stimuli or sessions are frozen."""
    current = experiment.config
    try:
        updated = current.replace(**changes)
    except SettingsError as exc:
        raise CorpusError(f"Invalid settings: {exc}") from exc
    stimulus_keys = {"excerpt_seconds", "target_lufs", "max_true_peak_db", "delivery_bitrate_kbps"}
    changed = {k for k in changes if getattr(current, k) != getattr(updated, k)}
    if changed & stimulus_keys and experiment.stimuli.filter(status=Stimulus.Status.READY).exists():
        raise CorpusError(
            "Stimuli have already been prepared with the current "
            f"{', '.join(sorted(changed & stimulus_keys))}; create a new experiment to change them."
        )
    experiment.settings = updated.to_dict()
    experiment.save(update_fields=["settings"])
    return experiment


# --- Import ---------------------------------------------------------------------------


@dataclass
class ImportReport:
    created: list[Track] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    skipped_non_audio: int = 0

    def summary(self) -> str:
        usable = sum(1 for t in self.created if not t.error)
        parts = [f"{usable} track(s) imported"]
        if self.errors:
            parts.append(f"{len(self.errors)} with errors")
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} already in the experiment")
        if self.skipped_non_audio:
            parts.append(f"{self.skipped_non_audio} non-audio file(s) skipped")
        return ", ".join(parts)


def tracks_import(
    *, experiment: Experiment, source: str, progress: Progress | None = None
) -> ImportReport:
    """Import from a folder, a CSV manifest or an s3://bucket/prefix. A file that can't be
    used becomes a track with its error; the batch goes on. Re-importing changes nothing."""
    skipped = 0
    try:
        if source.startswith("s3://"):
            candidates = s3_candidates(source)
        elif source.lower().endswith(".csv"):
            candidates = manifest_candidates(Path(source))
        else:
            candidates, skipped = folder_candidates(Path(source))
    except SourceError as exc:
        raise CorpusError(str(exc)) from exc
    report = _import_candidates(experiment=experiment, candidates=candidates, progress=progress)
    report.skipped_non_audio = skipped
    return report


def tracks_upload(*, experiment: Experiment, files: Iterable[UploadedFile]) -> ImportReport:
    """Store uploaded files under opaque names, then import them like any other source."""
    from .models import new_media_key

    candidates = []
    for upload in files:
        suffix = Path(upload.name or "").suffix.lower()[:8]
        stored = default_storage.save(f"tracks/{experiment.pk}/{new_media_key()}{suffix}", upload)
        candidates.append(Candidate("upload", stored, upload.name or stored))
    report = _import_candidates(experiment=experiment, candidates=candidates, progress=None)
    kept = {t.source for t in report.created}
    for candidate in candidates:  # duplicates: the stored copy is not needed
        if candidate.source not in kept:
            default_storage.delete(candidate.source)
    return report


def _import_candidates(
    *, experiment: Experiment, candidates: list[Candidate], progress: Progress | None
) -> ImportReport:
    report = ImportReport()
    known = set(experiment.tracks.values_list("checksum", flat=True))
    excerpt_s = experiment.config.excerpt_seconds
    for index, candidate in enumerate(candidates, start=1):
        if progress:
            progress(index, len(candidates), candidate.name)
        if candidate.error:
            report.errors.append((candidate.name, candidate.error))
            continue
        track = _track_from_candidate(experiment, candidate, excerpt_s)
        if track.checksum in known:
            report.duplicates.append(candidate.name)
            continue
        track.save()
        known.add(track.checksum)
        report.created.append(track)
        if track.error:
            report.errors.append((candidate.name, track.error))
    return report


def _track_from_candidate(experiment: Experiment, candidate: Candidate, excerpt_s: float) -> Track:
    meta = candidate.metadata
    year = meta.get("year", "")
    track = Track(
        experiment=experiment,
        source_kind=candidate.kind,
        source=candidate.source,
        original_name=candidate.name[:500],
        title=meta.get("title", "")[:500],
        artist=meta.get("artist", "")[:500],
        year=int(year) if year.isdigit() and 0 < int(year) < 10000 else None,
        label=meta.get("label", "")[:300],
        carrier=meta.get("carrier", "")[:100],
    )
    try:
        with local_copy(candidate.kind, candidate.source) as path:
            track.checksum = checksum(path)
            track.size_bytes = path.stat().st_size
            info = probe_audio(path)
    except (SourceError, OSError) as exc:
        track.checksum = track.checksum or f"unreadable:{candidate.kind}:{candidate.source}"[:64]
        track.error = str(exc)
        return track
    except AudioError as exc:
        track.error = str(exc)
        return track
    track.duration_s = info.duration_s
    track.sample_rate = info.sample_rate
    track.channels = info.channels
    track.audio_format = f"{info.container}/{info.codec}"[:50]
    if info.duration_s < excerpt_s:
        track.error = f"track is {info.duration_s:.1f} s long; the excerpt needs {excerpt_s:.1f} s"
    return track


# --- Stimulus preparation --------------------------------------------------------------


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
    from .tasks import prepare_stimulus_task

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
            master_name = _store(result.master_path, f"{folder}/{result.master_path.name}")
            delivery_name = (
                _store(result.delivery_path, f"{folder}/{result.delivery_path.name}")
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
    """Queue the AAC encode of every selected stimulus that has no delivery file yet."""
    from .tasks import deliver_stimulus_task

    with transaction.atomic():
        todo = list(
            experiment.stimuli.filter(
                status=Stimulus.Status.READY, selected=True, delivery=""
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
            name = _store(encoded.path, f"stimuli/{stimulus.experiment_id}/{encoded.path.name}")
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
            stimulus.warnings = [*stimulus.warnings, f"delivery encode failed: {error}"]
            stimulus.save(update_fields=["warnings"])
    if job_id is not None:
        job_advance(
            job_id=job_id,
            done=0 if error else 1,
            failed=1 if error else 0,
            message=error[:200] if error else "",
        )
    return stimulus


def _store(path: Path, name: str) -> str:
    """Save a finished file under `name`, replacing an earlier attempt's copy."""
    if default_storage.exists(name):
        default_storage.delete(name)
    with path.open("rb") as handle:
        return default_storage.save(name, File(handle))


# --- Clustering -----------------------------------------------------------------------


def stimuli_cluster(
    *,
    experiment: Experiment,
    algorithm: str | None = None,
    k: int | None = None,
    seed: int | None = None,
) -> Clustering:
    """Cluster the ready stimuli on their standardised features, equalise the clusters to
    the smallest (seeded), and mark which stimuli are kept. Refused once sessions exist."""
    from modeling.clustering import cluster_features, equalise_clusters, plot_clusters

    cfg = experiment.config
    algorithm = algorithm or cfg.clustering_algorithm
    k = k if k is not None else cfg.n_clusters
    seed = seed if seed is not None else cfg.seed
    if algorithm not in ("kmeans", "hdbscan"):
        raise CorpusError(f"Unknown clustering algorithm '{algorithm}' (kmeans or hdbscan).")
    if _design_exists(experiment):
        raise CorpusError(
            "Sessions are already built on the current clusters; clustering is frozen."
        )
    stimuli = list(
        experiment.stimuli.filter(status=Stimulus.Status.READY, features__isnull=False)
        .order_by("pk")
        .values_list("pk", "features", "features_version")
    )
    versions = {v for _, _, v in stimuli}
    if len(versions) > 1:
        raise CorpusError(f"Stimuli have features of several versions: {sorted(versions)}.")
    if len(stimuli) < max(k, 2) * 2:
        raise CorpusError(
            f"{len(stimuli)} prepared stimuli are too few to cluster into {k} clusters."
        )
    ids = np.array([pk for pk, _, _ in stimuli])
    matrix = np.array([feats for _, feats, _ in stimuli], dtype=float)
    try:
        result = cluster_features(
            matrix, algorithm="kmeans" if algorithm == "kmeans" else "hdbscan", k=k, seed=seed
        )
        selected = equalise_clusters(result.labels, seed=seed)
    except ValueError as exc:
        raise CorpusError(str(exc)) from exc
    with tempfile.TemporaryDirectory() as tmp:
        plot_path = Path(tmp) / "clusters.png"
        plot_clusters(result, selected, plot_path)
        with transaction.atomic():
            experiment.clusterings.update(is_current=False)
            clustering = Clustering.objects.create(
                experiment=experiment,
                algorithm=algorithm,
                k=k if algorithm == "kmeans" else None,
                seed=seed,
                features_version=versions.pop(),
                n_stimuli=len(ids),
                n_clusters=result.n_clusters,
                sizes=[int(result.sizes[label]) for label in sorted(result.sizes)],
                n_noise=int(result.n_noise),
                silhouette=_finite(result.silhouette),
                davies_bouldin=_finite(result.davies_bouldin),
                equalised_size=int(selected.sum() // max(result.n_clusters, 1)),
                code_version=code_version(),
            )
            clustering.plot.name = _store(
                plot_path, f"plots/{experiment.pk}/clusters-{clustering.pk}.png"
            )
            clustering.save(update_fields=["plot"])
            experiment.stimuli.update(cluster=None, selected=False)
            for label in np.unique(result.labels):
                members = ids[result.labels == label]
                experiment.stimuli.filter(pk__in=members.tolist()).update(cluster=int(label))
            experiment.stimuli.filter(pk__in=ids[selected].tolist()).update(
                selected=True, role=Stimulus.Role.RATED
            )
            experiment.stimuli.filter(selected=False).update(role=Stimulus.Role.UNUSED)
    return clustering


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _design_exists(experiment: Experiment) -> bool:
    """True once session design has used the current clusters (the design app)."""
    from django.apps import apps

    if not apps.is_installed("crowdtest.design"):
        return False
    return bool(apps.get_model("design", "Session").objects.filter(experiment=experiment).exists())


def stimulus_fail(*, stimulus_id: int, job_id: int | None, error: str) -> None:
    updated = Stimulus.objects.filter(pk=stimulus_id, status=Stimulus.Status.PENDING).update(
        status=Stimulus.Status.FAILED, error=error[:2000]
    )
    if updated and job_id is not None:
        job_advance(job_id=job_id, failed=1, message=error[:200])
