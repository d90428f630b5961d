"""Writes of session design: building (and rebuilding) an experiment's P.808 test, and
the experimenter's recorded prompts.

A build runs as a job on the audio queue: it makes the spoken prompts that are missing,
the trapping stimuli (trap sources x 5 ACR answers), a pool of left/right digits clips and
the volume clip and the gold clips (when gold stimuli are marked), then replaces the
previous design in one transaction: training session, rating sessions with traps and gold
clips at random positions, trap-source and gold roles. Rebuilding is allowed
until the first vote; an assignment started without votes is dropped with the old design.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from crowdtest.corpus.models import Experiment, Stimulus, new_media_key
from crowdtest.corpus.selectors import current_clustering
from crowdtest.jobs.dispatch import enqueue
from crowdtest.jobs.models import Job
from crowdtest.jobs.services import (
    job_advance,
    job_cancel_requested,
    job_create,
    job_fail,
    job_finish,
    job_mark_cancelled,
    job_start,
)
from modeling.allocation import (
    AllocationError,
    assign_traps,
    digits_challenge,
    insert_traps,
    plan_rating_sessions,
    training_set,
    training_set_capped,
    trap_positions,
)
from modeling.audio import AudioError
from modeling.prompts import PromptError, load_prompt
from modeling.provenance import code_version

from . import clips, selectors
from .models import Design, DigitsClip, GoldStimulus, Prompt, Session, SessionItem, Trap
from .signals import design_lock_reason, design_replacing

logger = logging.getLogger(__name__)

DIGITS_POOL = 20
# A build whose job has shown no progress for this long is taken to have died with its
# worker: the task delivered again takes it over.
BUILD_STALE_AFTER = timedelta(minutes=10)
# Independent random streams drawn from the one design seed.
TRAP_SOURCES_STREAM, DIGITS_STREAM, PLAN_STREAM, TRAINING_STREAM = 1, 2, 3, 4
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


def _rng(seed: int, stream: int) -> np.random.Generator:
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
    undelivered = Stimulus.objects.filter(
        pk__in=[pk for stimuli in by_cluster.values() for pk in stimuli], delivery=""
    ).count()
    if undelivered:
        raise DesignError(
            f"{undelivered} of the stimuli to rate have no delivery file yet: wait for the "
            "encode job that clustering started (encode_deliveries) to finish."
        )
    training_share = math.ceil(numbers.training_size / len(by_cluster))
    smallest = min(len(s) for s in by_cluster.values())
    from_rated = _spare_training(experiment=experiment, numbers=numbers) is None
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
    missing = _prompts_to_synthesise(experiment=experiment, numbers=numbers)
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
        if config.screen_gold:
            raise DesignError(
                "screen_gold is on but no gold stimuli are marked: mark them with "
                "`manage.py mark_gold`, or turn screen_gold off."
            )
        return
    rated = [g for g in gold if g.stimulus.selected]
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


def _prompts_to_synthesise(
    *, experiment: Experiment, numbers: DesignNumbers
) -> list[tuple[str, str]]:
    """The (key, language) prompts to speak: every prompt in every offered language, but
    those the experimenter uploaded or an earlier build spoke."""
    needed = clips.DIGIT_KEYS + (clips.TRAP_KEYS if numbers.trap_sources else ())
    have = selectors.prompts_by_key(experiment=experiment)
    return [
        (key, language)
        for language in experiment.config.language_codes
        for key in needed
        if (key, language) not in have
    ]


# --- Build ---------------------------------------------------------------------------


def design_build_start(
    *,
    experiment: Experiment,
    votes_per_stimulus: int | None = None,
    seed: int | None = None,
    digits_pool: int = DIGITS_POOL,
    created_by: Any = None,
) -> Job:
    """Check the design can be built, then queue the build on the audio queue."""
    from .tasks import build_sessions_task

    numbers = design_numbers(
        experiment=experiment,
        votes_per_stimulus=votes_per_stimulus,
        seed=seed,
        digits_pool=digits_pool,
    )
    design_check(experiment=experiment, numbers=numbers)
    with transaction.atomic():
        Experiment.objects.select_for_update().get(pk=experiment.pk)
        running = selectors.build_in_progress(experiment=experiment)
        if running is not None:
            raise DesignError(f"A build of these sessions is already running (job {running.pk}).")
        job = job_create(
            kind=selectors.BUILD_JOB_KIND, scope=experiment.job_scope, created_by=created_by
        )
        enqueue(
            build_sessions_task,
            experiment_id=experiment.pk,
            job_id=job.pk,
            votes_per_stimulus=numbers.votes_per_stimulus,
            seed=numbers.seed,
            digits_pool=numbers.digits_pool,
        )
    return job


def design_build(
    *,
    experiment_id: int,
    job_id: int,
    votes_per_stimulus: int,
    seed: int,
    digits_pool: int = DIGITS_POOL,
) -> Design | None:
    """The build task's work, all or nothing: every row it makes is written in one
    transaction at the end, and on failure or cancellation the files it made are deleted,
    so the experiment is as before. The task claims its job first: a task delivered again
    while the job is unfinished and alive (progress within BUILD_STALE_AFTER), or after it
    ended, does nothing; a failure fails the job with its reason."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            return None
        if job.status == Job.Status.RUNNING and now - job.updated_at < BUILD_STALE_AFTER:
            return None  # another delivery of this task is building
        Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING, updated_at=now)
    experiment = Experiment.objects.get(pk=experiment_id)
    made: list[str] = []
    try:
        numbers = design_numbers(
            experiment=experiment,
            votes_per_stimulus=votes_per_stimulus,
            seed=seed,
            digits_pool=digits_pool,
        )
        design_check(experiment=experiment, numbers=numbers)
        design = _build(experiment=experiment, numbers=numbers, job_id=job_id, made=made)
    except BuildCancelled:
        clips.delete_files(made)
        job_mark_cancelled(job_id=job_id)
        return None
    except (DesignError, PromptError, AudioError, AllocationError, OSError) as exc:
        clips.delete_files(made)
        job_fail(job_id=job_id, error=str(exc))
        return None
    except Exception as exc:
        logger.exception("building the sessions of experiment %s failed", experiment_id)
        clips.delete_files(made)
        job_fail(job_id=job_id, error=f"internal error: {exc}")
        raise
    job_advance(job_id=job_id, done=1, message=_summary(design))
    job_finish(job_id=job_id, message=_summary(design))
    return design


def _summary(design: Design) -> str:
    return (
        f"{design.n_rating_sessions} rating sessions of {design.n_clusters} x "
        f"{design.stimuli_per_cluster} stimuli, "
        f"{_trap_count(design.experiment)} traps"
    )


def _trap_count(experiment: Experiment) -> int:
    """Traps as sessions hold them: each (source, answer) once, whatever its languages."""
    first = experiment.config.language_codes[0]
    return experiment.traps.filter(kind=Trap.Kind.TRAP, language=first).count()


def _build(
    *, experiment: Experiment, numbers: DesignNumbers, job_id: int, made: list[str]
) -> Design:
    missing = _prompts_to_synthesise(experiment=experiment, numbers=numbers)
    n_languages = len(experiment.config.language_codes)
    n_traps = 5 * numbers.trap_sources * n_languages
    gold = list(selectors.gold_stimuli(experiment=experiment))
    training = _spare_training(experiment=experiment, numbers=numbers)
    job_start(
        job_id=job_id,
        total=len(missing)
        + n_traps
        + len(gold)
        + len(training or ())
        + numbers.digits_pool * n_languages
        + 3,
        message="speaking the prompts",
    )

    def step(message: str) -> None:
        job_advance(job_id=job_id, done=1, message=message)
        if job_cancel_requested(job_id=job_id):
            raise BuildCancelled

    spoken_prompts: list[Prompt] = []  # saved with the design, in its transaction
    for key, language in missing:
        name = clips.synthesise_prompt(key, experiment.pk, language)
        made.append(name)
        spoken_prompts.append(
            Prompt(
                experiment=experiment,
                key=key,
                language=language,
                text=clips.prompt_text(key, language),
                source=Prompt.Source.SYNTHESISED,
                audio=name,
            )
        )
        step(f"spoke {key} ({language})")
    prompts = {
        **selectors.prompts_by_key(experiment=experiment),
        **{(prompt.key, prompt.language): prompt for prompt in spoken_prompts},
    }
    offered = experiment.config.language_codes

    for stimulus_id in training or ():
        _encode_delivery(stimulus_id)
        step("training clips")
    in_training = set(training or ())
    candidates = [
        stimulus
        for stimulus in selectors.trap_source_candidates(experiment=experiment)
        if stimulus.pk not in in_training
    ]
    picks = _rng(numbers.seed, TRAP_SOURCES_STREAM).choice(
        len(candidates), numbers.trap_sources, replace=False
    )
    sources = [candidates[i] for i in sorted(int(p) for p in picks)]
    traps: list[Trap] = []
    warnings: list[str] = []
    if sources:
        traps, warnings = _make_traps(experiment, numbers, sources, prompts, made, step)
    traps += _make_gold_clips(experiment, numbers, gold, made, step)

    rate = selectors.clip_sample_rate(experiment=experiment)
    pool: list[DigitsClip] = []
    for language in offered:
        spoken = {
            key[-1]: clips.read_prompt(prompts[key, language].audio, rate)
            for key in clips.DIGIT_KEYS
        }
        digits_rng = _rng(numbers.seed, DIGITS_STREAM)  # the same digits in each language
        for _ in range(numbers.digits_pool):
            challenge = digits_challenge(digits_rng)
            audio = clips.make_digits(
                challenge.digits, challenge.channels, spoken, rate, target_lufs=numbers.target_lufs
            )
            stored = clips.store_clip(
                audio, rate, experiment_id=experiment.pk, bitrate_kbps=numbers.bitrate_kbps
            )
            made.append(stored.name)
            pool.append(
                DigitsClip(
                    experiment=experiment,
                    digits=challenge.digits,
                    channels="".join(challenge.channels),
                    language=language,
                    media_key=stored.media_key,
                    delivery=stored.name,
                    duration_s=stored.duration_s,
                )
            )
            step(f"digits clips ({language})")

    music_from = sources[0] if sources else _first_rated(experiment)
    music, music_rate = clips.read_audio(music_from.master)
    volume_audio = clips.make_volume(
        music,
        music_rate,
        seconds=min(numbers.excerpt_seconds, 10.0),
        target_lufs=numbers.target_lufs,
    )
    volume = clips.store_clip(
        volume_audio, music_rate, experiment_id=experiment.pk, bitrate_kbps=numbers.bitrate_kbps
    )
    made.append(volume.name)
    step("volume clip")

    step("sessions")
    with transaction.atomic():
        Prompt.objects.bulk_create(spoken_prompts)
        design = design_replace(
            experiment=experiment,
            numbers=numbers,
            trap_source_ids=[s.pk for s in sources],
            traps=traps,
            digit_clips=pool,
            volume_name=volume.name,
            warnings=warnings,
            training=training,
            volume_duration_s=volume.duration_s,
        )
    return design


def _spare_training(*, experiment: Experiment, numbers: DesignNumbers) -> list[int] | None:
    """The training set drawn from the stimuli left out of rating (not gold), as even over
    the clusters as they allow, so no rater hears a clip twice; None when they are too few
    to leave the trap sources theirs (the build then draws from the stimuli to rate)."""
    if numbers.training_size == 0:
        return []
    spares = selectors.spare_by_cluster(experiment=experiment)
    if sum(len(s) for s in spares.values()) < numbers.training_size + numbers.trap_sources:
        return None
    return training_set_capped(
        spares, size=numbers.training_size, seed=_rng(numbers.seed, TRAINING_STREAM)
    )


def _encode_delivery(stimulus_id: int) -> None:
    """A training stimulus left out of rating has no delivery file yet: encode it."""
    from crowdtest.corpus.services import stimulus_deliver

    stimulus = stimulus_deliver(stimulus_id=stimulus_id)
    if not stimulus.delivery:
        raise DesignError(
            f"The training clip from {stimulus.track} could not be encoded: "
            f"{'; '.join(stimulus.warnings[-1:]) or 'unknown error'}."
        )


def _first_rated(experiment: Experiment) -> Stimulus:
    return experiment.stimuli.filter(selected=True).exclude(master="").order_by("pk")[0]


def _make_gold_clips(
    experiment: Experiment,
    numbers: DesignNumbers,
    gold: list[GoldStimulus],
    made: list[str],
    step: Callable[[str], None],
) -> list[Trap]:
    """Each gold stimulus's master encoded as a clip of its own: the same format and
    length as a rated stimulus, under a key that says nothing of what it is."""
    clips_made: list[Trap] = []
    for mark in gold:
        audio, rate = clips.read_audio(mark.stimulus.master)
        stored = clips.store_clip(
            audio, rate, experiment_id=experiment.pk, bitrate_kbps=numbers.bitrate_kbps
        )
        made.append(stored.name)
        clips_made.append(
            Trap(
                experiment=experiment,
                kind=Trap.Kind.GOLD,
                language="",
                source=mark.stimulus,
                answer=mark.score,
                media_key=stored.media_key,
                delivery=stored.name,
                duration_s=stored.duration_s,
            )
        )
        step(f"gold clip {len(clips_made)} of {len(gold)}")
    return clips_made


def _make_traps(
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
            stored = clips.store_clip(
                audio, rate, experiment_id=experiment.pk, bitrate_kbps=numbers.bitrate_kbps
            )
            made.append(stored.name)
            traps.append(
                Trap(
                    experiment=experiment,
                    source=source,
                    answer=answer,
                    language=language,
                    media_key=stored.media_key,
                    delivery=stored.name,
                    duration_s=stored.duration_s,
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


def design_replace(
    *,
    experiment: Experiment,
    numbers: DesignNumbers,
    trap_source_ids: list[int],
    traps: list[Trap],
    digit_clips: list[DigitsClip],
    volume_name: str,
    warnings: list[str] | None = None,
    training: list[int] | None = None,
    volume_duration_s: float | None = None,
) -> Design:
    """Replace the experiment's design in one transaction: traps, digits clips, training
    and rating sessions. `training` is the training set drawn from stimuli left out of
    rating; None draws it from the stimuli to rate (as the paper's sampling allows) and
    says so in the design's warnings. Refused once votes exist; the old design's files
    are deleted after the commit."""
    by_cluster = selectors.rated_by_cluster(experiment=experiment)
    rng = _rng(numbers.seed, PLAN_STREAM)
    warnings = list(warnings or [])
    try:
        if training is None:
            training = training_set(by_cluster, size=numbers.training_size, seed=rng)
            if training:
                warnings.append(TRAINING_FROM_RATED)
        plan = plan_rating_sessions(
            by_cluster,
            per_cluster=numbers.stimuli_per_cluster,
            votes_per_stimulus=numbers.votes_per_stimulus,
            seed=rng,
        )
    except AllocationError as exc:
        raise DesignError(str(exc)) from exc
    with transaction.atomic():
        Experiment.objects.select_for_update().get(pk=experiment.pk)
        locked = design_lock_reason(experiment=experiment)
        if locked:
            raise DesignError(f"{locked} while the design was being built; not replaced.")
        old_files = _design_files(experiment)
        design_replacing.send(sender=Experiment, experiment=experiment)
        SessionItem.objects.filter(session__experiment=experiment).delete()
        Session.objects.filter(experiment=experiment).delete()
        Trap.objects.filter(experiment=experiment).delete()
        DigitsClip.objects.filter(experiment=experiment).delete()
        Design.objects.filter(experiment=experiment).delete()
        experiment.stimuli.filter(selected=False).update(role=Stimulus.Role.UNUSED)
        experiment.stimuli.filter(pk__in=trap_source_ids).update(role=Stimulus.Role.TRAP_SOURCE)
        experiment.stimuli.filter(pk__in=training, selected=False).update(
            role=Stimulus.Role.TRAINING
        )
        gold_ids = [t.source_id for t in traps if t.kind == Trap.Kind.GOLD]
        experiment.stimuli.filter(pk__in=gold_ids).update(role=Stimulus.Role.GOLD)
        saved_traps = Trap.objects.bulk_create(traps)
        DigitsClip.objects.bulk_create(digit_clips)
        _create_sessions(
            experiment,
            numbers,
            training,
            plan,
            [
                t.pk
                for t in saved_traps
                if t.kind == Trap.Kind.TRAP and t.language == experiment.config.language_codes[0]
            ],
            [t.pk for t in saved_traps if t.kind == Trap.Kind.GOLD],
            rng,
        )
        design = Design.objects.create(
            experiment=experiment,
            seed=numbers.seed,
            votes_per_stimulus=numbers.votes_per_stimulus,
            stimuli_per_cluster=numbers.stimuli_per_cluster,
            n_clusters=len(by_cluster),
            n_rating_sessions=len(plan),
            settings_snapshot={**experiment.config.to_dict(), **numbers.settings()},
            volume_clip=volume_name,
            volume_duration_s=volume_duration_s,
            warnings=warnings,
            code_version=code_version(),
        )
        transaction.on_commit(lambda: clips.delete_files(old_files))
    return design


def _design_files(experiment: Experiment) -> list[str]:
    names = list(Trap.objects.filter(experiment=experiment).values_list("delivery", flat=True))
    names += DigitsClip.objects.filter(experiment=experiment).values_list("delivery", flat=True)
    names += Design.objects.filter(experiment=experiment).values_list("volume_clip", flat=True)
    return [n for n in names if n]


def _create_sessions(
    experiment: Experiment,
    numbers: DesignNumbers,
    training: list[int],
    plan: list[list[int]],
    trap_ids: list[int],
    gold_ids: list[int],
    rng: np.random.Generator,
) -> None:
    """Traps and gold clips are both quality-control clips (Trap rows), dealt evenly over
    the sessions and put at random positions among the stimuli."""
    per_session = numbers.traps_per_session if trap_ids else 0
    trap_sets = assign_traps(len(plan), trap_ids, per_session=per_session, seed=rng)
    gold_per_session = numbers.gold_per_session if gold_ids else 0
    gold_sets = assign_traps(len(plan), gold_ids, per_session=gold_per_session, seed=rng)
    if gold_ids:  # mixed, so a gold clip is not always the last quality-control clip
        trap_sets = [
            [int(pk) for pk in rng.permutation(traps + gold)]
            for traps, gold in zip(trap_sets, gold_sets)
        ]
    sessions = Session.objects.bulk_create(
        [Session(experiment=experiment, kind=Session.Kind.TRAINING, index=0)]
        + [
            Session(experiment=experiment, kind=Session.Kind.RATING, index=i)
            for i in range(len(plan))
        ]
    )
    items = [
        SessionItem(session=sessions[0], position=p, stimulus_id=s) for p, s in enumerate(training)
    ]
    for session, stimuli, traps in zip(sessions[1:], plan, trap_sets):
        positions = trap_positions(len(stimuli), len(traps), seed=rng)
        # Traps go in as negative ids so one playlist holds both kinds.
        playlist = insert_traps(stimuli, [-t for t in traps], positions)
        items += [
            SessionItem(
                session=session,
                position=p,
                stimulus_id=entry if entry > 0 else None,
                trap_id=-entry if entry < 0 else None,
            )
            for p, entry in enumerate(playlist)
        ]
    SessionItem.objects.bulk_create(items, batch_size=2000)


# --- Prompts -------------------------------------------------------------------------


def _prompt_language(experiment: Experiment, language: str | None) -> str:
    offered = experiment.config.language_codes
    if language is None:
        return offered[0]
    if language not in offered:
        raise DesignError(
            f"This test does not offer the language '{language}'; it offers "
            f"{', '.join(offered)} (the languages setting)."
        )
    return language


def prompt_upload(
    *, experiment: Experiment, key: str, upload: UploadedFile, language: str | None = None
) -> Prompt:
    """Use the experimenter's recording for a prompt (in one of the test's languages, by
    default its first) instead of the synthesised voice. It is used from the next build on."""
    if key not in clips.PROMPT_KEYS:
        raise DesignError(f"Unknown prompt '{key}'; known: {', '.join(clips.PROMPT_KEYS)}.")
    language = _prompt_language(experiment, language)
    suffix = Path(upload.name or "").suffix.lower()[:8]
    with tempfile.TemporaryDirectory(prefix="crowdtest-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        with path.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        try:
            audio = load_prompt(path, clips.PROMPT_RATE)
        except PromptError as exc:
            raise DesignError(f"The recording can't be read: {exc}") from exc
        seconds = len(audio) / clips.PROMPT_RATE
        limit = clips.MAX_PROMPT_SECONDS[clips.prompt_kind(key)]
        if seconds > limit:
            raise DesignError(
                f"The recording lasts {seconds:.1f} s; a {clips.prompt_kind(key)} prompt may "
                f"last at most {limit:g} s."
            )
        if not np.any(np.abs(audio) > 1e-4):
            raise DesignError("The recording is silent.")
        name = clips.store(path, f"prompts/{experiment.pk}/{new_media_key()}{suffix}")
    with transaction.atomic():
        old = (
            Prompt.objects.select_for_update()
            .filter(experiment=experiment, key=key, language=language)
            .first()
        )
        old_name = (old.audio.name or "") if old else ""
        prompt, _ = Prompt.objects.update_or_create(
            experiment=experiment,
            key=key,
            language=language,
            defaults={
                "text": clips.prompt_text(key, language),
                "source": Prompt.Source.UPLOADED,
                "audio": name,
            },
        )
        transaction.on_commit(lambda: clips.delete_files([old_name]))
    return prompt


def prompt_reset(*, experiment: Experiment, key: str, language: str | None = None) -> None:
    """Drop a prompt (uploaded or synthesised): the next build speaks it again."""
    language = _prompt_language(experiment, language)
    with transaction.atomic():
        prompt = (
            Prompt.objects.select_for_update()
            .filter(experiment=experiment, key=key, language=language)
            .first()
        )
        if prompt is None:
            raise DesignError(f"There is no prompt '{key}' ({language}) to reset.")
        name = prompt.audio.name or ""
        prompt.delete()
        transaction.on_commit(lambda: clips.delete_files([name]))
