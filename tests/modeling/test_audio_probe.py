"""Probing: what a track is, and a clear AudioError for everything that is not a track."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from modeling.audio import AudioError
from modeling.audio.probe import checksum, probe_audio

RATE = 8000


@pytest.fixture
def noise() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal((3 * RATE, 2))).astype(np.float32)


def ffmpeg_convert(source: Path, target: Path, *args: str) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(source), *args, str(target)], check=True
    )
    return target


@pytest.mark.parametrize(
    ("suffix", "subtype", "container", "bits"),
    [("wav", "PCM_16", "WAV", 16), ("flac", "PCM_24", "FLAC", 24), ("wav", "FLOAT", "WAV", 32)],
)
def test_soundfile_formats(
    tmp_path: Path, noise: np.ndarray, suffix: str, subtype: str, container: str, bits: int
) -> None:
    path = tmp_path / f"track.{suffix}"
    sf.write(path, noise, RATE, subtype=subtype)
    info = probe_audio(path)
    assert (info.sample_rate, info.channels, info.frames) == (RATE, 2, 3 * RATE)
    assert info.duration_s == pytest.approx(3.0)
    assert (info.container, info.codec, info.bits_per_sample) == (container, subtype, bits)
    assert info.reader == "soundfile"


@pytest.mark.parametrize(("suffix", "codec"), [("mp3", "mp3"), ("m4a", "aac")])
def test_compressed_formats_go_through_ffprobe(
    tmp_path: Path, noise: np.ndarray, suffix: str, codec: str
) -> None:
    wav = tmp_path / "track.wav"
    sf.write(wav, noise, 16000)
    info = probe_audio(ffmpeg_convert(wav, tmp_path / f"track.{suffix}"))
    assert info.reader == "ffmpeg"
    assert info.codec == codec
    assert (info.sample_rate, info.channels) == (16000, 2)
    assert info.duration_s == pytest.approx(1.5, abs=0.1)


def write_truncated(path: Path, noise: np.ndarray) -> None:
    sf.write(path, noise, RATE)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])


def write_truncated_mp3(path: Path, noise: np.ndarray) -> None:
    wav = path.with_suffix(".wav")
    sf.write(wav, np.tile(noise, (4, 1)), 16000)
    ffmpeg_convert(wav, path, "-b:a", "128k")
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 3])


def write_video_only(path: Path, noise: np.ndarray) -> None:
    video = ["-f", "lavfi", "-i", "color=c=blue:s=32x32:d=1", "-c:v", "mpeg4"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *video, str(path)], check=True)


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("empty.wav", lambda path, noise: path.write_bytes(b""), "empty"),
        (
            "notes.wav",
            lambda path, noise: path.write_text("title,artist\nBlue Moon,Ada\n"),
            "text file",
        ),
        (
            "noise.wav",
            lambda path, noise: path.write_bytes(np.random.default_rng(1).bytes(4096)),
            "not a readable audio file",
        ),
        ("cut.wav", write_truncated, "truncated"),
        ("cut.flac", write_truncated, "truncated"),
        ("cut.mp3", write_truncated_mp3, "truncated"),
        ("video.mp4", write_video_only, "no audio stream"),
    ],
)
def test_unusable_files_raise_audio_error(
    tmp_path: Path,
    noise: np.ndarray,
    name: str,
    make: Callable[[Path, np.ndarray], object],
    message: str,
) -> None:
    path = tmp_path / name
    make(path, noise)
    with pytest.raises(AudioError, match=message) as raised:
        probe_audio(path)
    assert name in str(raised.value), "the message names the file"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="not found"):
        probe_audio(tmp_path / "gone.wav")


def test_checksum_is_sha256_of_the_content(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    content = np.random.default_rng(2).bytes(3 * 1024 * 1024 + 17)
    path.write_bytes(content)
    assert checksum(path) == hashlib.sha256(content).hexdigest()
    path.write_bytes(content[:-1] + b"\x00")
    assert checksum(path) != hashlib.sha256(content).hexdigest()
