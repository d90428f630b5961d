"""The lossy delivery file raters stream: AAC in an MP4 (.m4a) container.

The paper delivered HE-AAC at 320 kbps. ffmpeg's built-in encoder (`aac`) writes only
AAC-LC, so HE-AAC is used where the ffmpeg at hand was built with Fraunhofer's libfdk_aac,
and AAC-LC at the same bit rate otherwise. HE-AAC (SBR) is specified for core rates up to
48 kHz and is tuned for low bit rates, so libfdk may refuse it at 320 kbps or at 96 kHz; then
libfdk's AAC-LC is used and a warning says so. What was actually written (the profile ffmpeg
reports for the stream, the measured bit rate) is recorded per stimulus, never assumed.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modeling.audio import AudioError
from modeling.audio.decode import ffmpeg_binary, stderr_tail

DEFAULT_BITRATE = "320k"
ENCODE_TIMEOUT_S = 300
FDK = "libfdk_aac"
NATIVE = "aac"
# ffmpeg's own encoder: no perceptual noise substitution (it would replace noise-like bands,
# the very hiss raters judge, with synthetic noise) and no intensity stereo (it merges the
# channels' high bands, where crackle differs between groove walls). Both are tools to save
# bits at low rates; at 320 kbps they cost fidelity (and CPU) for nothing.
NATIVE_OPTIONS = ("-aac_pns", "0", "-aac_is", "0")


@dataclass
class Encoded:
    """The delivery file and how it was made."""

    path: Path
    codec_name: str  # "HE-AAC (libfdk_aac)", "AAC-LC (ffmpeg aac)", ...
    encoder: str  # ffmpeg encoder name: "libfdk_aac" or "aac"
    encoder_options: str  # the ffmpeg codec options used, e.g. "-aac_pns 0 -aac_is 0"
    profile: str  # as ffmpeg reports the stream it wrote: "HE-AAC", "LC"
    bitrate: str  # requested, as given to ffmpeg: "320k"
    measured_kbps: float  # file size over duration: what the encoder actually spent
    warnings: list[str] = field(default_factory=list)


@functools.cache
def _listed_encoders(ffmpeg: str) -> str:
    run = subprocess.run(
        [ffmpeg, "-hide_banner", "-encoders"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return run.stdout


def available_aac_encoder() -> str:
    """ "libfdk_aac" when `ffmpeg -encoders` lists it, else ffmpeg's own "aac" (cached per
    ffmpeg binary)."""
    listing = _listed_encoders(ffmpeg_binary())
    listed = {line.split()[1] for line in listing.splitlines() if len(line.split()) > 1}
    return FDK if FDK in listed else NATIVE


def encode_delivery(
    audio: np.ndarray, sample_rate: int, out_path: Path, bitrate: str = DEFAULT_BITRATE
) -> Encoded:
    """Encode float (frames, channels) `audio` to AAC in an MP4 file at `out_path`, fed to
    ffmpeg through a pipe, with the moov atom first (`+faststart`) so browsers can start
    playing before the whole file has arrived."""
    data = np.ascontiguousarray(audio, dtype="<f4")
    if data.ndim == 1:
        data = data[:, None]
    out_path = Path(out_path)
    encoder = available_aac_encoder()
    warnings: list[str] = []
    if encoder == FDK:
        options: tuple[str, ...] = ("-profile:a", "aac_he")
        try:
            log = _run_ffmpeg(data, sample_rate, out_path, bitrate, [FDK, *options])
            profile_name = "HE-AAC"
        except AudioError as error:
            warnings.append(f"libfdk_aac refused HE-AAC at {bitrate}, used AAC-LC: {error}")
            options = ("-profile:a", "aac_low")
            log = _run_ffmpeg(data, sample_rate, out_path, bitrate, [FDK, *options])
            profile_name = "AAC-LC"
        codec_name = f"{profile_name} (libfdk_aac)"
    else:
        options = NATIVE_OPTIONS
        log = _run_ffmpeg(data, sample_rate, out_path, bitrate, [NATIVE, *options])
        codec_name = "AAC-LC (ffmpeg aac)"
    warnings += [line.strip() for line in log.splitlines() if "clamp" in line.lower()]
    duration_s = len(data) / sample_rate
    measured_kbps = out_path.stat().st_size * 8 / duration_s / 1000 if duration_s > 0 else 0.0
    return Encoded(
        path=out_path,
        codec_name=codec_name,
        encoder=encoder,
        encoder_options=" ".join(options),
        profile=_written_profile(log),
        bitrate=bitrate,
        measured_kbps=round(measured_kbps, 1),
        warnings=warnings,
    )


def _run_ffmpeg(
    data: np.ndarray, sample_rate: int, out_path: Path, bitrate: str, codec: list[str]
) -> str:
    """Run one encode; returns ffmpeg's log (info level: it names the profile written)."""
    command = [
        ffmpeg_binary(),
        "-hide_banner",
        "-nostats",
        "-v",
        "info",
        "-y",
        "-f",
        "f32le",
        "-ar",
        str(sample_rate),
        "-ac",
        str(data.shape[1]),
        "-i",
        "pipe:0",
        "-c:a",
        *codec,
        "-b:a",
        bitrate,
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(out_path),
    ]
    try:
        run = subprocess.run(
            command, input=data.tobytes(), capture_output=True, timeout=ENCODE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as error:
        message = f"ffmpeg took over {ENCODE_TIMEOUT_S} s to encode {out_path.name}"
        raise AudioError(message) from error
    if run.returncode != 0 or not out_path.is_file() or out_path.stat().st_size == 0:
        out_path.unlink(missing_ok=True)
        raise AudioError(
            f"ffmpeg could not encode {out_path.name} with {codec[0]} at {bitrate} "
            f"(exit {run.returncode}): {stderr_tail(run.stderr)}"
        )
    return run.stderr.decode("utf-8", "replace")


def _written_profile(stderr: str) -> str:
    """The AAC profile ffmpeg reports for the stream it wrote ("LC", "HE-AAC", ...): read
    from its own log rather than a second process, which costs as much as the encode."""
    output = stderr[stderr.find("Output #0") :] if "Output #0" in stderr else ""
    found = re.search(r"Audio: aac \(([^)]+)\)", output)
    return found.group(1) if found else "unknown"
