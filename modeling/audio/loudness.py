"""Loudness normalisation of an excerpt, the way EBU R 128 asks for it.

Integrated loudness is ITU-R BS.1770-4 (K-weighting, 400 ms blocks with 75 % overlap,
absolute gate at -70 LUFS, relative gate at -10 LU), measured with pyloudnorm. Peaks are
measured as true peak (BS.1770-4 Annex 2), because the delivery codec and the listener's DAC
reconstruct the waveform between samples, where a sample-peak meter sees nothing.

Normalising is a single gain: no limiter, no compressor, nothing that changes the sound the
raters judge. When reaching the target would push the true peak over the ceiling, the gain
is lowered to respect the ceiling and the stimulus is flagged `gain_limited` (it then plays
quieter than the target, which the experimenter can see in the export).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyloudnorm
from scipy.signal import resample_poly

from modeling.audio import AudioError

DEFAULT_TARGET_LUFS = -23.0  # EBU R 128 programme loudness
DEFAULT_MAX_TRUE_PEAK_DB = -1.0  # EBU R 128 maximum true peak level, dBTP
SILENCE_GATE_LUFS = -70.0  # BS.1770-4 absolute gate: below it nothing is measured
# float32 rounding of the scaled samples must not tip a limited gain over the ceiling
CEILING_MARGIN_DB = 0.001
TRUE_PEAK_RATE = 192_000  # Annex 2: 4x oversampling of 48 kHz; lower factors at higher rates


@dataclass
class Normalised:
    """A normalised excerpt and what was done to it."""

    audio: np.ndarray = field(repr=False)
    lufs_before: float
    lufs_after: float
    gain_db: float
    true_peak_db: float
    gain_limited: bool


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Gated integrated loudness in LUFS (ITU-R BS.1770-4, eq. 1-7), `-inf` for silence.

    `audio` is (frames,) or (frames, channels) with at most 5 channels in the order
    L, R, C, Ls, Rs (the surround channels get BS.1770's +1.5 dB weight)."""
    data = np.asarray(audio, dtype=np.float64)
    if data.shape[0] < round(0.4 * sample_rate):
        raise AudioError("excerpt is shorter than one 400 ms loudness block")
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(data))


def true_peak_db(audio: np.ndarray, sample_rate: int) -> float:
    """Maximum true-peak level in dBTP (ITU-R BS.1770-4 Annex 2).

    Annex 2 oversamples 48 kHz audio four times and takes the absolute maximum; here the
    oversampling factor is whatever brings the rate to at least 192 kHz (4x at 44.1/48 kHz,
    2x at 96 kHz), with scipy's polyphase Kaiser-windowed interpolator (21 taps per phase:
    longer, so more accurate, than the Annex's 12-tap example). Float input needs none of
    the Annex's 12.04 dB fixed-point headroom. Digital silence gives -inf."""
    # float32 is ample for a level (1e-6 dB) and halves the cost of the oversampling
    data = np.asarray(audio, dtype=np.float32)
    sample_peak = float(np.max(np.abs(data), initial=0.0))
    if sample_peak == 0.0:
        return float("-inf")
    factor = max(1, -(-TRUE_PEAK_RATE // sample_rate))  # ceil
    if factor > 1:
        oversampled = resample_poly(data, factor, 1, axis=0)
        sample_peak = max(sample_peak, float(np.max(np.abs(oversampled))))
    return float(20 * np.log10(sample_peak))


def normalise(
    audio: np.ndarray,
    sample_rate: int,
    target_lufs: float = DEFAULT_TARGET_LUFS,
    max_true_peak_db: float = DEFAULT_MAX_TRUE_PEAK_DB,
) -> Normalised:
    """Apply one gain bringing `audio` to `target_lufs` (EBU R 128 / BS.1770-4), lowered
    where needed so the true peak stays at or below `max_true_peak_db`. Returns float32.

    Raises `AudioError` for a silent excerpt, whose loudness BS.1770 cannot measure."""
    data = np.asarray(audio, dtype=np.float64)
    lufs_before = integrated_loudness(data, sample_rate)
    if not np.isfinite(lufs_before) or lufs_before < SILENCE_GATE_LUFS:
        level = "-inf" if not np.isfinite(lufs_before) else f"{lufs_before:.1f}"
        raise AudioError(
            f"excerpt is silent (loudness {level} LUFS, below the {SILENCE_GATE_LUFS:.0f} LUFS "
            "gate of ITU-R BS.1770-4); the middle of this track has no music to rate"
        )
    peak_before = true_peak_db(data, sample_rate)
    gain_db = target_lufs - lufs_before
    gain_limited = peak_before + gain_db > max_true_peak_db
    if gain_limited:
        gain_db = max_true_peak_db - peak_before
        gain_db -= CEILING_MARGIN_DB
    scaled = (data * 10 ** (gain_db / 20)).astype(np.float32)
    return Normalised(
        audio=scaled,
        lufs_before=lufs_before,
        lufs_after=integrated_loudness(scaled, sample_rate),
        gain_db=float(gain_db),
        # the oversampling filter is linear, so the true peak moves by exactly the gain
        true_peak_db=peak_before + gain_db,
        gain_limited=bool(gain_limited),
    )
