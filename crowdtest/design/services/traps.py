"""The trapping stimuli (trap sources x 5 ACR answers, in each offered language) and the
gold clips a build makes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from crowdtest.corpus.models import Experiment, Stimulus
from modeling.allocation import assign_traps
from modeling.audio.ruin import ruined

from .. import clips
from ..models import GoldClip, GoldStimulus, Prompt, Trap
from .checks import DesignNumbers

# A quality-control clip in a session's plan: ("trap", Trap id) or ("gold", GoldClip id).
Check = tuple[str, int]


def session_checks(
    n_sessions: int,
    trap_ids: list[int],
    gold_ids: list[int],
    *,
    traps_per_session: int,
    gold_per_session: int,
    rng: np.random.Generator,
) -> list[list[Check]]:
    """The traps and gold clips of each of `n_sessions` sessions: each used as evenly as
    possible and never twice in a session, traps and gold clips in random order (so a
    gold clip is not always the last quality-control clip)."""
    per_trap = traps_per_session if trap_ids else 0
    trap_sets = assign_traps(n_sessions, trap_ids, per_session=per_trap, seed=rng)
    # Made gold clips are one per trap source; a session holds as many as there are.
    per_gold = min(gold_per_session, len(gold_ids))
    gold_sets = assign_traps(n_sessions, gold_ids, per_session=per_gold, seed=rng)
    if not gold_ids:
        return [[("trap", t) for t in traps] for traps in trap_sets]
    sets: list[list[Check]] = []
    for traps, gold in zip(trap_sets, gold_sets):
        both = [("trap", t) for t in traps] + [("gold", g) for g in gold]
        sets.append([both[int(k)] for k in rng.permutation(len(both))])
    return sets


def make_gold_clips(
    experiment: Experiment,
    numbers: DesignNumbers,
    gold: list[GoldStimulus],
    made: list[str],
    step: Callable[[str], None],
) -> list[GoldClip]:
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
) -> list[GoldClip]:
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
) -> list[GoldClip]:
    """A gold clip from each (source stimulus, known score): the source's master through
    `sound`, encoded and stored like a rated stimulus."""
    clips_made: list[GoldClip] = []
    for source, score in marks:
        audio, rate = clips.read_audio(source.master)
        clips_made.append(
            stored_gold(experiment, numbers, sound(audio, rate, source), rate, source, score, made)
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
    language: str,
) -> Trap:
    """A trap made from `source` whose answer is `answer`, speaking `language`: `audio`
    stored like a rated stimulus (`_stored`), as an unsaved Trap."""
    return Trap(
        experiment=experiment,
        language=language,
        source=source,
        answer=answer,
        **_stored(experiment, numbers, audio, rate, made),
    )


def stored_gold(
    experiment: Experiment,
    numbers: DesignNumbers,
    audio: np.ndarray,
    rate: int,
    source: Stimulus,
    answer: int,
    made: list[str],
) -> GoldClip:
    """A gold clip made from `source` whose known answer is `answer`: `audio` stored like a
    rated stimulus (`_stored`), as an unsaved GoldClip."""
    return GoldClip(
        experiment=experiment,
        source=source,
        answer=answer,
        **_stored(experiment, numbers, audio, rate, made),
    )


def _stored(
    experiment: Experiment, numbers: DesignNumbers, audio: np.ndarray, rate: int, made: list[str]
) -> dict[str, Any]:
    """`audio` encoded and stored like a rated stimulus under a key that says nothing (its
    name added to `made`): the clip's media key, file and duration, as model fields."""
    stored = clips.store_clip(
        audio, rate, experiment_id=experiment.pk, bitrate_kbps=numbers.bitrate_kbps
    )
    made.append(stored.name)
    return {"media_key": stored.media_key, "delivery": stored.name, "duration_s": stored.duration_s}


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
