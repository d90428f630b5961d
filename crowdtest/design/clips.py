"""The audio of a design, read from and written to the media storage: spoken prompts,
trapping stimuli, the setup's digits clips and its volume clip.

The sound itself is made by `modeling.prompts` and encoded like the stimuli
(`modeling.audio.encode`). Every clip a rater hears is stored beside the stimuli under an
opaque name (`stimuli/<experiment>/<key>.m4a`), so that neither a storage URL nor a file
name tells a trap, a digits clip or a rated stimulus apart.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile
from django.utils import translation
from django.utils.translation import gettext, pgettext

from crowdtest import languages
from crowdtest.corpus.models import new_media_key
from modeling.audio import AudioError
from modeling.audio.encode import encode_delivery
from modeling.comparison import TRAP_ANSWERS
from modeling.prompts import (
    Audio,
    digits_clip,
    load_prompt,
    speak,
    trap_clip,
    volume_clip,
)

PROMPT_RATE = 44_100
# The words spoken, marked for translation (locale/): the ACR labels are those of the
# rating buttons, so a trap asks for the answer by the name the rater reads.
DIGIT_WORDS = (
    lambda: pgettext("digit", "zero"),
    lambda: pgettext("digit", "one"),
    lambda: pgettext("digit", "two"),
    lambda: pgettext("digit", "three"),
    lambda: pgettext("digit", "four"),
    lambda: pgettext("digit", "five"),
    lambda: pgettext("digit", "six"),
    lambda: pgettext("digit", "seven"),
    lambda: pgettext("digit", "eight"),
    lambda: pgettext("digit", "nine"),
)
ACR_WORDS = {
    1: lambda: pgettext("acr", "Bad"),
    2: lambda: pgettext("acr", "Poor"),
    3: lambda: pgettext("acr", "Fair"),
    4: lambda: pgettext("acr", "Good"),
    5: lambda: pgettext("acr", "Excellent"),
}
# The answers of the comparison methods' scales, by the names on the rater's buttons
# (P.808 Annex D Table D.1, Annex E Table E.1, and a paired preference).
SCALE_WORDS: dict[str, dict[int, Callable[[], str]]] = {
    "acr": ACR_WORDS,
    "dcr": {
        5: lambda: pgettext("dcr", "Degradation is inaudible"),
        4: lambda: pgettext("dcr", "Degradation is audible but not annoying"),
        3: lambda: pgettext("dcr", "Degradation is slightly annoying"),
        2: lambda: pgettext("dcr", "Degradation is annoying"),
        1: lambda: pgettext("dcr", "Degradation is very annoying"),
    },
    "ccr": {
        3: lambda: pgettext("ccr", "Much better"),
        2: lambda: pgettext("ccr", "Better"),
        1: lambda: pgettext("ccr", "Slightly better"),
        0: lambda: pgettext("ccr", "About the same"),
        -1: lambda: pgettext("ccr", "Slightly worse"),
        -2: lambda: pgettext("ccr", "Worse"),
        -3: lambda: pgettext("ccr", "Much worse"),
    },
    "pairwise": {
        1: lambda: pgettext("pairwise", "The first"),
        2: lambda: pgettext("pairwise", "The second"),
    },
}
DIGIT_KEYS = tuple(f"digit-{d}" for d in range(1, 10))  # zero is never asked (see allocation)
TRAP_KEYS = tuple(f"trap-{answer}" for answer in range(1, 6))


def trap_key(method: str, answer: int) -> str:
    """The prompt asking for `answer` on `method`'s scale: trap-3 (ACR), trap-ccr-m2."""
    if method == "acr":
        return f"trap-{answer}"
    return f"trap-{method}-{'m' if answer < 0 else ''}{abs(answer)}"


def trap_keys(method: str) -> tuple[str, ...]:
    """The trap prompts a test of `method` needs, one per answer its traps ask for."""
    return tuple(trap_key(method, answer) for answer in TRAP_ANSWERS[method])


TRAP_ANSWER_OF = {
    trap_key(method, answer): (method, answer)
    for method, answers in TRAP_ANSWERS.items()
    for answer in answers
}
PROMPT_KEYS = DIGIT_KEYS + tuple(TRAP_ANSWER_OF)
# The silence between the two versions of a comparison clip.
PAIR_GAP_S = 1.0
# Traps last as long as the stimuli; when the stimuli are too short for the message, the
# trap keeps this much music before it and is longer (the design records a warning).
MIN_TRAP_MUSIC_S = 2.0
TRAP_GAP_S = 0.3
# Longest recording accepted as an uploaded prompt.
MAX_PROMPT_SECONDS = {"digit": 3.0, "trap": 8.0}


def prompt_text(key: str, language: str = languages.DEFAULT) -> str:
    """What a prompt says in `language`: a digit's word, or the trap message for an
    answer of the test method's scale (ITU-T P.808's "This is an interruption, please
    select the answer X")."""
    value = key.partition("-")[2]
    with translation.override(language):
        if key in DIGIT_KEYS:
            return DIGIT_WORDS[int(value)]()
        if key in TRAP_ANSWER_OF:
            method, answer = TRAP_ANSWER_OF[key]
            label = SCALE_WORDS[method][answer]().lower()
            return gettext("This is an interruption, please select the answer %(label)s.") % {
                "label": label
            }
    raise ValueError(f"unknown prompt {key!r}; known: {', '.join(PROMPT_KEYS)}")


def prompt_kind(key: str) -> str:
    return key.partition("-")[0]


@contextmanager
def local_file(field: FieldFile) -> Iterator[Path]:
    """A local path to a stored file: the file itself on the file system, else a copy."""
    try:
        yield Path(field.path)
        return
    except NotImplementedError:  # remote storage (S3)
        pass
    suffix = Path(field.name or "").suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as copy:
        with field.open("rb") as handle:
            shutil.copyfileobj(handle, copy)
        copy.flush()
        yield Path(copy.name)


def read_audio(field: FieldFile) -> tuple[np.ndarray, int]:
    """A stored lossless file (a stimulus master) as float32 (frames, channels)."""
    try:
        with local_file(field) as path:
            audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(f"cannot read {field.name}: {exc}") from exc
    return audio, int(rate)


def read_prompt(field: FieldFile, sample_rate: int) -> Audio:
    with local_file(field) as path:
        return load_prompt(path, sample_rate)


def synthesise_prompt(key: str, experiment_id: int, language: str = languages.DEFAULT) -> str:
    """Speak a prompt with espeak-ng's voice for `language` and store it (FLAC); returns
    the storage name."""
    speech = speak(
        prompt_text(key, language), sample_rate=PROMPT_RATE, voice=languages.voice(language)
    )
    with tempfile.TemporaryDirectory(prefix="crowdtest-prompt-") as folder:
        path = Path(folder) / "prompt.flac"
        soundfile.write(path, speech, PROMPT_RATE, format="FLAC")
        return store(path, f"prompts/{experiment_id}/{new_media_key()}.flac")


def store(path: Path, name: str) -> str:
    with path.open("rb") as handle:
        return default_storage.save(name, File(handle))


@dataclass(frozen=True)
class StoredClip:
    """A clip written to the storage, ready for a model row."""

    media_key: str
    name: str
    duration_s: float


def store_clip(
    audio: np.ndarray, sample_rate: int, *, experiment_id: int, bitrate_kbps: int
) -> StoredClip:
    """Encode a clip like a stimulus's delivery file and store it under an opaque name."""
    key = new_media_key()
    with tempfile.TemporaryDirectory(prefix="crowdtest-clip-") as folder:
        encoded = encode_delivery(
            audio, sample_rate, Path(folder) / f"{key}.m4a", f"{bitrate_kbps}k"
        )
        name = store(encoded.path, f"stimuli/{experiment_id}/{key}.m4a")
    return StoredClip(media_key=key, name=name, duration_s=round(len(audio) / sample_rate, 3))


def trap_seconds(messages: list[Audio], sample_rate: int, excerpt_seconds: float) -> float:
    """How long every trap lasts: the stimuli's length, unless the longest message and a
    little music do not fit in it."""
    longest = max(len(message) for message in messages) / sample_rate
    needed = longest + TRAP_GAP_S + min(MIN_TRAP_MUSIC_S, excerpt_seconds)
    return float(max(excerpt_seconds, np.ceil(needed * 10) / 10))


def make_trap(
    music: np.ndarray, message: Audio, sample_rate: int, *, seconds: float, target_lufs: float
) -> Audio:
    frames = round(seconds * sample_rate)
    if len(music) < frames:  # only when the stimuli are shorter than the message
        music = np.resize(music, (frames, *music.shape[1:]))
    return trap_clip(
        music,
        message,
        sample_rate=sample_rate,
        total_seconds=seconds,
        gap_s=TRAP_GAP_S,
        target_lufs=target_lufs,
    )


def make_digits(
    digits: str,
    channels: tuple[str, ...],
    spoken: dict[str, Audio],
    sample_rate: int,
    *,
    target_lufs: float,
) -> Audio:
    return digits_clip(
        digits, channels, sample_rate=sample_rate, spoken=spoken, target_lufs=target_lufs
    )


def make_volume(
    music: np.ndarray, sample_rate: int, *, seconds: float, target_lufs: float
) -> Audio:
    return volume_clip(music, sample_rate, target_lufs=target_lufs, seconds=seconds)


def delete_files(names: list[str]) -> None:
    """Remove files a replaced design no longer uses (after its transaction committed)."""
    for name in names:
        if name and default_storage.exists(name):
            default_storage.delete(name)


def make_pair(first: np.ndarray, second: np.ndarray, sample_rate: int) -> np.ndarray:
    """Two versions as a comparison clip: the first, `PAIR_GAP_S` of silence, the second
    (P.800 Annexes D and E play a pair as one sequence with a pause between). Both are
    masters of one loudness (the stimuli's), taken to the first's channels."""
    channels = first.shape[1] if first.ndim == 2 else 1

    def shaped(audio: np.ndarray) -> np.ndarray:
        audio = audio.reshape(len(audio), -1)
        if audio.shape[1] != channels:
            audio = np.repeat(audio.mean(axis=1, keepdims=True), channels, axis=1)
        return audio

    gap = np.zeros((round(PAIR_GAP_S * sample_rate), channels), dtype=np.float32)
    joined = np.concatenate([shaped(first), gap, shaped(second)]).astype(np.float32)
    return joined if first.ndim == 2 else joined[:, 0]
