"""Importing tracks from a folder, a manifest, an S3 prefix or uploads: a file that
can't be used becomes a track with its error, and the batch goes on."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile

from modeling.audio import AudioError
from modeling.audio.probe import checksum, probe_audio

from ..errors import CorpusError
from ..models import Experiment, Stimulus, Track
from ..sources import (
    Candidate,
    SourceError,
    folder_candidates,
    local_copy,
    manifest_candidates,
    s3_candidates,
)

Progress = Callable[[int, int, str], None]


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


def tracks_upload(*, experiment: Experiment, files: Iterable[UploadedFile[bytes]]) -> ImportReport:
    """Store uploaded files under opaque names, then import them like any other source. An
    upload that is not usable audio is refused, not kept as an unusable track: its errors
    name the file as the user uploaded it, never by its stored name."""
    from ..models import new_media_key

    candidates = []
    for upload in files:
        suffix = Path(upload.name or "").suffix.lower()[:8]
        stored = default_storage.save(f"tracks/{experiment.pk}/{new_media_key()}{suffix}", upload)
        candidates.append(Candidate("upload", stored, upload.name or stored))
    report = _import_candidates(experiment=experiment, candidates=candidates, progress=None)
    refused = [track for track in report.created if track.error]
    for track in refused:
        track.delete()
    report.created = [track for track in report.created if not track.error]
    stored_as = {c.name: c.source for c in candidates}
    report.errors = [
        (name, _named_as_uploaded(error, stored_as.get(name, ""), name))
        for name, error in report.errors
    ]
    kept = {t.source for t in report.created}
    for candidate in candidates:  # duplicates: the stored copy is not needed
        if candidate.source not in kept:
            default_storage.delete(candidate.source)
    return report


def _named_as_uploaded(error: str, stored: str, name: str) -> str:
    """An error about a stored upload, naming it as it was uploaded."""
    if not stored:
        return error
    for form in (default_storage.path(stored) if _is_local() else "", stored, Path(stored).name):
        if form:
            error = error.replace(form, name)
    return error


def _is_local() -> bool:
    try:
        default_storage.path("x")
    except NotImplementedError:
        return False
    return True


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
        work_id=meta.get("work_id", "")[:200],
        reference=meta.get("reference", "")[:500],
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


@dataclass(frozen=True)
class Placeholder:
    """A track known only by name (a label imported without its audio), and what the
    label's file says of its stimulus."""

    filename: str
    title: str
    cluster: int | None = None
    codec: str = ""
    bitrate_kbps: int | None = None


def placeholders_create(
    *, experiment: Experiment, placeholders: list[Placeholder], reason: str
) -> list[Stimulus]:
    """A track and a failed stimulus with no audio for each placeholder, `reason` as their
    error, so labels can be attached to them; the stimuli in the order given."""
    tracks = Track.objects.bulk_create(
        [
            Track(
                experiment=experiment,
                source_kind=Track.SourceKind.PATH,
                source=p.filename,
                original_name=p.filename,
                checksum=hashlib.sha256(f"vinylset-label:{p.filename}".encode()).hexdigest(),
                title=p.title,
                error=reason,
            )
            for p in placeholders
        ]
    )
    return Stimulus.objects.bulk_create(
        [
            Stimulus(
                experiment=experiment,
                track=track,
                status=Stimulus.Status.FAILED,
                error=reason,
                cluster=p.cluster,
                codec=p.codec,
                bitrate_kbps=p.bitrate_kbps,
            )
            for track, p in zip(tracks, placeholders, strict=True)
        ]
    )
