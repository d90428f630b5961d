"""From a track to a stimulus: middle excerpt, loudness-normalised master, AAC delivery.

The pipeline of the paper (Ragano et al., ICASSP 2023, §2): 10 s from the middle of each
track, loudness-normalised to EBU R 128 (ITU-R BS.1770-4), delivered as AAC at 320 kbps.
Two files come out, both named by the caller's opaque `name` (never the track title, which
would tell raters what they are hearing):

- the master, `<name>.flac`: the normalised excerpt, lossless 24-bit, source sample rate,
  stereo; features, models and any re-encode start from it;
- the delivery, `<name>.m4a`: the master encoded for streaming to raters.

A mono source is played to both ears (duplicated before loudness is measured, so the level
is that of what the listener hears) and flagged `mono_source`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from modeling.audio import AudioError
from modeling.audio.encode import Encoded, encode_delivery
from modeling.audio.excerpt import read_excerpt
from modeling.audio.loudness import normalise
from modeling.audio.probe import probe_audio

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


@dataclass(frozen=True)
class StimulusConfig:
    """Experiment settings for stimulus preparation; the defaults are the paper's."""

    excerpt_seconds: float = 10.0
    target_lufs: float = -23.0
    max_true_peak_db: float = -1.0
    bitrate: str = "320k"
    master_format: str = "flac"
    master_subtype: str = "PCM_24"


@dataclass
class StimulusResult:
    """Everything a stimulus export needs to say about how the stimulus was made."""

    name: str
    source_path: Path
    source_duration_s: float
    source_sample_rate: int
    source_codec: str
    start_s: float
    end_s: float
    sample_rate: int
    channels: int
    source_channels: int
    mono_source: bool
    downmixed: bool
    lufs_before: float
    lufs_after: float
    gain_db: float
    true_peak_db: float
    gain_limited: bool
    codec: str
    encoder: str
    encoder_options: str
    profile: str
    bitrate: str
    measured_kbps: float
    master_path: Path
    delivery_path: Path | None
    config: StimulusConfig
    warnings: list[str] = field(default_factory=list)
    # the normalised excerpt (frames, 2) float32, so features need not re-read the master
    audio: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32), repr=False)

    def to_record(self) -> dict[str, object]:
        """The result as JSON-ready values (paths as strings, config flattened with a
        `config_` prefix), without the audio."""
        record: dict[str, object] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "audio":
                continue
            if item.name == "config":
                record.update({f"config_{k}": v for k, v in dataclasses.asdict(value).items()})
            elif isinstance(value, Path):
                record[item.name] = str(value)
            elif isinstance(value, list):
                record[item.name] = list(value)
            else:
                record[item.name] = value
        return record


def prepare_stimulus(
    source: Path,
    out_dir: Path,
    *,
    name: str,
    config: StimulusConfig | None = None,
    deliver: bool = True,
) -> StimulusResult:
    """Make the master and delivery files of one stimulus from `source` into `out_dir`.

    With `deliver=False` only the master is written (the codec fields stay empty and
    `delivery_path` is None): the AAC encode is most of the cost, and a corpus needs it only
    for the stimuli raters will hear, which are known after clustering; `deliver_stimulus`
    encodes one later from its master.

    Raises `AudioError` (unreadable, too short, silent source; encoder failure) with a message
    for the user; files are written under temporary names and renamed at the end, so a failed
    or interrupted preparation leaves no half-written stimulus behind. `ValueError` for a
    `name` that is not a plain file name or would overwrite the source."""
    config = config or StimulusConfig()
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"stimulus name {name!r} must be letters, digits, '-' or '_'")
    source, out_dir = Path(source), Path(out_dir)
    master_path = out_dir / f"{name}.{config.master_format}"
    delivery_path = out_dir / f"{name}.m4a"
    if source.resolve() in {master_path.resolve(), delivery_path.resolve()}:
        raise ValueError(f"stimulus {name!r} in {out_dir} would overwrite its source track")
    info = probe_audio(source)
    excerpt = read_excerpt(source, excerpt_seconds=config.excerpt_seconds, info=info)
    warnings = list(excerpt.notes)
    audio = excerpt.audio
    if excerpt.mono_source:
        audio = np.repeat(audio, 2, axis=1)
        warnings.append("mono source played to both ears")
    normalised = normalise(
        audio,
        excerpt.sample_rate,
        target_lufs=config.target_lufs,
        max_true_peak_db=config.max_true_peak_db,
    )
    if normalised.gain_limited:
        warnings.append(
            f"gain limited by the {config.max_true_peak_db:.1f} dBTP ceiling: "
            f"{normalised.lufs_after:.1f} LUFS instead of {config.target_lufs:.1f}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    partial_master = out_dir / f".{name}.{config.master_format}.part"
    partial_delivery = out_dir / f".{name}.m4a.part"
    try:
        sf.write(
            partial_master,
            normalised.audio,
            excerpt.sample_rate,
            format=config.master_format.upper(),
            subtype=config.master_subtype,
        )
        encoded = (
            encode_delivery(
                normalised.audio, excerpt.sample_rate, partial_delivery, bitrate=config.bitrate
            )
            if deliver
            else None
        )
        os.replace(partial_master, master_path)
        if encoded is not None:
            os.replace(partial_delivery, delivery_path)
    finally:
        partial_master.unlink(missing_ok=True)
        partial_delivery.unlink(missing_ok=True)
    return StimulusResult(
        name=name,
        source_path=source,
        source_duration_s=info.duration_s,
        source_sample_rate=info.sample_rate,
        source_codec=info.codec,
        start_s=excerpt.start_s,
        end_s=excerpt.end_s,
        sample_rate=excerpt.sample_rate,
        channels=int(normalised.audio.shape[1]),
        source_channels=excerpt.source_channels,
        mono_source=excerpt.mono_source,
        downmixed=excerpt.downmixed,
        lufs_before=normalised.lufs_before,
        lufs_after=normalised.lufs_after,
        gain_db=normalised.gain_db,
        true_peak_db=normalised.true_peak_db,
        gain_limited=normalised.gain_limited,
        codec=encoded.codec_name if encoded else "",
        encoder=encoded.encoder if encoded else "",
        encoder_options=encoded.encoder_options if encoded else "",
        profile=encoded.profile if encoded else "",
        bitrate=encoded.bitrate if encoded else "",
        measured_kbps=encoded.measured_kbps if encoded else 0.0,
        master_path=master_path,
        delivery_path=delivery_path if encoded else None,
        config=config,
        warnings=warnings + (encoded.warnings if encoded else []),
        audio=normalised.audio,
    )


def deliver_stimulus(master: Path, out_dir: Path, *, name: str, bitrate: str = "320k") -> Encoded:
    """Encode a stimulus's delivery file `<name>.m4a` from its lossless master (written
    under a temporary name and renamed, like `prepare_stimulus`'s files)."""
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"stimulus name {name!r} must be letters, digits, '-' or '_'")
    try:
        audio, sample_rate = sf.read(master, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{Path(master).name}: can't read the master ({exc})") from exc
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{name}.m4a"
    partial = out_dir / f".{name}.m4a.part"
    try:
        encoded = encode_delivery(audio, int(sample_rate), partial, bitrate=bitrate)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return dataclasses.replace(encoded, path=final)
