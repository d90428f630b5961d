"""Decoding a time range of a compressed track with ffmpeg, straight into float32 PCM.

Input seeking (`-ss`/`-t` before `-i`) makes ffmpeg jump to the nearest packet and decode
only the requested range, discarding the pre-roll, so a 10 s excerpt of a 3-minute MP3 costs
about 10 s of decoding, not 3 minutes. The samples come back through a pipe: no temp WAV.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from modeling.audio import AudioError

DECODE_TIMEOUT_S = 120


def ffmpeg_binary() -> str:
    """Path of the `ffmpeg` on PATH, or `AudioError` telling the user to install it."""
    found = shutil.which("ffmpeg")
    if found is None:
        raise AudioError("ffmpeg is not installed (or not on PATH); install it to read this file")
    return found


def stderr_tail(stderr: bytes | str, lines: int = 4) -> str:
    """The last lines of ffmpeg's stderr, which is where it says what went wrong."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    return " | ".join(text.strip().splitlines()[-lines:]) or "no message"


def decode_range(path: Path, *, start_s: float, duration_s: float, channels: int) -> np.ndarray:
    """Samples of the first audio stream from `start_s` for `duration_s`, as (frames, channels)
    float32 at the source rate and channel count. Fewer frames come back when the stream ends
    early; the caller decides whether that is an error."""
    if channels <= 0:
        raise AudioError(f"{Path(path).name}: the audio stream reports {channels} channels")
    command = [
        ffmpeg_binary(),
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-ss",
        f"{max(0.0, start_s):.6f}",
        "-t",
        f"{duration_s:.6f}",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-vn",
        "-f",
        "f32le",
        "-acodec",
        "pcm_f32le",
        "pipe:1",
    ]
    try:
        run = subprocess.run(command, capture_output=True, timeout=DECODE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as error:
        raise AudioError(f"{Path(path).name}: ffmpeg took over {DECODE_TIMEOUT_S} s") from error
    if run.returncode != 0:
        raise AudioError(
            f"{Path(path).name}: ffmpeg could not decode the file ({stderr_tail(run.stderr)})"
        )
    samples = np.frombuffer(run.stdout, dtype="<f4")
    usable = len(samples) - len(samples) % channels
    return samples[:usable].reshape(-1, channels).astype(np.float32)
