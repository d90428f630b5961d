"""A stimulus end to end: master and delivery files, and a record of how they were made."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from modeling.audio import AudioError
from modeling.audio.loudness import integrated_loudness, true_peak_db
from modeling.audio.stimulus import StimulusConfig, deliver_stimulus, prepare_stimulus
from modeling.synth import synth_track

RATE = 16_000


SHORT = StimulusConfig(excerpt_seconds=2.0)  # the paper's 10 s where it matters, else quick


def write_track(
    folder: Path, name: str, *, seconds: float = 3, rate: int = RATE, channels: int = 2, **kw: float
) -> Path:
    audio = synth_track(seconds=seconds, sample_rate=rate, channels=channels, seed=5, faults=kw)
    path = folder / name
    sf.write(path, audio, rate, subtype="PCM_16")
    return path


def test_prepares_master_and_delivery(tmp_path: Path) -> None:
    source = write_track(tmp_path, "Blue Moon - Ada Quartet.wav", seconds=12, hiss=0.3)
    result = prepare_stimulus(source, tmp_path / "out", name="k3f9q2")
    assert result.master_path == tmp_path / "out" / "k3f9q2.flac"
    assert result.delivery_path == tmp_path / "out" / "k3f9q2.m4a"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["k3f9q2.flac", "k3f9q2.m4a"]
    master, rate = sf.read(result.master_path, dtype="float32")
    info = sf.info(result.master_path)
    assert (info.format, info.subtype, rate, master.shape) == ("FLAC", "PCM_24", RATE, (160_000, 2))
    assert integrated_loudness(master, rate) == pytest.approx(-23.0, abs=0.5)
    assert true_peak_db(master, rate) <= -1.0
    np.testing.assert_allclose(result.audio, master, atol=1e-6)
    assert (result.start_s, result.end_s) == pytest.approx((1.0, 11.0))
    assert result.source_duration_s == pytest.approx(12.0)
    assert result.codec in {"AAC-LC (ffmpeg aac)", "HE-AAC (libfdk_aac)", "AAC-LC (libfdk_aac)"}
    assert result.bitrate == "320k"
    assert not (result.mono_source or result.downmixed or result.gain_limited)
    record = result.to_record()
    assert "audio" not in record
    assert record["config_target_lufs"] == -23.0
    assert json.loads(json.dumps(record))["delivery_path"].endswith("k3f9q2.m4a")


def test_mono_source_is_played_to_both_ears(tmp_path: Path) -> None:
    source = write_track(tmp_path, "m.flac", channels=1)
    result = prepare_stimulus(source, tmp_path, name="m1", config=SHORT)
    assert result.mono_source
    assert (result.source_channels, result.channels) == (1, 2)
    assert np.array_equal(result.audio[:, 0], result.audio[:, 1])
    assert result.lufs_after == pytest.approx(-23.0, abs=0.5)
    assert any("mono" in warning for warning in result.warnings)


def test_six_channels_and_96_khz(tmp_path: Path) -> None:
    source = write_track(tmp_path, "s.wav", channels=6)
    six = prepare_stimulus(source, tmp_path, name="s6", config=SHORT)
    assert six.downmixed
    assert (six.source_channels, six.channels) == (6, 2)
    source = write_track(tmp_path, "h.flac", rate=96_000)
    hires = prepare_stimulus(source, tmp_path, name="h96", config=SHORT)
    assert hires.sample_rate == 96_000
    assert sf.info(hires.master_path).samplerate == 96_000
    assert any("96000 Hz" in warning for warning in hires.warnings)


def test_gain_limited_stimulus_respects_the_ceiling(tmp_path: Path) -> None:
    config = StimulusConfig(excerpt_seconds=2.0, target_lufs=-6.0)
    result = prepare_stimulus(write_track(tmp_path, "t.wav"), tmp_path, name="hot", config=config)
    assert result.gain_limited
    assert result.true_peak_db <= -1.0
    master, rate = sf.read(result.master_path, dtype="float32")
    assert true_peak_db(master, rate) <= -1.0 + 1e-3  # 24-bit quantisation only
    assert any("gain limited" in warning for warning in result.warnings)


def test_failures_leave_no_files(tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros((12 * RATE, 2), np.float32), RATE)
    short = tmp_path / "short.wav"
    sf.write(short, np.full((5 * RATE, 2), 0.1, np.float32), RATE)
    out = tmp_path / "out"
    with pytest.raises(AudioError, match="silent"):
        prepare_stimulus(silent, out, name="a1")
    with pytest.raises(AudioError, match=r"the excerpt needs 10\.0 s"):
        prepare_stimulus(short, out, name="a2")
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("name", ["../escape", "Blue Moon", "", ".hidden"])
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="stimulus name"):
        prepare_stimulus(tmp_path / "any.wav", tmp_path, name=name)


def test_never_overwrites_the_source(tmp_path: Path) -> None:
    source = write_track(tmp_path, "take1.flac")
    before = source.read_bytes()
    with pytest.raises(ValueError, match="overwrite its source"):
        prepare_stimulus(source, tmp_path, name="take1", config=SHORT)
    assert source.read_bytes() == before


def test_master_first_delivery_later(tmp_path: Path) -> None:
    """Corpus preparation writes only masters; the stimuli raters hear are encoded later."""
    source = write_track(tmp_path, "t.wav", seconds=4)
    result = prepare_stimulus(source, tmp_path / "out", name="m7", config=SHORT, deliver=False)
    assert result.delivery_path is None
    assert (result.codec, result.bitrate) == ("", "")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m7.flac"]

    encoded = deliver_stimulus(result.master_path, tmp_path / "out", name="m7", bitrate="320k")

    assert encoded.path == tmp_path / "out" / "m7.m4a"
    assert encoded.codec_name in {
        "AAC-LC (ffmpeg aac)",
        "HE-AAC (libfdk_aac)",
        "AAC-LC (libfdk_aac)",
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m7.flac", "m7.m4a"]
    with pytest.raises(AudioError, match="can't read the master"):
        deliver_stimulus(source.with_suffix(".missing"), tmp_path, name="x1")
