"""The excerpt a listener hears: `excerpt_seconds` centred on the track's midpoint.

As in the paper (Ragano et al., ICASSP 2023, §2): 10 s from the middle of each track, 5 s
before the midpoint and 5 s after. Only that range is read: soundfile seeks in formats it
knows, ffmpeg seeks its input for the rest, so a long track costs no more than a short one.

The source sample rate is kept. Mono comes back as mono (the stimulus stage decides what to
do with it); more than two channels are downmixed to stereo with the ITU-R BS.775 matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from modeling.audio import AudioError
from modeling.audio.decode import decode_range
from modeling.audio.probe import AudioInfo, probe_audio

DEFAULT_EXCERPT_SECONDS = 10.0
HIGH_SAMPLE_RATE = 48_000
# ffmpeg's seek lands on the exact sample, but a compressed stream may end a frame early
# (its length in the header is rounded to codec frames): pad up to that much with silence.
FFMPEG_SHORTFALL_FRAMES = 2048

_MINUS_3_DB = 10 ** (-3 / 20)  # 0.7071: BS.775's gain for centre and surround channels
_HALF = 0.5  # a single back-centre channel feeds both sides, each at -6 dB
# ITU-R BS.775-3 Table 2 downmix to 2/0, rows (Lo, Ro), columns in ffmpeg's and WAVE's default
# channel order for that count: L R C LFE Ls Rs (...). LFE is dropped, as BS.775 says.
_DOWNMIX: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # 3.0: L R C
    3: ((1, 0, _MINUS_3_DB), (0, 1, _MINUS_3_DB)),
    # quad: L R Ls Rs
    4: ((1, 0, _MINUS_3_DB, 0), (0, 1, 0, _MINUS_3_DB)),
    # 5.0: L R C Ls Rs
    5: ((1, 0, _MINUS_3_DB, _MINUS_3_DB, 0), (0, 1, _MINUS_3_DB, 0, _MINUS_3_DB)),
    # 5.1: L R C LFE Ls Rs
    6: ((1, 0, _MINUS_3_DB, 0, _MINUS_3_DB, 0), (0, 1, _MINUS_3_DB, 0, 0, _MINUS_3_DB)),
    # 6.1: L R C LFE Cs Ls Rs
    7: (
        (1, 0, _MINUS_3_DB, 0, _HALF, _MINUS_3_DB, 0),
        (0, 1, _MINUS_3_DB, 0, _HALF, 0, _MINUS_3_DB),
    ),
    # 7.1: L R C LFE Lb Rb Ls Rs
    8: (
        (1, 0, _MINUS_3_DB, 0, _MINUS_3_DB, 0, _MINUS_3_DB, 0),
        (0, 1, _MINUS_3_DB, 0, 0, _MINUS_3_DB, 0, _MINUS_3_DB),
    ),
}


@dataclass
class Excerpt:
    """The middle of a track, as float32 (frames, channels) at the source rate."""

    audio: np.ndarray = field(repr=False)
    sample_rate: int
    start_s: float
    end_s: float
    source_duration_s: float
    source_channels: int
    downmixed: bool
    notes: list[str] = field(default_factory=list)

    @property
    def channels(self) -> int:
        return int(self.audio.shape[1])

    @property
    def mono_source(self) -> bool:
        return self.source_channels == 1


def excerpt_bounds(frames: int, excerpt_frames: int) -> tuple[int, int]:
    """First and one-past-last frame of the excerpt centred on the midpoint `frames / 2`."""
    start = (frames - excerpt_frames) // 2
    return start, start + excerpt_frames


def downmix_to_stereo(audio: np.ndarray) -> np.ndarray:
    """ITU-R BS.775-3 downmix of a 3- to 8-channel (frames, channels) array to stereo:
    Lo = L + 0.707 C + 0.707 Ls, Ro = R + 0.707 C + 0.707 Rs, LFE dropped. Not rescaled:
    the sum may exceed full scale, which loudness normalisation then takes care of."""
    channels = audio.shape[1]
    if channels not in _DOWNMIX:
        raise AudioError(
            f"{channels}-channel audio has no known stereo downmix; export it as stereo"
        )
    matrix = np.asarray(_DOWNMIX[channels], dtype=np.float32)
    return np.ascontiguousarray(audio @ matrix.T, dtype=np.float32)


def read_excerpt(
    path: Path,
    *,
    excerpt_seconds: float = DEFAULT_EXCERPT_SECONDS,
    info: AudioInfo | None = None,
) -> Excerpt:
    """Read the `excerpt_seconds` around the midpoint of `path` (probed first unless `info`
    is given). Raises `AudioError` when the track is shorter than the excerpt."""
    if excerpt_seconds <= 0:
        raise ValueError(f"excerpt_seconds must be positive, not {excerpt_seconds}")
    path = Path(path)
    info = info or probe_audio(path)
    if info.duration_s + 1e-9 < excerpt_seconds:
        raise AudioError(
            f"{path.name}: track is {info.duration_s:.1f} s long; "
            f"the excerpt needs {excerpt_seconds:.1f} s"
        )
    rate = info.sample_rate
    excerpt_frames = round(excerpt_seconds * rate)
    if info.reader == "soundfile":
        start, _ = excerpt_bounds(info.frames, excerpt_frames)
        audio = _read_soundfile(path, start, excerpt_frames)
        start_s = start / rate
    else:
        start_s = (info.duration_s - excerpt_seconds) / 2
        audio = decode_range(
            path, start_s=start_s, duration_s=excerpt_seconds, channels=info.channels
        )
        audio = _fit_length(path, audio, excerpt_frames)
    notes: list[str] = []
    if rate > HIGH_SAMPLE_RATE:
        notes.append(f"source sample rate {rate} Hz kept (above {HIGH_SAMPLE_RATE} Hz)")
    downmixed = info.channels > 2
    if downmixed:
        audio = downmix_to_stereo(audio)
        notes.append(f"{info.channels}-channel source downmixed to stereo (ITU-R BS.775)")
    return Excerpt(
        audio=audio,
        sample_rate=rate,
        start_s=start_s,
        end_s=start_s + excerpt_frames / rate,
        source_duration_s=info.duration_s,
        source_channels=info.channels,
        downmixed=downmixed,
        notes=notes,
    )


def _read_soundfile(path: Path, start: int, frames: int) -> np.ndarray:
    try:
        with sf.SoundFile(path) as handle:
            handle.seek(start)
            audio = handle.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{path.name}: the file is corrupt ({error})") from error
    if len(audio) < frames:
        raise AudioError(f"{path.name}: the file is truncated (the excerpt runs past its end)")
    return np.ascontiguousarray(audio)


def _fit_length(path: Path, audio: np.ndarray, frames: int) -> np.ndarray:
    shortfall = frames - len(audio)
    if shortfall > FFMPEG_SHORTFALL_FRAMES:
        raise AudioError(
            f"{path.name}: the file is truncated or corrupt: only {len(audio)} of the "
            f"{frames} excerpt samples could be decoded"
        )
    if shortfall > 0:
        audio = np.pad(audio, ((0, shortfall), (0, 0)))
    return np.ascontiguousarray(audio[:frames])
