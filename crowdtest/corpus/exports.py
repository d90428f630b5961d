"""The corpus's files in an experiment export: tracks.csv and stimuli.csv."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from crowdtest.exports import export_file

from .models import Experiment, Track

TRACK_COLUMNS = (
    "track_id",
    "file",
    "source",
    "checksum",
    "title",
    "artist",
    "year",
    "label",
    "carrier",
    "duration_s",
    "sample_rate",
    "channels",
    "format",
    "error",
)
STIMULUS_COLUMNS = (
    "track_id",
    "file",
    "duration_s",
    "status",
    "start_s",
    "excerpt_s",
    "sample_rate",
    "channels",
    "mono_source",
    "downmixed",
    "lufs_before",
    "lufs_after",
    "gain_db",
    "true_peak_dbtp",
    "gain_limited",
    "codec",
    "encoder",
    "bitrate_kbps",
    "features_version",
    "cluster",
    "selected",
    "role",
    "warnings",
    "error",
)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@export_file("tracks.csv", "Every imported track with its metadata, checksum and import error")
def tracks_csv(experiment: Experiment) -> tuple[Sequence[str], Iterator[Sequence[Any]]]:
    rows = (
        (
            t.pk,
            t.original_name,
            t.source,
            t.checksum,
            t.title,
            t.artist,
            t.year,
            t.label,
            t.carrier,
            _round(t.duration_s),
            t.sample_rate,
            t.channels,
            t.audio_format,
            t.error,
        )
        for t in experiment.tracks.order_by("pk").iterator()
    )
    return TRACK_COLUMNS, rows


@export_file("stimuli.csv", "One row per track: how its stimulus was made, cluster, errors")
def stimuli_csv(experiment: Experiment) -> tuple[Sequence[str], Iterator[Sequence[Any]]]:
    tracks = Track.objects.filter(experiment=experiment).select_related("stimulus").order_by("pk")

    def row(t: Track) -> Sequence[Any]:
        s = getattr(t, "stimulus", None)
        if s is None:
            return (
                t.pk,
                t.original_name,
                _round(t.duration_s),
                "not prepared",
                *[None] * 19,
                t.error,
            )
        return (
            t.pk,
            t.original_name,
            _round(t.duration_s),
            s.status,
            _round(s.start_s),
            _round(s.duration_s),
            s.sample_rate,
            s.channels,
            s.mono_source,
            s.downmixed,
            _round(s.lufs_before, 2),
            _round(s.lufs_after, 2),
            _round(s.gain_db, 2),
            _round(s.true_peak_db, 2),
            s.gain_limited,
            s.codec,
            s.encoder,
            s.bitrate_kbps,
            s.features_version,
            s.cluster,
            s.selected,
            s.role,
            "; ".join(s.warnings),
            t.error or s.error,
        )

    return STIMULUS_COLUMNS, (row(t) for t in tracks.iterator(chunk_size=500))
