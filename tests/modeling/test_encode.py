"""AAC delivery: the encoder the ffmpeg at hand offers, an MP4 that streams, honest records."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modeling.audio import AudioError
from modeling.audio.encode import _listed_encoders, available_aac_encoder, encode_delivery

RATE = 16_000


@pytest.fixture
def music() -> np.ndarray:
    t = np.arange(2 * RATE) / RATE
    left, right = np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 550 * t)
    return (0.3 * np.column_stack([left, right])).astype(np.float32)


@pytest.fixture
def fresh_encoder_cache() -> Iterator[None]:
    _listed_encoders.cache_clear()
    yield
    _listed_encoders.cache_clear()


def top_level_boxes(path: Path) -> list[str]:
    content, boxes, position = path.read_bytes(), [], 0
    while position + 8 <= len(content):
        size = int.from_bytes(content[position : position + 4], "big")
        boxes.append(content[position + 4 : position + 8].decode("latin-1"))
        position += size if size >= 8 else len(content)
    return boxes


def test_encodes_streamable_aac_in_mp4(tmp_path: Path, music: np.ndarray) -> None:
    out = tmp_path / "stimulus.m4a"
    encoded = encode_delivery(music, RATE, out, bitrate="96k")
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(probe.stdout)
    stream = report["streams"][0]
    assert (stream["codec_name"], int(stream["sample_rate"]), stream["channels"]) == (
        "aac",
        RATE,
        2,
    )
    assert "mp4" in report["format"]["format_name"]
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat"), "+faststart puts the index first"
    assert encoded.encoder == available_aac_encoder()
    assert encoded.bitrate == "96k"
    assert encoded.measured_kbps > 0
    if encoded.encoder == "aac":
        assert (encoded.codec_name, encoded.profile) == ("AAC-LC (ffmpeg aac)", "LC")
        assert encoded.encoder_options == "-aac_pns 0 -aac_is 0"


def test_encoder_failure_carries_ffmpeg_message(tmp_path: Path, music: np.ndarray) -> None:
    with pytest.raises(AudioError, match="ffmpeg could not encode") as raised:
        encode_delivery(music, RATE, tmp_path / "bad.m4a", bitrate="banana")
    assert "Unable to parse option value" in str(raised.value)
    assert not (tmp_path / "bad.m4a").exists()


FAKE_FFMPEG = """#!/bin/sh
# stands in for an ffmpeg built with libfdk_aac: lists it, logs calls, writes a dummy file
echo "$@" >> "$FAKE_LOG"
case "$*" in
  *-encoders*) echo " A..... aac   AAC"; echo " A..... libfdk_aac   Fraunhofer FDK AAC";
               exit 0;;
esac
cat > /dev/null
case "$*" in
  *aac_he*) if [ -n "$REFUSE_HE" ]; then echo "Unable to set the bitrate" >&2; exit 1; fi
            profile="HE-AAC";;
  *) profile="LC";;
esac
for last; do :; done
printf 'fake' > "$last"
echo "Output #0, mp4, to '$last':" >&2
echo "  Stream #0:0: Audio: aac ($profile) (mp4a / 0x6134706D), 44100 Hz, stereo" >&2
"""


@pytest.fixture
def fake_fdk_ffmpeg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_encoder_cache: None
) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "ffmpeg"
    script.write_text(FAKE_FFMPEG)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    return log


def test_he_aac_with_libfdk_when_present(
    tmp_path: Path, music: np.ndarray, fake_fdk_ffmpeg: Path
) -> None:
    assert available_aac_encoder() == "libfdk_aac"
    encoded = encode_delivery(music, RATE, tmp_path / "s.m4a")
    assert (encoded.codec_name, encoded.profile) == ("HE-AAC (libfdk_aac)", "HE-AAC")
    assert encoded.warnings == []
    call = fake_fdk_ffmpeg.read_text().splitlines()[-1]
    assert "-c:a libfdk_aac -profile:a aac_he -b:a 320k" in call
    assert encoded.encoder_options == "-profile:a aac_he"
    assert "-movflags +faststart" in call


def test_libfdk_falls_back_to_lc_when_he_is_refused(
    tmp_path: Path, music: np.ndarray, fake_fdk_ffmpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFUSE_HE", "1")
    encoded = encode_delivery(music, RATE, tmp_path / "s.m4a")
    assert (encoded.codec_name, encoded.profile) == ("AAC-LC (libfdk_aac)", "LC")
    assert encoded.encoder_options == "-profile:a aac_low"
    assert "refused HE-AAC" in encoded.warnings[0]
    assert "Unable to set the bitrate" in encoded.warnings[0]
