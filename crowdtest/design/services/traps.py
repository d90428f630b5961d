"""The trapping stimuli (trap sources x 5 ACR answers, in each offered language) and the
gold clips a build makes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from crowdtest.corpus.models import Experiment, Stimulus
from modeling.audio.ruin import ruined

from .. import clips
from ..models import GoldStimulus, Prompt, Trap
from .checks import DesignNumbers


def make_gold_clips(
    experiment: Experiment,
    numbers: DesignNumbers,
    gold: list[GoldStimulus],
    made: list[str],
    step: Callable[[str], None],
) -> list[Trap]:
    """Each gold stimulus's master encoded as a clip of its own: the same format and
    length as a rated stimulus, under a key that says nothing of what it is."""
    marks = [(mark.stimulus, mark.score) for mark in gold]
    return _gold_clips(experiment, numbers, marks, made, step, lambda audio, rate, _: audio)


# The score a made gold clip is known to have: Bad.
MADE_GOLD_SCORE = 1


def make_bad_gold_clips(
    experiment: Experiment,
    numbers: DesignNumbers,
    sources: list[Stimulus],
    made: list[str],
    step: Callable[[str], None],
) -> list[Trap]:
    """One gold clip known to be Bad from each trap source (no stimulus is rated from
    them): the source's master ruined (`modeling.audio.ruin`), at the stimuli's loudness
    and length, encoded like a rated stimulus under a key that says nothing."""

    def ruin(audio: np.ndarray, rate: int, source: Stimulus) -> np.ndarray:
        return ruined(audio, rate, seed=[numbers.seed, source.pk], target_lufs=numbers.target_lufs)

    marks = [(source, MADE_GOLD_SCORE) for source in sources]
    return _gold_clips(experiment, numbers, marks, made, step, ruin)


def _gold_clips(
    experiment: Experiment,
    numbers: DesignNumbers,
    marks: list[tuple[Stimulus, int]],
    made: list[str],
    step: Callable[[str], None],
    sound: Callable[[np.ndarray, int, Stimulus], np.ndarray],
) -> list[Trap]:
    """A gold clip (Trap of kind gold) from each (source stimulus, known score): the
    source's master through `sound`, encoded and stored like a rated stimulus."""
    clips_made: list[Trap] = []
    for source, score in marks:
        audio, rate = clips.read_audio(source.master)
        clips_made.append(
            stored_trap(
                experiment,
                numbers,
                sound(audio, rate, source),
                rate,
                source,
                score,
                made,
                kind=Trap.Kind.GOLD,
            )
        )
        step(f"gold clip {len(clips_made)} of {len(marks)}")
    return clips_made


def stored_trap(
    experiment: Experiment,
    numbers: DesignNumbers,
    audio: np.ndarray,
    rate: int,
    source: Stimulus,
    answer: int,
    made: list[str],
    *,
    kind: str = Trap.Kind.TRAP,
    language: str = "",
) -> Trap:
    """A quality-control clip made from `source` whose answer is `answer` (a trap in
    `language`, or a gold clip, which speaks none): `audio` encoded and stored like a rated
    stimulus under a key that says nothing (its name added to `made`), as an unsaved Trap."""
    stored = clips.store_clip(
        audio, rate, experiment_id=experiment.pk, bitrate_kbps=numbers.bitrate_kbps
    )
    made.append(stored.name)
    return Trap(
        experiment=experiment,
        kind=kind,
        language=language,
        source=source,
        answer=answer,
        media_key=stored.media_key,
        delivery=stored.name,
        duration_s=stored.duration_s,
    )


def make_traps(
    experiment: Experiment,
    numbers: DesignNumbers,
    sources: list[Stimulus],
    prompts: dict[tuple[str, str], Prompt],
    made: list[str],
    step: Callable[[str], None],
) -> tuple[list[Trap], list[str]]:
    """Five traps per source (one per ACR answer) in each offered language. All of a
    source's traps last as long as its longest message in any language needs, so neither
    the answer nor the language shows in a trap's length."""
    offered = experiment.config.language_codes
    total = 5 * len(sources) * len(offered)
    traps: list[Trap] = []
    warnings: list[str] = []
    lengths: set[float] = set()
    for source in sources:
        music, rate = clips.read_audio(source.master)
        if music.shape[1] == 1:
            music = music[:, 0]
        messages = {
            (answer, language): clips.read_prompt(prompts[f"trap-{answer}", language].audio, rate)
            for language in offered
            for answer in range(1, 6)
        }
        seconds = clips.trap_seconds(list(messages.values()), rate, numbers.excerpt_seconds)
        lengths.add(seconds)
        for (answer, language), message in messages.items():
            audio = clips.make_trap(
                music, message, rate, seconds=seconds, target_lufs=numbers.target_lufs
            )
            traps.append(
                stored_trap(
                    experiment, numbers, audio, rate, source, answer, made, language=language
                )
            )
            step(f"trap {len(traps)} of {total}")
    longest = max(lengths)
    if longest > numbers.excerpt_seconds:
        warnings.append(
            f"The trap messages do not fit in {numbers.excerpt_seconds:g} s stimuli: traps last "
            f"{longest:g} s, so their length sets them apart. Use stimuli of at least "
            f"{longest:g} s in a real test."
        )
    return traps, warnings
