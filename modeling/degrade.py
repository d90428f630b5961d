"""The degradation classifier's synthetic set (paper §4.2.3): every excerpt of the user's
unlabeled music, once clean and once with each of the five degradations the paper names,
so a classifier learns six classes: clean, clip, codec, noise, reverb, echo.

Each degradation's strength is drawn from a range wide enough that the classifier has to
listen rather than count samples, and is kept with the file:
- `clip`: hard clipping at a level that leaves 1-20 % of the samples beyond it;
- `codec`: an encode and decode through ffmpeg with MP3 (libmp3lame, 16-64 kbit/s), AAC
  (ffmpeg's aac, 16-48 kbit/s) or Opus (libopus, 8-24 kbit/s), whichever this ffmpeg has;
- `noise`: white, pink or brown noise at 0-20 dB SNR;
- `reverb`: a synthetic room, exponentially decaying noise with a reverberation time of
  0.3-2.0 s, 10-50 % wet;
- `echo`: one to three delayed copies, 80-400 ms apart, each 0.3-0.7 of the one before.

Every output keeps the excerpt's RMS level (so loudness does not give the class away) and
stays within [-1, 1]. The set is seeded: the same sources, settings and seed give the
same files, and files already written are kept (a stopped generation resumes). Its
folder holds `set.json` (generator version, settings, sources) and `degraded.csv`
(path, class, label, source, parameters as JSON), the manifest the classifier reads.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

#: Bumped whenever a degradation or its ranges change: a set made by another version is
#: not silently mixed with this one's files.
GENERATOR_VERSION = 1
CLASSES: tuple[str, ...] = ("clean", "clip", "codec", "noise", "reverb", "echo")
MANIFEST = "degraded.csv"
SET_FILE = "set.json"
CODEC_TIMEOUT_S = 120
#: (ffmpeg encoder, container, bit-rate range in kbit/s)
CODECS: tuple[tuple[str, str, tuple[int, int]], ...] = (
    ("libmp3lame", "mp3", (16, 64)),
    ("aac", "adts", (16, 48)),
    ("libopus", "ogg", (8, 24)),
)
Audio = NDArray[np.float64]


class DegradeError(Exception):
    """The set can't be made: no usable source, no ffmpeg, a folder holding another set."""


@dataclass(frozen=True)
class DegradeSettings:
    #: Excerpt length, from the middle of each source (the stimuli's rule).
    seconds: float = 10.0
    #: The log-mel front end's rate, so no file is resampled twice.
    sample_rate: int = 48000
    #: Sources shorter than this are skipped.
    min_seconds: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.min_seconds <= 0 or self.min_seconds > self.seconds:
            raise DegradeError("seconds and min_seconds must be > 0, min_seconds <= seconds")
        if self.sample_rate < 8000:
            raise DegradeError("sample_rate must be at least 8000 Hz")


@dataclass(frozen=True)
class DegradedFile:
    path: Path
    label: str
    source: str
    params: dict[str, Any]

    @property
    def class_index(self) -> int:
        return CLASSES.index(self.label)


@dataclass(frozen=True)
class DegradedSet:
    folder: Path
    files: list[DegradedFile]
    skipped: list[tuple[str, str]]


def _rms(audio: Audio) -> float:
    return float(np.sqrt(np.mean(audio**2)))


def _match_level(audio: Audio, reference: Audio) -> Audio:
    """`audio` at `reference`'s RMS, then scaled down only if it would exceed ±1."""
    level = _rms(audio)
    out = audio * (_rms(reference) / level) if level > 0 else audio
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    return out / peak * 0.999 if peak > 0.999 else out


def clip(audio: Audio, rng: np.random.Generator) -> tuple[Audio, dict[str, Any]]:
    share = round(float(rng.uniform(0.01, 0.20)), 4)
    level = float(np.quantile(np.abs(audio), 1.0 - share)) or 1e-3
    return np.clip(audio, -level, level), {"clipped_share": share}


def _coloured_noise(n: int, colour: str, rng: np.random.Generator) -> Audio:
    white = rng.standard_normal(n)
    if colour == "white":
        return white
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0
    slope = 0.5 if colour == "pink" else 1.0  # amplitude ~ f^-1/2 (pink), f^-1 (brown)
    noise = np.fft.irfft(spectrum / freqs**slope, n=n)
    return noise / (np.std(noise) or 1.0)


def noise(audio: Audio, rng: np.random.Generator) -> tuple[Audio, dict[str, Any]]:
    colour = str(rng.choice(["white", "pink", "brown"]))
    snr_db = round(float(rng.uniform(0.0, 20.0)), 2)
    n = _coloured_noise(audio.size, colour, rng)
    gain = _rms(audio) / (10 ** (snr_db / 20) * (_rms(n) or 1.0))
    return audio + gain * n, {"colour": colour, "snr_db": snr_db}


def _convolve(audio: Audio, response: Audio) -> Audio:
    size = audio.size + response.size - 1
    fft = 1 << (size - 1).bit_length()
    out = np.fft.irfft(np.fft.rfft(audio, fft) * np.fft.rfft(response, fft), fft)
    return out[: audio.size]


def reverb(
    audio: Audio, rng: np.random.Generator, sample_rate: int
) -> tuple[Audio, dict[str, Any]]:
    rt60 = round(float(rng.uniform(0.3, 2.0)), 3)
    wet = round(float(rng.uniform(0.1, 0.5)), 3)
    length = int(rt60 * sample_rate)
    t = np.arange(length) / sample_rate
    # -60 dB after rt60 seconds: amplitude exp(-6.91 t / rt60).
    response = rng.standard_normal(length) * np.exp(-6.908 * t / rt60)
    response /= np.sqrt(np.sum(response**2)) or 1.0
    tail = _convolve(audio, response)
    tail *= _rms(audio) / (_rms(tail) or 1.0)
    return (1 - wet) * audio + wet * tail, {"rt60_s": rt60, "wet": wet}


def echo(audio: Audio, rng: np.random.Generator, sample_rate: int) -> tuple[Audio, dict[str, Any]]:
    # Parameters are rounded before use, so the recorded ones are the ones applied.
    delay_s = round(float(rng.uniform(0.08, 0.40)), 3)
    decay = round(float(rng.uniform(0.3, 0.7)), 3)
    repeats = int(rng.integers(1, 4))
    delay = max(1, round(delay_s * sample_rate))
    out = audio.copy()
    for r in range(1, repeats + 1):
        if r * delay >= audio.size:
            break
        out[r * delay :] += decay**r * audio[: audio.size - r * delay]
    return out, {"delay_s": delay_s, "decay": decay, "repeats": repeats}


def available_codecs() -> list[tuple[str, str, tuple[int, int]]]:
    """The codecs of `CODECS` this ffmpeg can encode with."""
    from modeling.audio.encode import _listed_encoders

    try:
        from modeling.audio.decode import ffmpeg_binary

        listing = _listed_encoders(ffmpeg_binary())
    except Exception:
        return []
    listed = {line.split()[1] for line in listing.splitlines() if len(line.split()) > 1}
    return [c for c in CODECS if c[0] in listed]


def codec(audio: Audio, rng: np.random.Generator, sample_rate: int) -> tuple[Audio, dict[str, Any]]:
    """Through one of this ffmpeg's lossy codecs and back, length kept (the encoder's
    delay is trimmed from the front by ffmpeg; a short tail is zero-padded)."""
    from modeling.audio.decode import ffmpeg_binary

    codecs = available_codecs()
    if not codecs:
        raise DegradeError("ffmpeg with an MP3, AAC or Opus encoder is needed for the codecs")
    encoder, container, (low, high) = codecs[int(rng.integers(len(codecs)))]
    kbps = int(rng.integers(low, high + 1))
    ffmpeg = ffmpeg_binary()
    # Opus encodes at 48 kHz only; the decode brings the file back to our rate.
    with tempfile.TemporaryDirectory(prefix="degrade-") as tmp:
        encoded = Path(tmp) / f"coded.{container}"
        encode = [ffmpeg, "-hide_banner", "-v", "error", "-y", "-f", "f32le"]
        encode += ["-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0", "-c:a", encoder]
        encode += ["-b:a", f"{kbps}k", "-f", container, str(encoded)]
        decode = [ffmpeg, "-hide_banner", "-v", "error", "-i", str(encoded)]
        decode += ["-f", "f32le", "-ac", "1", "-ar", str(sample_rate), "pipe:1"]
        try:
            done = subprocess.run(
                encode,
                input=audio.astype("<f4").tobytes(),
                capture_output=True,
                timeout=CODEC_TIMEOUT_S,
            )
            if done.returncode != 0:
                raise DegradeError(f"ffmpeg {encoder} failed: {done.stderr.decode()[-300:]}")
            back = subprocess.run(decode, capture_output=True, timeout=CODEC_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise DegradeError(f"ffmpeg took over {CODEC_TIMEOUT_S} s") from exc
        if back.returncode != 0:
            raise DegradeError(f"ffmpeg could not decode {encoder}: {back.stderr.decode()[-300:]}")
    decoded = np.frombuffer(back.stdout, dtype="<f4").astype(np.float64)
    out = np.zeros_like(audio)
    out[: min(out.size, decoded.size)] = decoded[: out.size]
    return out, {"encoder": encoder, "kbps": kbps}


def degrade(
    audio: Audio, label: str, rng: np.random.Generator, sample_rate: int
) -> tuple[Audio, dict[str, Any]]:
    """`audio` (mono) with the degradation `label` ("clean" leaves it as is)."""
    if audio.ndim != 1:
        raise DegradeError(f"degrade takes mono audio (one dimension), not shape {audio.shape}")
    makers: dict[str, Callable[[], tuple[Audio, dict[str, Any]]]] = {
        "clean": lambda: (audio.copy(), {}),
        "clip": lambda: clip(audio, rng),
        "codec": lambda: codec(audio, rng, sample_rate),
        "noise": lambda: noise(audio, rng),
        "reverb": lambda: reverb(audio, rng, sample_rate),
        "echo": lambda: echo(audio, rng, sample_rate),
    }
    if label not in makers:
        raise DegradeError(f"unknown degradation {label!r}; one of {', '.join(CLASSES)}")
    out, params = makers[label]()
    return _match_level(out, audio), params


def _sources_fingerprint(sources: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for source in sources:
        digest.update(f"{source}\n".encode())
    return digest.hexdigest()[:16]


def make_degraded_set(
    sources: Sequence[Path | str],
    out_dir: Path | str,
    settings: DegradeSettings | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> DegradedSet:
    """Write the six versions of every source's excerpt under `out_dir` (FLAC, 24 bit)
    and the manifest; unreadable or too short sources are skipped with the reason."""
    from modeling.w2vmos.data import load_audio_mono
    from modeling.w2vmos.errors import AudioReadError

    s = settings or DegradeSettings()
    paths = [Path(p) for p in sources]
    if not paths:
        raise DegradeError("no source audio to degrade")
    if shutil.which("ffmpeg") is None:
        raise DegradeError("ffmpeg is not installed (or not on PATH); the codecs need it")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    identity = {
        "generator_version": GENERATOR_VERSION,
        "settings": asdict(s),
        "classes": list(CLASSES),
        "sources": len(paths),
        "sources_fingerprint": _sources_fingerprint(paths),
    }
    set_file = out / SET_FILE
    if set_file.exists():
        stored = json.loads(set_file.read_text())
        if {k: stored.get(k) for k in identity} != identity:
            raise DegradeError(f"{out} holds another degraded set; use a new folder")
    else:
        set_file.write_text(json.dumps(identity, indent=2, sort_keys=True) + "\n")

    files: list[DegradedFile] = []
    skipped: list[tuple[str, str]] = []
    for n, source in enumerate(paths):
        try:
            audio = load_audio_mono(
                source,
                sample_rate=s.sample_rate,
                max_seconds=s.seconds,
                min_samples=int(s.min_seconds * s.sample_rate),
            ).astype(np.float64)
        except AudioReadError as exc:
            skipped.append((str(source), str(exc)))
            continue
        if _rms(audio) == 0:
            skipped.append((str(source), "silent"))
            continue
        for c, label in enumerate(CLASSES):
            target = out / f"{n:06d}-{label}.flac"
            params_file = target.with_suffix(".json")
            if target.exists() and params_file.exists():
                params = json.loads(params_file.read_text())
            else:
                rng = np.random.default_rng([s.seed, n, c])
                degraded, params = degrade(audio, label, rng, s.sample_rate)
                partial = target.with_name(target.stem + ".part.flac")
                sf.write(partial, degraded.astype(np.float32), s.sample_rate, subtype="PCM_24")
                params_file.write_text(json.dumps(params, sort_keys=True))
                partial.replace(target)
            files.append(DegradedFile(target, label, str(source), params))
        if progress is not None:
            progress(n + 1, len(paths))
    if not files:
        raise DegradeError("no source gave an excerpt (every file was unreadable or too short)")
    with (out / MANIFEST).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "class", "label", "source", "params"])
        for item in files:
            writer.writerow(
                [
                    item.path.name,
                    item.class_index,
                    item.label,
                    item.source,
                    json.dumps(item.params, sort_keys=True),
                ]
            )
    return DegradedSet(out, files, skipped)


def read_degraded_set(folder: Path | str) -> list[DegradedFile]:
    """The manifest of a set made by `make_degraded_set`."""
    root = Path(folder)
    try:
        stored = json.loads((root / SET_FILE).read_text())
        with (root / MANIFEST).open(newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError) as exc:
        raise DegradeError(f"{root} is not a degraded set: {exc}") from exc
    if stored.get("generator_version") != GENERATOR_VERSION:
        raise DegradeError(
            f"{root} was made by generator version {stored.get('generator_version')}, "
            f"this is version {GENERATOR_VERSION}; make the set again"
        )
    return [
        DegradedFile(root / r["path"], r["label"], r["source"], json.loads(r["params"]))
        for r in rows
    ]
