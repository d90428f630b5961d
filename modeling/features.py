"""The 253 audio features per excerpt that stimulus clustering runs on.

The paper (Ragano et al., ICASSP 2023, §2) clusters on "253 audio features, obtained by
calculating both the actual values and the first-order difference", without listing them.
This is our definition, versioned as `FEATURE_VERSION`; change the version with the set.

The excerpt is downmixed to mono and resampled to 22,050 Hz, so tracks of any rate and
channel count are comparable; frames are 2,048 samples (93 ms) with a 512-sample hop.
63 frame-level descriptors, each summarised by four statistics:

- `<d>_mean`, `<d>_std`: mean and standard deviation of the values over frames;
- `d_<d>_absmean`, `d_<d>_std`: mean absolute value and standard deviation of the
  first-order difference between consecutive frames (the mean of the difference itself
  telescopes to (last - first) / n and says nothing, so its absolute value is used);

63 x 4 = 252, plus one excerpt-level value, `clip_fraction`, the share of samples within
0.1 dB of the excerpt's peak (flat tops of a clipped digitisation, which frame statistics
smear). The descriptors, chosen to see what vinyl does to music:

- MFCC 0-19 (timbre, spectral envelope);
- spectral contrast, 6 octave bands and the valley floor (noise between partials: hiss);
- chroma (12 pitch classes) and tonnetz (6; Harte et al. 2006), from the STFT; their
  differences catch wow, a drifting pitch;
- log energy in 8 bands, 0-125 Hz ... 8-11 kHz (rumble, band limitation, hiss);
- centroid, bandwidth, 85 % and 99 % roll-off (bandwidth), flatness (noisiness), slope,
  zero-crossing rate, RMS level, onset strength (spectral flux: clicks), frame crest factor.

Silent frames are floored (-100 dB, zero-norm chroma stays zero) so no value is NaN or inf.
"""

from __future__ import annotations

import functools
import itertools

import librosa
import numpy as np
import scipy.fft

FEATURE_VERSION = "ct-librosa-253-v1"
FEATURE_RATE = 22_050
N_FFT = 2048
HOP = 512
N_MFCC = 20
N_MELS = 64
CONTRAST_BANDS = 6
BAND_EDGES_HZ = (0, 125, 250, 500, 1000, 2000, 4000, 8000, 11025)
FLOOR_DB = -100.0
_EPS = 10 ** (FLOOR_DB / 10)

_PITCH_CLASSES = ("C", "Cs", "D", "Ds", "E", "F", "Fs", "G", "Gs", "A", "As", "B")
_TONNETZ = ("fifth_x", "fifth_y", "minor_x", "minor_y", "major_x", "major_y")
_SCALARS = (
    "centroid",
    "bandwidth",
    "rolloff85",
    "rolloff99",
    "flatness",
    "slope",
    "zcr",
    "rms_db",
    "onset_strength",
    "crest_db",
)
DESCRIPTORS: tuple[str, ...] = (
    *(f"mfcc{index:02d}" for index in range(N_MFCC)),
    *(f"contrast{index}" for index in range(CONTRAST_BANDS + 1)),
    *(f"chroma_{name}" for name in _PITCH_CLASSES),
    *(f"tonnetz_{name}" for name in _TONNETZ),
    *(f"band_{lo}_{hi}hz" for lo, hi in itertools.pairwise(BAND_EDGES_HZ)),
    *_SCALARS,
)
FEATURE_NAMES: tuple[str, ...] = (
    *(f"{d}_{stat}" for d in DESCRIPTORS for stat in ("mean", "std")),
    *(f"d_{d}_{stat}" for d in DESCRIPTORS for stat in ("absmean", "std")),
    "clip_fraction",
)
N_FEATURES = len(FEATURE_NAMES)
if N_FEATURES != 253:  # the paper's count is the contract with stored feature tables
    raise RuntimeError(f"{FEATURE_VERSION} defines {N_FEATURES} features, not 253")


def extract_features(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The `FEATURE_NAMES` vector (253 float64) of an excerpt given as (frames,) or
    (frames, channels) float samples at `sample_rate`."""
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[0] < N_FFT:
        raise ValueError(f"need (frames, channels) audio of at least {N_FFT} frames")
    if not np.all(np.isfinite(data)):
        raise ValueError("audio contains NaN or infinite samples")
    clip_fraction = _clip_fraction(data)
    mono = data.mean(axis=1)
    if sample_rate != FEATURE_RATE:
        mono = librosa.resample(mono, orig_sr=sample_rate, target_sr=FEATURE_RATE)
    track = _descriptors(np.ascontiguousarray(mono, dtype=np.float32))
    difference = np.diff(track, axis=1)
    values = np.column_stack([track.mean(axis=1), track.std(axis=1)]).ravel()
    changes = np.column_stack([np.abs(difference).mean(axis=1), difference.std(axis=1)]).ravel()
    features = np.concatenate([values, changes, [clip_fraction]]).astype(np.float64)
    return np.nan_to_num(features, nan=0.0, posinf=0.0, neginf=0.0)


@functools.cache
def _filterbanks() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mel, chroma and band-energy matrices over the STFT bins, and the bin frequencies."""
    frequencies = librosa.fft_frequencies(sr=FEATURE_RATE, n_fft=N_FFT)
    mel = librosa.filters.mel(sr=FEATURE_RATE, n_fft=N_FFT, n_mels=N_MELS)
    chroma = librosa.filters.chroma(sr=FEATURE_RATE, n_fft=N_FFT, tuning=0.0)
    edges = itertools.pairwise(BAND_EDGES_HZ)
    bands = np.stack([(frequencies >= lo) & (frequencies < hi) for lo, hi in edges])
    return mel, chroma, bands.astype(np.float32), frequencies


def _descriptors(y: np.ndarray) -> np.ndarray:
    """(len(DESCRIPTORS), frames) frame-level values, in `DESCRIPTORS` order."""
    rate = FEATURE_RATE
    mel_matrix, chroma_matrix, band_matrix, frequencies = _filterbanks()
    magnitude = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    power = magnitude**2
    mel_db = 10 * np.log10(np.maximum(mel_matrix @ power, _EPS))
    mfcc = scipy.fft.dct(mel_db, axis=0, type=2, norm="ortho")[:N_MFCC]
    contrast = librosa.feature.spectral_contrast(S=magnitude, sr=rate, n_bands=CONTRAST_BANDS)
    chroma = chroma_matrix @ power
    # librosa's chroma_stft normalisation (max norm); a silent frame stays all zero
    chroma /= np.maximum(chroma.max(axis=0, keepdims=True), _EPS)
    tonnetz = librosa.feature.tonnetz(chroma=chroma, sr=rate)
    band_db = 10 * np.log10(np.maximum(band_matrix @ power, _EPS))
    frames = librosa.util.frame(np.pad(y, N_FFT // 2), frame_length=N_FFT, hop_length=HOP)
    frames = frames[:, : magnitude.shape[1]]
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=0))
    peak = np.max(np.abs(frames), axis=0)
    audible = rms > 10 ** (FLOOR_DB / 20)
    crest_db = np.zeros_like(rms)
    crest_db[audible] = 20 * np.log10(peak[audible] / rms[audible])
    signs = np.signbit(frames)
    zcr = np.mean(signs[1:] != signs[:-1], axis=0)
    scalars = np.vstack(
        [
            *_centroid_bandwidth(magnitude, frequencies),
            *_rolloffs(magnitude, frequencies, (0.85, 0.99)),
            librosa.feature.spectral_flatness(S=magnitude, amin=1e-10)[0],
            _slope_db_per_khz(magnitude, frequencies),
            zcr,
            20 * np.log10(np.maximum(rms, 10 ** (FLOOR_DB / 20))),
            librosa.onset.onset_strength(S=mel_db, sr=rate),
            crest_db,
        ]
    )
    n = magnitude.shape[1]
    return np.vstack(
        [
            block[:, :n].astype(np.float64)
            for block in (mfcc, contrast, chroma, tonnetz, band_db, scalars)
        ]
    )


def _centroid_bandwidth(
    magnitude: np.ndarray, frequencies: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Spectral centroid and bandwidth (librosa's definitions: magnitude-weighted mean and
    standard deviation of frequency), from three dot products instead of two passes."""
    weight = np.maximum(magnitude.sum(axis=0), _EPS)
    first = frequencies @ magnitude / weight
    second = (frequencies**2) @ magnitude / weight
    return first, np.sqrt(np.maximum(second - first**2, 0.0))


def _rolloffs(
    magnitude: np.ndarray, frequencies: np.ndarray, shares: tuple[float, ...]
) -> list[np.ndarray]:
    """Frequency below which each share of the frame's spectral magnitude lies (librosa's
    roll-off; 0 for silent frames), from one cumulative sum."""
    cumulative = np.cumsum(magnitude, axis=0)
    total = cumulative[-1]
    return [
        np.where(total > 0, frequencies[np.argmax(cumulative >= share * total, axis=0)], 0.0)
        for share in shares
    ]


def _slope_db_per_khz(magnitude: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """Least-squares slope of the log-magnitude spectrum against frequency, per frame."""
    level = 20 * np.log10(np.maximum(magnitude, 10 ** (FLOOR_DB / 20)))
    khz = frequencies / 1000 - np.mean(frequencies / 1000)
    return np.asarray((khz @ (level - level.mean(axis=0))) / float(khz @ khz))


def _clip_fraction(data: np.ndarray) -> float:
    """Share of samples within 0.1 dB of the excerpt's peak, averaged over channels."""
    peaks = np.max(np.abs(data), axis=0)
    if not np.any(peaks > 0):
        return 0.0
    near = np.abs(data) >= peaks * 10 ** (-0.1 / 20)
    return float(np.mean(near[:, peaks > 0]))
