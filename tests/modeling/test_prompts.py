"""Spoken prompts: espeak-ng speech, left/right digits, traps and the volume clip."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile

from modeling.prompts import (
    PromptError,
    digits_clip,
    load_prompt,
    speak,
    trap_clip,
    trap_message,
    volume_clip,
)
from tests.conftest import IN_CI, require_service

RATE = 44100
# Skipped on a laptop without the Debian packages; in CI they must be there.
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None and not IN_CI, reason="espeak-ng missing"
)
needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None and not IN_CI, reason="ffmpeg missing"
)


def music(seconds: float = 10.0, seed: int = 0) -> np.ndarray:
    """Stereo stand-in for a stimulus: a chord with a little noise."""
    t = np.arange(round(seconds * RATE)) / RATE
    chord = np.sin(2 * np.pi * np.outer(t, [220.0, 277.2, 329.6])).mean(axis=1)
    noise = np.random.default_rng(seed).standard_normal((t.size, 2))
    audio: np.ndarray = (0.3 * chord[:, None] + 0.02 * noise).astype(np.float32)
    return audio


def tone(seconds: float, frequency: float = 500.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def loudness(audio: np.ndarray) -> float:
    return float(pyloudnorm.Meter(RATE).integrated_loudness(audio))


@pytest.fixture(scope="module")
def message() -> np.ndarray:
    require_service("espeak-ng", shutil.which("espeak-ng") is not None, "apt-get install espeak-ng")
    return speak(trap_message("fair"))


@needs_espeak
def test_speak_gives_mono_float32_speech_at_the_asked_rate() -> None:
    speech = speak("seven", sample_rate=RATE)
    assert speech.dtype == np.float32
    assert speech.ndim == 1
    assert 0.2 * RATE < speech.size < 3 * RATE
    assert np.abs(speech).max() > 0.05
    low = speak("seven", sample_rate=16000)
    assert low.size == pytest.approx(speech.size * 16000 / RATE, rel=0.01)


def test_speak_without_espeak_is_a_clear_error() -> None:
    with pytest.raises(PromptError, match="not installed"):
        speak("seven", executable="espeak-ng-that-does-not-exist")


@needs_espeak
def test_speak_refuses_empty_text() -> None:
    with pytest.raises(PromptError, match="empty"):
        speak("   ")


def test_trap_messages_for_the_five_acr_answers() -> None:
    assert trap_message(1) == "This is an interruption, please select the answer bad."
    assert trap_message("Excellent") == trap_message(5)
    assert [trap_message(i).split()[-1] for i in range(1, 6)] == [
        "bad.",
        "poor.",
        "fair.",
        "good.",
        "excellent.",
    ]
    for wrong in (0, 6, "great"):
        with pytest.raises(PromptError, match="not an ACR answer"):
            trap_message(wrong)


def test_digits_clip_lays_out_recorded_digits_with_gaps() -> None:
    # Recordings without silence at their ends, so none is trimmed.
    recorded = {"3": np.full(17640, 0.25, np.float32), "7": np.full(22050, -0.25, np.float32)}
    clip = digits_clip("37", ("L", "R"), spoken=recorded, gap_s=0.6, edge_s=0.3)
    edge, gap = round(0.3 * RATE), round(0.6 * RATE)
    assert clip.shape == (edge + 17640 + gap + 22050 + edge, 2)
    left, right = clip[:, 0], clip[:, 1]
    assert not np.any((left != 0) & (right != 0))
    assert np.flatnonzero(left).max() < np.flatnonzero(right).min()  # 3 first, left ear
    assert not np.any(clip[:edge]) and not np.any(clip[-edge:])


@needs_espeak
def test_spoken_digits_play_only_in_their_channel() -> None:
    clip = digits_clip("374", ("L", "R", "L"))
    left, right = clip[:, 0], clip[:, 1]
    assert np.sum(left**2) > 0 and np.sum(right**2) > 0
    assert not np.any((left != 0) & (right != 0))
    only_left = digits_clip("52", ("L", "L"))
    assert np.sum(only_left[:, 0] ** 2) > 0
    assert not np.any(only_left[:, 1])


@needs_espeak
def test_digits_clip_at_the_stimuli_loudness() -> None:
    clip = digits_clip("374", ("L", "R", "L"), target_lufs=-23.0)
    assert loudness(clip) == pytest.approx(-23.0, abs=0.5)


def test_digits_clip_checks_its_arguments() -> None:
    with pytest.raises(PromptError, match="one channel"):
        digits_clip("37", ("L",))
    with pytest.raises(PromptError, match="'L' or 'R'"):
        digits_clip("37", ("L", "X"), spoken={"3": tone(0.3), "7": tone(0.3)})


def test_trap_clip_is_as_long_as_a_stimulus_and_ends_with_the_message() -> None:
    spoken = tone(3.0, 800.0)
    clip = trap_clip(music(), spoken, gap_s=0.3, fade_s=0.5)
    assert clip.shape == (10 * RATE, 2)
    message_start = 10 * RATE - spoken.size
    np.testing.assert_allclose(clip[message_start:, 0], spoken)
    np.testing.assert_allclose(clip[message_start:, 1], spoken)
    gap = clip[message_start - round(0.3 * RATE) : message_start]
    assert not np.any(gap)
    music_end = message_start - round(0.3 * RATE)
    assert np.abs(clip[music_end - 10 : music_end]).max() < 0.01  # faded out
    assert np.abs(clip[: RATE // 2]).max() > 0.1


@needs_espeak
def test_spoken_trap_has_speech_in_its_tail_and_the_target_loudness(
    message: np.ndarray,
) -> None:
    clip = trap_clip(music(), message, target_lufs=-23.0)
    assert clip.shape == (10 * RATE, 2)
    tail = clip[-message.size :]
    assert np.sqrt(np.mean(tail**2)) > 0.01
    assert loudness(tail) == pytest.approx(-23.0, abs=0.5)
    assert loudness(clip[: 3 * RATE]) == pytest.approx(-23.0, abs=1.0)
    assert np.abs(clip).max() <= 0.99


def test_trap_clip_rejects_a_message_longer_than_the_trap() -> None:
    with pytest.raises(PromptError, match="too long"):
        trap_clip(music(), tone(9.9))
    with pytest.raises(PromptError, match=r"needs .* of music"):
        trap_clip(music(2.0), tone(3.0))


def test_volume_clip_plays_at_the_target_and_fades() -> None:
    clip = volume_clip(music(), RATE, target_lufs=-23.0, seconds=5.0)
    assert clip.shape == (5 * RATE, 2)
    assert loudness(clip) == pytest.approx(-23.0, abs=0.5)
    assert clip[0].tolist() == [0.0, 0.0]
    assert np.abs(clip[-1]).max() < 1e-6


def test_load_prompt_reads_and_resamples_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "interruption.wav"
    soundfile.write(path, np.column_stack([tone(1.0), tone(1.0)]), RATE)
    mono = load_prompt(path, 16000)
    assert mono.dtype == np.float32
    assert mono.shape == (16000,)


@needs_ffmpeg
def test_load_prompt_decodes_other_formats_with_ffmpeg(tmp_path: Path) -> None:
    wav, m4a = tmp_path / "prompt.wav", tmp_path / "prompt.m4a"
    soundfile.write(wav, tone(1.0), RATE)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(wav), "-c:a", "aac", str(m4a)],
        check=True,
    )
    mono = load_prompt(m4a, RATE)
    assert abs(mono.size - RATE) < 0.1 * RATE
    assert np.sqrt(np.mean(mono**2)) > 0.1
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not audio")
    with pytest.raises(PromptError, match="could not decode"):
        load_prompt(garbage, RATE)


@needs_espeak
def test_a_recorded_prompt_replaces_the_synthetic_voice(tmp_path: Path) -> None:
    path = tmp_path / "my_voice.flac"
    soundfile.write(path, speak(trap_message(2), sample_rate=48000), 48000)
    clip = trap_clip(music(), load_prompt(path, RATE), target_lufs=-23.0)
    assert clip.shape == (10 * RATE, 2)
