"""Synthetic music with vinyl-like faults, for the demo, the tests and the benchmarks.

A track is a short chord progression with a bass line, a plucked melody and a drum beat,
looped (two variations) to the requested length, so that even a 3-minute 44.1 kHz stereo
track takes a fraction of a second to make. Faults, each with a strength from 0 to 1:

- `crackle`: sparse clicks, as from dust and scratches on the groove;
- `hiss`: broadband noise, as from the surface and the preamp;
- `wow`: slow pitch modulation (0.55 Hz, a 33 1/3 rpm turntable's rotation), by resampling
  along a time-varying read position;
- `clipping`: hard clipping at a threshold falling with strength (a digitisation too hot);
- `bandlimit`: low-pass filtering, the cutoff falling from 16 kHz towards 1.5 kHz.

The same seed and settings always give the same samples.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, sosfilt

FAULTS = ("crackle", "hiss", "wow", "clipping", "bandlimit")
SEVERITY_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
WOW_HZ = 0.55  # 33 1/3 rpm
MAX_WOW_DEPTH = 0.02  # ±2 % pitch at full strength: clearly seasick
MAX_CLIPPING_DB = 20.0  # threshold below the clean peak at full strength
MAX_CRACKLE_PER_S = 40.0
CLEAN_PEAK = 0.5  # leaves room for clicks and noise before the final [-1, 1] guard
BLOCK = 1 << 16  # frames per block in whole-track loops

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 4), (5, 3, 0, 4), (0, 4, 5, 3))


@dataclass
class DemoTrack:
    """One track of the demo corpus and the faults it was made with."""

    path: Path
    title: str
    artist: str
    year: int
    label: str
    carrier: str
    seed: int
    severity: float
    faults: dict[str, float] = field(default_factory=dict)


def synth_track(
    *,
    seconds: float,
    sample_rate: int = 44100,
    channels: int = 2,
    seed: int,
    faults: Mapping[str, float] | None = None,
) -> np.ndarray:
    """A music-like (frames, channels) float32 signal in [-1, 1] with the given faults.

    With more than two channels the extra ones follow the L R C LFE Ls Rs order: the centre
    and surrounds carry attenuated copies of the mix, the LFE its low end."""
    faults = dict(faults or {})
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        raise ValueError(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
    if any(not 0.0 <= strength <= 1.0 for strength in faults.values()):
        raise ValueError(f"fault strengths must lie in [0, 1], got {faults}")
    if seconds <= 0 or sample_rate <= 0 or channels <= 0:
        raise ValueError("seconds, sample_rate and channels must be positive")
    rng = np.random.default_rng(seed)
    frames = max(1, round(seconds * sample_rate))
    stereo = _music(rng, frames, sample_rate)
    stereo = _apply_faults(stereo, sample_rate, faults, rng)
    audio = np.ascontiguousarray(_to_channels(stereo, channels, sample_rate), dtype=np.float32)
    return np.clip(audio, -1.0, 1.0, out=audio)


def _music(rng: np.random.Generator, frames: int, rate: int) -> np.ndarray:
    beat_s = 60.0 / rng.uniform(84, 132)
    root = int(rng.integers(45, 57))  # A2..G#3
    scale = _MAJOR if rng.random() < 0.6 else _MINOR
    loops = [_loop(rng, rate, beat_s, root, scale, variation) for variation in range(2)]
    peak = max(float(np.max(np.abs(loop))) for loop in loops) or 1.0
    for loop in loops:
        loop *= np.float32(CLEAN_PEAK / peak)
    order = [0, 0, 1, 0]  # verse, verse, chorus, verse, ...
    pieces, total, index = [], 0, 0
    while total < frames:
        piece = loops[order[index % len(order)]]
        pieces.append(piece)
        total += len(piece)
        index += 1
    music = np.concatenate(pieces)[:frames]
    fade = min(frames // 4, rate)  # a 1 s fade in and out, like a real side of a record
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)[:, None]
    music[:fade] *= ramp
    music[frames - fade :] *= ramp[::-1]
    return music


def _loop(
    rng: np.random.Generator,
    rate: int,
    beat_s: float,
    root: int,
    scale: tuple[int, ...],
    variation: int,
) -> np.ndarray:
    """Four bars of 4/4: a chord per bar, bass on the beats, melody in eighths, drums."""
    beat = round(beat_s * rate)
    out = np.zeros((16 * beat, 2), dtype=np.float32)
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    level = 1.0 if variation == 0 else 1.25  # the chorus is a little louder
    for bar, degree in enumerate(progression):
        chord = [root + 12 + _degree(scale, degree + step) for step in (0, 2, 4)]
        for note in chord:
            tone = _tone(note, 4 * beat, rate, harmonics=4, decay_s=1.5) * 0.25 * level
            _add(out, bar * 4 * beat, tone, pan=0.6)
        for quarter in range(4):
            bass = _tone(root + _degree(scale, degree) - 12, beat, rate, 3, 0.4) * 0.5 * level
            _add(out, (bar * 4 + quarter) * beat, bass, pan=0.5)
            start = (bar * 4 + quarter) * beat
            if quarter % 2 == 0:
                _add(out, start, _kick(beat, rate) * 0.7, pan=0.5)
            else:
                _add(out, start, _noise_hit(rng, beat, rate, 0.09, smooth=True) * 0.35, pan=0.45)
            for eighth in range(2):
                hat_start = start + eighth * (beat // 2)
                _add(out, hat_start, _noise_hit(rng, beat // 2, rate, 0.02) * 0.12, pan=0.3)
                if rng.random() < 0.8:
                    note = root + 24 + _degree(scale, int(rng.integers(0, 8)))
                    melody = _tone(note, beat // 2, rate, harmonics=3, decay_s=0.25) * 0.2
                    _add(out, hat_start, melody * level, pan=0.7 if variation == 0 else 0.35)
    return out


def _degree(scale: tuple[int, ...], degree: int) -> int:
    return 12 * (degree // len(scale)) + scale[degree % len(scale)]


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False  # cached sounds are shared between notes: never edit them
    return array


# Notes repeat (a loop is 4 chords and 8 scale degrees), so each distinct sound is made once.
@functools.lru_cache(maxsize=512)
def _tone(midi: int, frames: int, rate: int, harmonics: int, decay_s: float) -> np.ndarray:
    frequency = 440.0 * 2 ** ((midi - 69) / 12)
    t = np.arange(frames, dtype=np.float32) / rate
    phase = (2 * np.pi * frequency) * t
    wave = np.zeros(frames, dtype=np.float32)
    for h in range(1, harmonics + 1):
        if h * frequency < rate / 2:
            wave += np.sin(h * phase) / h
    return _frozen(wave * _envelope(frames, rate, decay_s))


@functools.lru_cache(maxsize=512)
def _envelope(frames: int, rate: int, decay_s: float) -> np.ndarray:
    """Fast attack, exponential decay, and a 10 ms release so nothing clicks at the cut."""
    t = np.arange(frames, dtype=np.float32) / rate
    envelope = np.exp(-t / decay_s) * np.minimum(1.0, t / 0.01)
    release = min(frames, round(0.01 * rate))
    envelope[frames - release :] *= np.linspace(1.0, 0.0, release, dtype=np.float32)
    return _frozen(envelope.astype(np.float32))


@functools.lru_cache(maxsize=64)
def _kick(frames: int, rate: int) -> np.ndarray:
    t = np.arange(frames, dtype=np.float32) / rate
    frequency = 50 + 70 * np.exp(-t / 0.03)  # a sweep down from 120 Hz
    phase = 2 * np.pi * np.cumsum(frequency) / rate
    return _frozen((np.sin(phase) * _envelope(frames, rate, 0.15)).astype(np.float32))


def _noise_hit(
    rng: np.random.Generator, frames: int, rate: int, decay_s: float, smooth: bool = False
) -> np.ndarray:
    noise = rng.standard_normal(frames, dtype=np.float32)
    if not smooth:  # a first difference tilts white noise up: a hi-hat
        noise = np.diff(noise, prepend=0.0).astype(np.float32)
    return np.asarray(noise * _envelope(frames, rate, decay_s))


def _add(out: np.ndarray, start: int, sound: np.ndarray, pan: float) -> None:
    end = min(len(out), start + len(sound))
    if end <= start:
        return
    out[start:end, 0] += sound[: end - start] * (1.0 - pan)
    out[start:end, 1] += sound[: end - start] * pan


def _apply_faults(
    audio: np.ndarray, rate: int, faults: Mapping[str, float], rng: np.random.Generator
) -> np.ndarray:
    # `audio` is the caller's fresh array: faults work in place where they can.
    # The order of a record's life: the cut (wow, bandwidth), then the surface, then a hot
    # digitisation clipping everything on top
    if faults.get("wow", 0.0) > 0:
        audio = _wow(audio, rate, faults["wow"])
    if faults.get("bandlimit", 0.0) > 0:
        cutoff = min(16_000.0 * (1_500.0 / 16_000.0) ** faults["bandlimit"], 0.45 * rate)
        sos = butter(4, cutoff, fs=rate, output="sos").astype(np.float32)
        audio = sosfilt(sos, audio, axis=0)
    if faults.get("crackle", 0.0) > 0:
        audio = _crackle(audio, rate, faults["crackle"], rng)
    if faults.get("hiss", 0.0) > 0:
        level = 10 ** ((-66.0 + 46.0 * faults["hiss"]) / 20)  # -66 .. -20 dBFS RMS
        for start in range(0, len(audio), BLOCK):
            block = audio[start : start + BLOCK]
            block += np.float32(level) * rng.standard_normal(block.shape, dtype=np.float32)
    if faults.get("clipping", 0.0) > 0:
        threshold = CLEAN_PEAK * 10 ** (-MAX_CLIPPING_DB * faults["clipping"] / 20)
        np.clip(audio, -threshold, threshold, out=audio)
    return audio


def _wow(audio: np.ndarray, rate: int, strength: float) -> np.ndarray:
    """Read along n + d·sin(2πft)/(2πf/rate): the read speed, and so the pitch, swings by ±d,
    with linear interpolation between samples. Works in cache-sized blocks: full-length
    temporaries cost more in page faults than the arithmetic."""
    frames = len(audio)
    depth = MAX_WOW_DEPTH * strength
    omega = 2 * np.pi * WOW_HZ / rate
    columns = [np.ascontiguousarray(audio[:, channel]) for channel in range(audio.shape[1])]
    out = np.empty_like(audio)
    for start in range(0, frames, BLOCK):
        n = np.arange(start, min(frames, start + BLOCK), dtype=np.int64)
        displacement = np.sin(n * omega) * (depth / omega)
        whole = np.floor(displacement)
        frac = (displacement - whole).astype(np.float32)
        index = np.clip(n + whole.astype(np.int64), 0, max(0, frames - 2))
        following = np.minimum(index + 1, frames - 1)
        for channel, samples in enumerate(columns):
            low = samples[index]
            out[start : start + len(n), channel] = low + (samples[following] - low) * frac
    return out


def _crackle(audio: np.ndarray, rate: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    count = rng.poisson(MAX_CRACKLE_PER_S * strength * len(audio) / rate)
    if count == 0:
        return audio
    width = max(2, round(0.0004 * rate))  # 0.4 ms: a click, not a thump
    positions = rng.integers(0, max(1, len(audio) - width), size=count)
    amplitude = rng.uniform(0.1, 0.5, size=count) * rng.choice([-1.0, 1.0], size=count)
    amplitude *= 0.4 + 0.6 * strength
    shape = np.exp(-np.arange(width) / (width / 4)).astype(np.float32)
    balance = rng.uniform(0.7, 1.0, size=(count, 2))  # both groove walls, not equally
    for offset, value in enumerate(shape):
        np.add.at(audio, positions + offset, (amplitude * value)[:, None] * balance)
    return audio


def _to_channels(stereo: np.ndarray, channels: int, rate: int) -> np.ndarray:
    if channels == 2:
        return stereo
    mono = stereo.mean(axis=1)
    if channels == 1:
        return np.asarray(mono[:, None])
    extra = [0.5 * mono] * (channels - 2)
    if channels >= 4:
        extra[1] = sosfilt(butter(2, 120, fs=rate, output="sos"), mono).astype(np.float32)
    for index in range(2, channels - 2):  # surrounds: quieter, side-heavy copies
        extra[index] = 0.3 * stereo[:, index % 2]
    return np.column_stack([stereo[:, 0], stereo[:, 1], *extra])


_WORDS = (
    "Blue", "Midnight", "River", "Velvet", "Golden", "Autumn", "Silver", "Harbour", "Paper",
    "Moon", "Lantern", "Echo", "Garden", "Northern", "Cinnamon", "Static",
)  # fmt: skip
_NAMES = ("Ada", "Cole", "Mara", "June", "Otis", "Nell", "Ray", "Iris")
_SURNAMES = ("Quartet", "Trio", "Orchestra", "and the Grooves", "Ensemble", "Band")
_LABELS = ("Lantern Records", "Northside", "Grooveworks", "Harbour Sound")
_CARRIERS = ("LP 33 1/3 rpm", "single 45 rpm", "EP 45 rpm")


def write_demo_corpus(
    folder: Path,
    *,
    n_tracks: int = 20,
    seconds: float = 30.0,
    sample_rate: int = 44100,
    seed: int = 0,
) -> list[DemoTrack]:
    """Write `n_tracks` synthetic records (WAV and FLAC, alternately) and a `manifest.csv`
    (path, title, artist, year, label, carrier, severity, faults) into `folder`.

    Severity cycles through `SEVERITY_LEVELS`, each track has one dominant fault at that
    severity (cycling through `FAULTS`) plus the hiss and crackle every record has a bit of,
    so a corpus spreads over kinds and levels of damage."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tracks: list[DemoTrack] = []
    for index in range(n_tracks):
        severity = SEVERITY_LEVELS[index % len(SEVERITY_LEVELS)]
        dominant = FAULTS[(index // len(SEVERITY_LEVELS) + index) % len(FAULTS)]
        faults = {
            "hiss": round(float(rng.uniform(0.0, 0.3)) * severity, 3),
            "crackle": round(float(rng.uniform(0.0, 0.3)) * severity, 3),
        }
        faults[dominant] = severity
        track_seed = int(rng.integers(2**31))
        extension, subtype = ("wav", "PCM_16") if index % 2 == 0 else ("flac", "PCM_16")
        path = folder / f"track_{index + 1:03d}.{extension}"
        audio = synth_track(
            seconds=seconds, sample_rate=sample_rate, seed=track_seed, faults=faults
        )
        sf.write(path, audio, sample_rate, subtype=subtype)
        tracks.append(
            DemoTrack(
                path=path,
                title=f"{_pick(rng, _WORDS)} {_pick(rng, _WORDS)}",
                artist=f"{_pick(rng, _NAMES)} {_pick(rng, _SURNAMES)}",
                year=int(rng.integers(1952, 1990)),
                label=_pick(rng, _LABELS),
                carrier=_pick(rng, _CARRIERS),
                seed=track_seed,
                severity=severity,
                faults=faults,
            )
        )
    with (folder / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        # severity and faults: the ground truth, which importers ignore and the demo's
        # simulated raters hear
        writer.writerow(
            ["path", "title", "artist", "year", "label", "carrier", "severity", "faults"]
        )
        for track in tracks:
            described = ";".join(f"{k}={v}" for k, v in sorted(track.faults.items()))
            writer.writerow(
                [
                    track.path.name,
                    track.title,
                    track.artist,
                    track.year,
                    track.label,
                    track.carrier,
                    track.severity,
                    described,
                ]
            )
    return tracks


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]
