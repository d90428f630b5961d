"""The corpus's files in an experiment export: tracks.csv and stimuli.csv."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePath
from typing import Any

from crowdtest.exports import export_file

from .models import Experiment, Stimulus, Track

AUDIO_FOLDER = "audio"

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
    "master_file",
    "delivery_file",
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


@export_file(
    "stimuli.csv",
    "One row per track: how its stimulus was made, cluster, errors, and the names its audio "
    "is exported under (export_experiment --audio)",
)
def stimuli_csv(experiment: Experiment) -> tuple[Sequence[str], Iterator[Sequence[Any]]]:
    tracks = Track.objects.filter(experiment=experiment).select_related("stimulus").order_by("pk")
    stems = audio_stems(experiment)

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
                "",
                "",
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
            s.role == Stimulus.Role.RATED,
            s.role,
            "; ".join(s.warnings),
            t.error or s.error,
            *audio_names(stems[t.pk], s),
        )

    return STIMULUS_COLUMNS, (row(t) for t in tracks.iterator(chunk_size=500))


def _safe_stem(original_name: str) -> str:
    name = PurePath(original_name.replace("\\", "/")).stem
    return re.sub(r"[^\w.+-]+", "_", name).strip("._") or "track"


def audio_stems(experiment: Experiment) -> dict[int, str]:
    """Each track's file name stem for its exported audio: its own name, made safe, with
    its id added where two tracks of the experiment would share one."""
    safe = {
        pk: _safe_stem(name)
        for pk, name in Track.objects.filter(experiment=experiment).values_list(
            "pk", "original_name"
        )
    }
    counts = Counter(safe.values())
    return {pk: stem if counts[stem] == 1 else f"{stem}-{pk}" for pk, stem in safe.items()}


def audio_names(stem: str, stimulus: Stimulus) -> tuple[str, str]:
    """Where `export_experiment --audio` writes the stimulus's master and delivery file,
    relative to the export folder ("" for a file the stimulus does not have)."""
    master = str(stimulus.master.name or "")
    delivery = str(stimulus.delivery.name or "")
    return (
        f"{AUDIO_FOLDER}/masters/{stem}{PurePath(master).suffix}" if master else "",
        f"{AUDIO_FOLDER}/delivery/{stem}{PurePath(delivery).suffix}" if delivery else "",
    )


def stimuli_audio_export(experiment: Experiment, out_dir: Path) -> list[Path]:
    """Copy every stimulus's master and delivery file into `out_dir` under the names
    stimuli.csv gives them (the tracks' own names), so a labelled set can be published
    with its audio."""
    written = []
    stems = audio_stems(experiment)
    stimuli = Stimulus.objects.filter(experiment=experiment).order_by("pk")
    for stimulus in stimuli.iterator(chunk_size=200):
        names = audio_names(stems[stimulus.track_id], stimulus)
        for field, name in zip((stimulus.master, stimulus.delivery), names, strict=True):
            if not name:
                continue
            target = out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with field.open("rb") as source, target.open("wb") as copy:
                shutil.copyfileobj(source, copy, 1 << 20)
            written.append(target)
    return written
