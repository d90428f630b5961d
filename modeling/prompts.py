"""Spoken prompts of the test, made locally: the left/right digits of the setup, the
trapping stimuli ("This is an interruption, please select the answer X", ITU-T P.808
trapping questions) and the volume-adjustment clip.

Speech comes from espeak-ng, run as a subprocess: nothing leaves the machine. Every clip
builder takes arrays, so an experimenter's recorded prompt (read with `load_prompt`) can
replace the synthetic voice. Prompts are loudness-matched (ITU-R BS.1770 with pyloudnorm)
to the stimuli's target so a trap is neither louder nor quieter than the music rated.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyloudnorm
import soundfile
from scipy.signal import resample_poly

Audio = npt.NDArray[np.float32]

ACR_LABELS = {1: "bad", 2: "poor", 3: "fair", 4: "good", 5: "excellent"}
PEAK_LIMIT = 0.99  # below full scale, so a lossy encoder's overshoot does not clip
SILENCE_DB = -50.0  # below the peak, what counts as silence around a spoken word


class PromptError(RuntimeError):
    """A prompt could not be made: no espeak-ng, an unreadable file, a message too long."""


def speak(
    text: str,
    *,
    sample_rate: int = 44100,
    voice: str = "en-us",
    speed: int = 150,
    executable: str = "espeak-ng",
) -> Audio:
    """`text` spoken by espeak-ng, mono float32 at `sample_rate`. `speed` is in words per
    minute (espeak-ng's default is 175; a little slower is clearer over headphones)."""
    program = shutil.which(executable)
    if program is None:
        raise PromptError(
            f"{executable} is not installed; install the espeak-ng package or upload "
            f"recorded prompts"
        )
    if not text.strip():
        raise PromptError("nothing to say: the prompt text is empty")
    with tempfile.TemporaryDirectory(prefix="crowdtest-prompt-") as folder:
        wav = Path(folder) / "prompt.wav"
        # Text goes through stdin so that a prompt starting with "-" is never an option.
        command = [program, "-v", voice, "-s", str(speed), "-w", str(wav), "--stdin"]
        try:
            done = subprocess.run(
                command, input=text.encode(), capture_output=True, timeout=60, check=False
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise PromptError(f"{executable} failed: {error}") from error
        if done.returncode != 0 or not wav.is_file():
            message = done.stderr.decode(errors="replace").strip()
            raise PromptError(f"{executable} failed ({done.returncode}): {message}")
        audio, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    if audio.shape[0] == 0:
        raise PromptError(f"{executable} produced no audio for {text!r}")
    return _resample(audio.mean(axis=1), rate, sample_rate)


def load_prompt(path: str | Path, sample_rate: int) -> Audio:
    """An uploaded recording as mono float32 at `sample_rate`: anything libsndfile reads
    (WAV, FLAC, OGG, MP3), else whatever ffmpeg decodes (AAC, M4A, WebM...)."""
    try:
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
        mono = _resample(audio.mean(axis=1), rate, sample_rate)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        mono = _decode_with_ffmpeg(Path(path), sample_rate)
    if mono.size == 0:
        raise PromptError(f"{path} holds no audio")
    return mono


def _decode_with_ffmpeg(path: Path, sample_rate: int) -> Audio:
    program = shutil.which("ffmpeg")
    if program is None:
        raise PromptError(f"cannot read {path.name}: not a sound file and ffmpeg is missing")
    command = [program, "-nostdin", "-v", "error", "-i", str(path)]
    command += ["-f", "f32le", "-ac", "1", "-ar", str(sample_rate), "-"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        raise PromptError(f"ffmpeg could not decode {path.name}: {error}") from error
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise PromptError(f"ffmpeg could not decode {path.name}: {message}")
    return np.frombuffer(done.stdout, dtype="<f4").astype(np.float32)


def trap_message(answer: int | str) -> str:
    """The trap's spoken text for an ACR answer (1..5 or its label, ITU-T P.800 ACR)."""
    label = ACR_LABELS.get(answer) if isinstance(answer, int) else answer.strip().lower()
    if label not in ACR_LABELS.values():
        raise PromptError(f"{answer!r} is not an ACR answer (1..5 or {list(ACR_LABELS.values())})")
    return f"This is an interruption, please select the answer {label}."


def digits_clip(
    digits: str,
    channels: Sequence[str],
    *,
    sample_rate: int = 44100,
    gap_s: float = 0.6,
    edge_s: float = 0.3,
    spoken: Mapping[str, npt.ArrayLike] | None = None,
    voice: str = "en-us",
    target_lufs: float | None = None,
) -> Audio:
    """The setup's digits, (frames, 2): each digit only in its channel ("L" or "R"), the
    other channel exactly silent, `gap_s` between digits and `edge_s` at both ends.

    `spoken` maps a digit to a recording (mono, at `sample_rate`) to use instead of
    espeak-ng. With `target_lufs` the whole clip is loudness-normalised.
    """
    if len(digits) != len(channels) or not digits:
        raise PromptError("one channel is needed per digit")
    if not digits.isdigit():
        raise PromptError(f"{digits!r} is not a string of digits")
    if any(channel not in ("L", "R") for channel in channels):
        raise PromptError(f"channels must be 'L' or 'R', got {list(channels)}")
    gap = np.zeros((round(gap_s * sample_rate), 2), dtype=np.float32)
    edge = np.zeros((round(edge_s * sample_rate), 2), dtype=np.float32)
    parts = [edge]
    for position, (digit, channel) in enumerate(zip(digits, channels)):
        if spoken is not None and digit in spoken:
            speech = np.asarray(spoken[digit], dtype=np.float32)
        else:
            speech = speak(digit, sample_rate=sample_rate, voice=voice)
        speech = _trim_silence(speech)
        stereo = np.zeros((speech.size, 2), dtype=np.float32)
        stereo[:, 0 if channel == "L" else 1] = speech
        parts += [gap, stereo] if position else [stereo]
    parts.append(edge)
    clip = np.concatenate(parts)
    return clip if target_lufs is None else _normalise(clip, sample_rate, target_lufs)


def trap_clip(
    music: npt.ArrayLike,
    message: npt.ArrayLike,
    *,
    sample_rate: int = 44100,
    total_seconds: float = 10.0,
    fade_s: float = 0.5,
    gap_s: float = 0.3,
    target_lufs: float | None = None,
) -> Audio:
    """A trapping stimulus, (frames, 2), exactly `total_seconds` long like the rated
    stimuli so its length gives nothing away: the start of `music` (stereo or mono),
    faded out over `fade_s`, `gap_s` of silence, then the spoken `message` (mono) in both
    channels, ending the clip.

    With `target_lufs` the music and the message are each normalised to it, so the voice
    is as loud as the music and the trap as loud as a stimulus.
    """
    total = round(total_seconds * sample_rate)
    speech = np.asarray(message, dtype=np.float32)
    if speech.ndim != 1 or speech.size == 0:
        raise PromptError("the trap message must be mono and not empty")
    gap = round(gap_s * sample_rate)
    music_frames = total - speech.size - gap
    if music_frames <= 0:
        raise PromptError(
            f"the message lasts {speech.size / sample_rate:.1f} s, too long for a "
            f"{total_seconds:g} s trap"
        )
    stereo_music = _stereo(music)
    if stereo_music.shape[0] < music_frames:
        raise PromptError(
            f"the trap needs {music_frames / sample_rate:.1f} s of music, got "
            f"{stereo_music.shape[0] / sample_rate:.1f} s"
        )
    head = stereo_music[:music_frames].copy()
    voice = np.column_stack([speech, speech])
    if target_lufs is not None:
        head = _normalise(head, sample_rate, target_lufs)
        voice = _normalise(voice, sample_rate, target_lufs)
    fade = min(round(fade_s * sample_rate), music_frames)
    if fade:
        head[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    clip = np.zeros((total, 2), dtype=np.float32)
    clip[:music_frames] = head
    clip[music_frames + gap :] = voice
    return clip


def volume_clip(
    music: npt.ArrayLike,
    sample_rate: int,
    *,
    target_lufs: float | None = None,
    seconds: float | None = None,
    fade_s: float = 0.5,
) -> Audio:
    """Music for the setup's volume adjustment, (frames, 2): the rater sets a comfortable
    level on it, so it plays at the stimuli's loudness (`target_lufs`), faded in and out.
    `seconds` keeps only the start."""
    clip = _stereo(music)
    if seconds is not None:
        clip = clip[: round(seconds * sample_rate)]
    clip = clip.copy()
    if target_lufs is not None:
        clip = _normalise(clip, sample_rate, target_lufs)
    fade = min(round(fade_s * sample_rate), clip.shape[0] // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)[:, None]
        clip[:fade] *= ramp
        clip[-fade:] *= ramp[::-1]
    return clip


def _stereo(audio: npt.ArrayLike) -> Audio:
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim == 1:
        return np.column_stack([array, array])
    if array.ndim == 2 and array.shape[1] == 2:
        return array
    raise PromptError(f"music must be mono (frames,) or stereo (frames, 2), got {array.shape}")


def _resample(audio: npt.NDArray[np.floating], rate: int, sample_rate: int) -> Audio:
    if rate == sample_rate:
        return np.asarray(audio, dtype=np.float32)
    common = math.gcd(rate, sample_rate)
    return np.asarray(resample_poly(audio, sample_rate // common, rate // common), np.float32)


def _trim_silence(speech: Audio) -> Audio:
    """Cut the silence espeak-ng (or a recording) leaves around a word, so that the gaps
    between digits are the ones asked for."""
    level = np.abs(speech)
    peak = float(level.max()) if speech.size else 0.0
    if peak == 0.0:
        raise PromptError("a spoken digit is silent")
    loud = np.flatnonzero(level > peak * 10 ** (SILENCE_DB / 20))
    return speech[loud[0] : loud[-1] + 1]


def _normalise(audio: Audio, sample_rate: int, target_lufs: float) -> Audio:
    """Gain to `target_lufs` integrated loudness (ITU-R BS.1770 / EBU R 128), lowered
    where needed to keep the peak under PEAK_LIMIT: never clipped, at worst quieter."""
    meter = pyloudnorm.Meter(sample_rate)
    try:
        loudness = meter.integrated_loudness(audio)
    except ValueError as error:  # shorter than one 400 ms gating block
        raise PromptError(f"too short to measure its loudness: {error}") from error
    if not math.isfinite(loudness):
        raise PromptError("cannot loudness-normalise silence")
    gain = 10 ** ((target_lufs - loudness) / 20)
    peak = float(np.abs(audio).max())
    gain = min(gain, PEAK_LIMIT / peak)
    return np.asarray(audio * gain, np.float32)
