"""The log-mel front end of the paper's baselines (NISQA and ConvMaxPool, §4.2 and §5):
a magnitude mel spectrogram with 48 bands, a 20 ms Hann window zero-padded to a
4096-point FFT, a 10 ms hop and bands up to 20 kHz, in dB (amplitude, reference 1.0,
floor 1e-4, at most 80 dB below the clip's peak), then cut into NISQA's overlapping
segments of 15 frames every 4 frames, each segment one input of the framewise CNN.

These are NISQA's own settings (Mittag et al., Interspeech 2021; the `ms_*` options of
its training configuration). One choice is ours: audio is resampled to 48 kHz first
(NISQA's mel function default), where NISQA's training keeps each file's own rate, so
that every clip of an archive, whatever its rate, gets the same filterbank; bands above
a lower-rate file's Nyquist frequency then sit at the floor.

Pure functions on arrays; the file-level front end is `modeling.baselines.store`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class MelSettings:
    sample_rate: int = 48000
    n_mels: int = 48
    win_seconds: float = 0.02
    hop_seconds: float = 0.01
    n_fft: int = 4096
    fmax: float = 20000.0
    top_db: float = 80.0
    #: dB floor: 20 log10(amin) = -80 dB for silence.
    amin: float = 1e-4
    seg_length: int = 15
    seg_hop: int = 4

    def __post_init__(self) -> None:
        if self.seg_length < 1 or self.seg_length % 2 == 0:
            raise ValueError(f"seg_length must be odd and >= 1, not {self.seg_length}")
        if self.seg_hop < 1 or self.n_mels < 1:
            raise ValueError("seg_hop and n_mels must be >= 1")
        if self.fmax > self.sample_rate / 2:
            raise ValueError(
                f"fmax {self.fmax:g} Hz is above the Nyquist frequency of {self.sample_rate} Hz"
            )
        if round(self.win_seconds * self.sample_rate) > self.n_fft:
            raise ValueError("the window is longer than n_fft")

    @property
    def hop_length(self) -> int:
        return int(self.sample_rate * self.hop_seconds)

    @property
    def win_length(self) -> int:
        return int(self.sample_rate * self.win_seconds)

    @property
    def min_samples(self) -> int:
        """Shortest audio that gives one segment: `seg_length` frames (centred frames:
        1 + samples // hop)."""
        return (self.seg_length - 1) * self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> MelSettings:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data or {}) - names)
        if unknown:
            raise ValueError(f"unknown mel settings: {', '.join(unknown)}")
        return cls(**(data or {}))


def log_mel(
    audio: NDArray[np.floating[Any]], sample_rate: int, settings: MelSettings | None = None
) -> NDArray[np.float32]:
    """The log-mel spectrogram (n_mels, frames) of mono `audio` at `settings.sample_rate`:
    frames are centred (reflect padding), so there are 1 + len(audio) // hop of them."""
    import librosa

    s = settings or MelSettings()
    if sample_rate != s.sample_rate:
        raise ValueError(f"audio at {sample_rate} Hz; resample it to {s.sample_rate} Hz first")
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError("log_mel takes non-empty mono audio (one dimension)")
    if not np.all(np.isfinite(y)):
        raise ValueError("audio contains NaN or infinite samples")
    magnitude = librosa.feature.melspectrogram(
        y=y,
        sr=s.sample_rate,
        n_fft=s.n_fft,
        hop_length=s.hop_length,
        win_length=s.win_length,
        window="hann",
        center=True,
        pad_mode="reflect",
        power=1.0,
        n_mels=s.n_mels,
        fmin=0.0,
        fmax=s.fmax,
        htk=False,
        norm="slaney",
    )
    db = librosa.amplitude_to_db(magnitude, ref=1.0, amin=s.amin, top_db=s.top_db)
    return np.ascontiguousarray(db, dtype=np.float32)


def segment_count(frames: int, seg_length: int = 15, seg_hop: int = 4) -> int:
    """ceil((frames - seg_length + 1) / seg_hop), 0 when too short for one segment."""
    windows = frames - (seg_length - 1)
    return max(0, math.ceil(windows / seg_hop))


def mel_segments(
    spectrogram: NDArray[np.float32], seg_length: int = 15, seg_hop: int = 4
) -> NDArray[np.float32]:
    """NISQA's segments of a (n_mels, frames) spectrogram: (n_segments, n_mels,
    seg_length), segment i holding frames [i * seg_hop, i * seg_hop + seg_length).
    A read-only view: no copy of the spectrogram is made."""
    if spectrogram.ndim != 2:
        raise ValueError("a spectrogram is (n_mels, frames)")
    frames = spectrogram.shape[1]
    if frames < seg_length:
        raise ValueError(f"{frames} frames are fewer than one segment of {seg_length}")
    windows = np.lib.stride_tricks.sliding_window_view(spectrogram, seg_length, axis=1)
    return windows.transpose(1, 0, 2)[::seg_hop]
