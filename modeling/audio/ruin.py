"""A gold clip known to be Bad (ACR 1), made from music of the collection.

The P.808 toolkit's gold clips are clips of known quality; a music archive seldom has a
clip known to be Excellent, but any excerpt can be ruined past doubt. Every damage is one
a listener names at once, applied far beyond what a transfer of a record shows: the band
cut to a telephone's (300-3,400 Hz), hard clipping of most of the waveform, steady noise
as loud as the music, and the sound cut out 8 times a second. The result is brought to the
stimuli's loudness, so neither level nor length sets it apart from a rated clip.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .loudness import normalise

BAND_HZ = (300.0, 3400.0)
CLIP_SHARE = 0.6  # samples beyond the clipping level
NOISE_SNR_DB = 0.0
GAP_HZ = 8.0
GAP_SHARE = 0.35  # of each period, silent


def ruined(
    audio: npt.ArrayLike,
    sample_rate: int,
    *,
    seed: int | Sequence[int],
    target_lufs: float,
    max_true_peak_db: float = -1.0,
) -> npt.NDArray[np.float32]:
    """`audio` (frames, or frames x channels) ruined as described above, same shape and
    length, as float32 at `target_lufs`. Seeded: the same input and seed give the same
    clip."""
    data = np.asarray(audio, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    frames = data.shape[0]
    if frames == 0:
        raise ValueError("no audio to ruin")
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(data, axis=0)
    freqs = np.fft.rfftfreq(frames, 1.0 / sample_rate)
    spectrum[(freqs < BAND_HZ[0]) | (freqs > BAND_HZ[1])] = 0.0
    band = np.fft.irfft(spectrum, n=frames, axis=0)
    level = np.quantile(np.abs(band), 1.0 - CLIP_SHARE)
    if level <= 0:
        level = 1e-3  # silent music: the noise below still ruins it
    clipped = np.clip(band, -level, level) / level
    power = float(np.mean(clipped**2)) or 1.0
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (NOISE_SNR_DB / 10)), clipped.shape)
    mixed = clipped + noise
    t = np.arange(frames) / sample_rate
    gate = ((t * GAP_HZ) % 1.0) >= GAP_SHARE
    mixed *= gate[:, None]
    out = normalise(mixed, sample_rate, target_lufs, max_true_peak_db).audio
    return out if np.asarray(audio).ndim > 1 else out[:, 0]
