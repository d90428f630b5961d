"""What a track is (duration, rate, channels, codec) before any of it is decoded.

Formats libsndfile reads natively (WAV, FLAC, AIFF, Ogg) are opened with soundfile, which
reads only the header; everything else (MP3, M4A/AAC, Opus in Matroska, ...) goes through
ffprobe. Either way the end of the file is checked, because a truncated upload is common and
its header still claims the full length.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from modeling.audio import AudioError
from modeling.audio.decode import decode_range

# libsndfile's own containers, which it seeks sample-exactly; MP3 is left to ffmpeg, whose
# gapless handling (LAME/iTunes headers) is the reference everyone else compares to.
SOUNDFILE_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "W64", "FLAC", "AIFF", "OGG", "CAF"})
TAIL_SECONDS = 0.5
FFPROBE_TIMEOUT_S = 30


@dataclass(frozen=True)
class AudioInfo:
    """A track's properties as its container reports them."""

    path: Path
    duration_s: float
    sample_rate: int
    channels: int
    frames: int  # exact for soundfile formats, duration x rate for ffprobe ones
    container: str  # "WAV", "FLAC", "mp3", "mov,mp4,m4a,3gp,3g2,mj2", ...
    codec: str  # "PCM_16", "FLAC"... (libsndfile subtype) or ffprobe's codec_name
    bits_per_sample: int | None
    reader: str  # "soundfile" or "ffmpeg": which decoder the excerpt will use


def checksum(path: Path) -> str:
    """SHA-256 of the file's bytes, read in chunks (tracks can be GBs), as hex."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def probe_audio(path: Path) -> AudioInfo:
    """Describe `path` or raise `AudioError` saying why it is not usable audio."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path.name}: file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path.name}: the file is empty (0 bytes)")
    info = _probe_soundfile(path)
    if info is None:
        info = _probe_ffprobe(path)
    if info.frames <= 0 or info.duration_s <= 0:
        raise AudioError(f"{path.name}: the audio stream holds no samples")
    _check_tail(info)
    return info


def _probe_soundfile(path: Path) -> AudioInfo | None:
    try:
        with sf.SoundFile(path) as handle:
            if handle.format not in SOUNDFILE_FORMATS:
                return None
            frames, rate, channels = handle.frames, handle.samplerate, handle.channels
            container, subtype = handle.format, handle.subtype
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    if container in {"WAV", "WAVEX"}:
        _check_riff_complete(path)
    bits = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32}
    return AudioInfo(
        path=path,
        duration_s=frames / rate,
        sample_rate=rate,
        channels=channels,
        frames=frames,
        container=container,
        codec=subtype,
        bits_per_sample=bits.get(subtype, 64 if subtype == "DOUBLE" else None),
        reader="soundfile",
    )


def _check_riff_complete(path: Path) -> None:
    """libsndfile silently shortens a WAV whose data chunk was cut off; the header's declared
    size says what the file should hold, so compare it with what is there."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        if handle.read(12)[8:12] != b"WAVE":
            return
        position = 12
        while position + 8 <= size:
            handle.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                # 0 and 0xFFFFFFFF are written by streaming encoders that never knew the size
                if chunk_size not in (0, 0xFFFFFFFF) and position + 8 + chunk_size > size:
                    missing = position + 8 + chunk_size - size
                    raise AudioError(
                        f"{path.name}: the file is truncated ({missing} bytes of audio data "
                        "missing); upload it again"
                    )
                return
            position += 8 + chunk_size + (chunk_size & 1)


def _probe_ffprobe(path: Path) -> AudioInfo:
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise AudioError(f"{path.name}: not a WAV/FLAC/AIFF/Ogg file and ffprobe is not installed")
    run = subprocess.run(
        [ffprobe, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=FFPROBE_TIMEOUT_S,
        check=False,
    )
    if run.returncode != 0:
        raise AudioError(f"{path.name}: {_unreadable_reason(path, run.stderr)}")
    report = json.loads(run.stdout or "{}")
    streams = [s for s in report.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        kinds = sorted({s.get("codec_type", "?") for s in report.get("streams", [])})
        found = f" (it holds {', '.join(kinds)} only)" if kinds else ""
        raise AudioError(f"{path.name}: no audio stream in the file{found}")
    stream, container = streams[0], report.get("format", {})
    duration = _first_float(stream.get("duration"), container.get("duration"))
    rate = int(stream.get("sample_rate") or 0)
    if duration is None or rate <= 0:
        raise AudioError(f"{path.name}: the audio stream has no readable duration or rate")
    bits = int(stream.get("bits_per_raw_sample") or stream.get("bits_per_sample") or 0)
    return AudioInfo(
        path=path,
        duration_s=duration,
        sample_rate=rate,
        channels=int(stream.get("channels") or 0),
        frames=round(duration * rate),
        container=str(container.get("format_name", "?")),
        codec=str(stream.get("codec_name", "?")),
        bits_per_sample=bits or None,
        reader="ffmpeg",
    )


def _unreadable_reason(path: Path, stderr: str) -> str:
    with path.open("rb") as handle:
        head = handle.read(512)
    if head and all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head):
        return "this is a text file, not audio (check what was exported under this name)"
    tail = stderr.strip().splitlines()[-1:] or ["unknown format"]
    return f"not a readable audio file, corrupt or of an unknown format (ffprobe: {tail[0]})"


def _first_float(*values: object) -> float | None:
    for value in values:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if np.isfinite(number) and number > 0:
            return number
    return None


def _check_tail(info: AudioInfo) -> None:
    """Decode the last fraction of a second: a file cut short fails here, before any work."""
    tail_frames = min(info.frames, max(1, round(TAIL_SECONDS * info.sample_rate)))
    if info.reader == "soundfile":
        try:
            with sf.SoundFile(info.path) as handle:
                handle.seek(info.frames - tail_frames)
                got = len(handle.read(tail_frames, dtype="float32", always_2d=True))
        except (sf.LibsndfileError, RuntimeError) as error:
            message = f"{info.path.name}: the file is truncated or corrupt ({error})"
            raise AudioError(message) from error
        if got < tail_frames:
            raise AudioError(f"{info.path.name}: the file is truncated (its end is missing)")
        return
    start = max(0.0, info.duration_s - TAIL_SECONDS)
    audio = decode_range(info.path, start_s=start, duration_s=TAIL_SECONDS, channels=info.channels)
    # compressed formats only know their length to a frame or so (1152 samples for MP3)
    if len(audio) < tail_frames // 4:
        raise AudioError(
            f"{info.path.name}: the file is truncated or corrupt: its last "
            f"{TAIL_SECONDS:.1f} s cannot be decoded"
        )
