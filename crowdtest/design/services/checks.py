"""What a build uses and whether it can be built: the design's numbers (settings with
overrides), the checks that refuse a design with a message saying what to do, the
training set drawn from spare stimuli and the prompts still to speak."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from typing import Any

import numpy as np

from crowdtest.corpus.config import MAX_SEED
from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.corpus.selectors import current_clustering
from crowdtest.corpus.services.preparation import ENCODE_FAILED
from modeling.allocation import (
    training_set_capped,
)

from .. import clips, selectors
from ..signals import design_lock_reason

DIGITS_POOL = 20
# Independent random streams drawn from the one design seed.
TRAP_SOURCES_STREAM, DIGITS_STREAM, PLAN_STREAM, TRAINING_STREAM = 1, 2, 3, 4
TRAINING_FROM_PAIRS = (
    "The training session plays pairs of the test itself (a comparison test has no other "
    "pairs to practise on): a rater may judge a pair in training and again when rating; "
    "their training votes are kept apart (phase 'training') and count towards no result."
)
TRAINING_FROM_RATED = (
    "Too few stimuli are left out of rating to draw the training set from them, so it was "
    "drawn from the stimuli to rate: a rater may rate a clip they heard in training. "
    "Import more tracks, or lower training_size or trap_sources, and build again."
)


class DesignError(Exception):
    """A design that can't be built as asked; the message says why and what to do."""


class BuildCancelled(Exception):
    pass


@dataclass(frozen=True)
class DesignNumbers:
    """The numbers a build uses: the experiment's settings, with command-line overrides."""

    seed: int
    votes_per_stimulus: int
    stimuli_per_cluster: int
    training_size: int
    trap_sources: int
    traps_per_session: int
    gold_per_session: int
    excerpt_seconds: float
    target_lufs: float
    bitrate_kbps: int
    digits_pool: int = DIGITS_POOL

    def settings(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "votes_per_stimulus": self.votes_per_stimulus,
            "stimuli_per_cluster": self.stimuli_per_cluster,
            "training_size": self.training_size,
            "trap_sources": self.trap_sources,
            "traps_per_session": self.traps_per_session,
            "gold_per_session": self.gold_per_session,
            "digits_pool": self.digits_pool,
        }


def rng_stream(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def design_numbers(
    *,
    experiment: Experiment,
    votes_per_stimulus: int | None = None,
    seed: int | None = None,
    digits_pool: int = DIGITS_POOL,
) -> DesignNumbers:
    cfg = experiment.config
    numbers = DesignNumbers(
        seed=cfg.seed if seed is None else seed,
        votes_per_stimulus=cfg.votes_per_stimulus
        if votes_per_stimulus is None
        else votes_per_stimulus,
        stimuli_per_cluster=cfg.stimuli_per_cluster,
        training_size=cfg.training_size,
        trap_sources=cfg.trap_sources,
        traps_per_session=cfg.traps_per_session,
        gold_per_session=cfg.gold_per_session,
        excerpt_seconds=cfg.excerpt_seconds,
        target_lufs=cfg.target_lufs,
        bitrate_kbps=cfg.delivery_bitrate_kbps,
        digits_pool=digits_pool,
    )
    problems = []
    if numbers.seed < 0:
        problems.append("the seed must not be negative")
    if numbers.seed > MAX_SEED:
        problems.append(f"the seed must be at most {MAX_SEED}")
    if numbers.votes_per_stimulus < 1:
        problems.append("votes per stimulus must be at least 1")
    if numbers.training_size < 0 or numbers.trap_sources < 0 or numbers.traps_per_session < 0:
        problems.append("training_size, trap_sources and traps_per_session must not be negative")
    if numbers.digits_pool < 1:
        problems.append("the digits pool needs at least one clip")
    if problems:
        raise DesignError("; ".join(problems) + ".")
    return numbers


def design_check(*, experiment: Experiment, numbers: DesignNumbers) -> None:
    """Refuse, with a message saying what to do, a design that can't be built."""
    locked = design_lock_reason(experiment=experiment)
    if locked:
        raise DesignError(
            f"{locked}; the design can no longer be rebuilt. Create a new experiment to change it."
        )
    if experiment.config.test_method != "acr":
        _check_comparison(experiment=experiment, numbers=numbers)
        return
    if current_clustering(experiment=experiment) is None:
        raise DesignError(
            "The stimuli are not clustered yet: run `cluster_stimuli` (or Cluster on the "
            "corpus page) before building sessions."
        )
    by_cluster = selectors.rated_by_cluster(experiment=experiment)
    if not by_cluster:
        raise DesignError("No stimulus is selected for rating; cluster the stimuli again.")
    per = numbers.stimuli_per_cluster
    small = {c: len(s) for c, s in sorted(by_cluster.items()) if len(s) < per}
    if small:
        listed = ", ".join(f"cluster {c} has {n}" for c, n in small.items())
        raise DesignError(
            f"Clusters are smaller than stimuli_per_cluster = {per} ({listed}); lower "
            "stimuli_per_cluster or cluster into fewer clusters."
        )
    undelivered = list(
        Stimulus.objects.filter(
            pk__in=[pk for stimuli in by_cluster.values() for pk in stimuli], delivery=""
        ).values_list("warnings", flat=True)
    )
    failed = [w[-1] for w in undelivered if w and w[-1].startswith(ENCODE_FAILED)]
    if failed:
        raise DesignError(
            f"{len(failed)} of the stimuli to rate could not be encoded for delivery "
            f"({failed[0].removeprefix(ENCODE_FAILED).strip()}): fix that, then cluster the "
            "stimuli again (cluster_stimuli), which encodes the missing ones."
        )
    if undelivered:
        raise DesignError(
            f"{len(undelivered)} of the stimuli to rate have no delivery file yet: wait for "
            "the encode job that clustering started (encode_deliveries) to finish."
        )
    training_share = math.ceil(numbers.training_size / len(by_cluster))
    smallest = min(len(s) for s in by_cluster.values())
    from_rated = spare_training(experiment=experiment, numbers=numbers) is None
    if from_rated and training_share > smallest:
        raise DesignError(
            f"The training set of {numbers.training_size} needs {training_share} stimuli from "
            f"every cluster; the smallest has {smallest}. Lower training_size."
        )
    candidates = selectors.trap_source_candidates(experiment=experiment).count()
    if candidates < numbers.trap_sources:
        raise DesignError(
            f"Too few trap sources: {candidates} prepared stimuli are not among the rated "
            f"ones, the design needs trap_sources = {numbers.trap_sources}. Import more "
            "tracks or lower trap_sources."
        )
    if numbers.traps_per_session > 5 * numbers.trap_sources:
        raise DesignError(
            f"traps_per_session = {numbers.traps_per_session} needs at least that many traps; "
            f"{numbers.trap_sources} trap sources make {5 * numbers.trap_sources}."
        )
    _check_gold(experiment=experiment, numbers=numbers)
    missing = prompts_to_synthesise(experiment=experiment, numbers=numbers)
    if missing and shutil.which("espeak-ng") is None:
        spoken = ", ".join(f"{key} ({language})" for key, language in missing)
        raise DesignError(
            f"espeak-ng is not installed, and it is needed to speak the prompts {spoken}: "
            "install espeak-ng (apt-get install espeak-ng) or upload recorded prompts on the "
            "Sessions page."
        )


def _check_comparison(*, experiment: Experiment, numbers: DesignNumbers) -> None:
    """A DCR, CCR or pairwise test: its versions checked (`comparison_plan`), then trap
    sources among the stimuli it does not compare, and the spoken prompts."""
    from modeling.comparison import TRAP_ANSWERS

    from .comparisons import comparison_plan, trap_source_pool

    plan = comparison_plan(experiment=experiment, numbers=numbers)
    candidates = len(trap_source_pool(experiment=experiment, plan=plan))
    if candidates < numbers.trap_sources:
        raise DesignError(
            f"Too few trap sources: {candidates} prepared stimuli are not among the versions "
            f"compared, the design needs trap_sources = {numbers.trap_sources}. Import more "
            "tracks or lower trap_sources."
        )
    answers = len(TRAP_ANSWERS[experiment.config.test_method])
    if numbers.traps_per_session > answers * numbers.trap_sources:
        raise DesignError(
            f"traps_per_session = {numbers.traps_per_session} needs at least that many traps; "
            f"{numbers.trap_sources} trap sources make {answers * numbers.trap_sources}."
        )
    missing = prompts_to_synthesise(experiment=experiment, numbers=numbers)
    if missing and shutil.which("espeak-ng") is None:
        spoken = ", ".join(f"{key} ({language})" for key, language in missing)
        raise DesignError(
            f"espeak-ng is not installed, and it is needed to speak the prompts {spoken}: "
            "install espeak-ng (apt-get install espeak-ng) or upload recorded prompts on the "
            "Sessions page."
        )


def _check_gold(*, experiment: Experiment, numbers: DesignNumbers) -> None:
    gold = list(selectors.gold_stimuli(experiment=experiment))
    config = experiment.config
    if not gold:
        made = config.gold_made and numbers.trap_sources > 0
        if config.screen_gold and not made:
            raise DesignError(
                "screen_gold is on but no gold stimuli are marked and none are made (gold_made "
                "off or no trap sources): mark them with `manage.py mark_gold`, turn gold_made "
                "on, or turn screen_gold off."
            )
        return
    rated = [g for g in gold if g.stimulus.role == Stimulus.Role.RATED]
    if rated:
        names = ", ".join(g.stimulus.track.original_name for g in rated[:5])
        raise DesignError(
            f"{len(rated)} gold stimuli are among the stimuli to rate ({names}): a rater would "
            "hear them twice. Unmark them (mark_gold --clear) or cluster again."
        )
    unready = [
        g for g in gold if g.stimulus.status != Stimulus.Status.READY or not g.stimulus.master
    ]
    if unready:
        names = ", ".join(g.stimulus.track.original_name for g in unready[:5])
        raise DesignError(f"{len(unready)} gold stimuli are not prepared: {names}.")
    if numbers.gold_per_session > len(gold):
        raise DesignError(
            f"gold_per_session = {numbers.gold_per_session} needs at least that many gold "
            f"stimuli; {len(gold)} are marked."
        )


def prompts_to_synthesise(
    *, experiment: Experiment, numbers: DesignNumbers
) -> list[tuple[str, str]]:
    """The (key, language) prompts to speak: every prompt in every offered language, but
    those the experimenter uploaded or an earlier build spoke."""
    traps = clips.trap_keys(experiment.config.test_method)
    needed = clips.DIGIT_KEYS + (traps if numbers.trap_sources else ())
    have = selectors.prompts_by_key(experiment=experiment)
    return [
        (key, language)
        for language in experiment.config.language_codes
        for key in needed
        if (key, language) not in have
    ]


def spare_training(*, experiment: Experiment, numbers: DesignNumbers) -> list[int] | None:
    """The training set drawn from the stimuli left out of rating (not gold), as even over
    the clusters as they allow, so no rater hears a clip twice; None when they are too few
    to leave the trap sources theirs (the build then draws from the stimuli to rate)."""
    if numbers.training_size == 0:
        return []
    spares = selectors.spare_by_cluster(experiment=experiment)
    if sum(len(s) for s in spares.values()) < numbers.training_size + numbers.trap_sources:
        return None
    return training_set_capped(
        spares, size=numbers.training_size, seed=rng_stream(numbers.seed, TRAINING_STREAM)
    )
