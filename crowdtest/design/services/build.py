"""Building an experiment's P.808 test as a job on the audio queue, all or nothing: the
spoken prompts that are missing, traps and gold clips, a pool of left/right digits clips
per language and the volume clip, then the design replaced in one transaction."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.jobs.dispatch import enqueue
from crowdtest.jobs.models import Job
from crowdtest.jobs.services import (
    job_advance,
    job_cancel_requested,
    job_claim,
    job_create,
    job_fail,
    job_finish,
    job_mark_cancelled,
    job_start,
)
from modeling.allocation import (
    AllocationError,
    digits_challenge,
)
from modeling.audio import AudioError
from modeling.comparison import TRAP_ANSWERS
from modeling.prompts import PromptError

from .. import clips, selectors
from ..models import Comparison, Design, DigitsClip, GoldClip, Prompt, Trap
from .checks import (
    DIGITS_POOL,
    DIGITS_STREAM,
    TRAP_SOURCES_STREAM,
    BuildCancelled,
    DesignError,
    DesignNumbers,
    design_check,
    design_numbers,
    prompts_to_synthesise,
    rng_stream,
    spare_training,
)
from .comparisons import (
    GOLD_PAIRS,
    comparison_plan,
    make_comparison_clips,
    make_gold_pairs,
    make_pair_traps,
    trap_source_pool,
)
from .plan import design_replace
from .traps import make_bad_gold_clips, make_gold_clips, make_traps

logger = logging.getLogger(__name__)

# A build whose job has shown no progress for this long is taken to have died with its
# worker: the task delivered again takes it over.
BUILD_STALE_AFTER = timedelta(minutes=10)


def design_build_start(
    *,
    experiment: Experiment,
    votes_per_stimulus: int | None = None,
    seed: int | None = None,
    digits_pool: int = DIGITS_POOL,
    created_by: Any = None,
) -> Job:
    """Check the design can be built, then queue the build on the audio queue."""
    from ..tasks import build_sessions_task

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
    if not job_claim(job_id=job_id, stale_after=BUILD_STALE_AFTER):
        return None  # ended, or another delivery of this task is building
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
    job_advance(job_id=job_id, done=1, message=_summary(design), finishes=False)
    job_finish(job_id=job_id, message=_summary(design))
    return design


def session_shape(design: Design) -> str:
    """What a rating session of the design holds: stimuli per cluster, or pairs."""
    built_with = design.settings_snapshot
    if built_with.get("test_method", "acr") != "acr":
        return f"up to {built_with.get('comparisons_per_session')} pairs"
    return f"{design.n_clusters} clusters x {design.stimuli_per_cluster} stimuli"


def _summary(design: Design) -> str:
    return (
        f"{design.n_rating_sessions} rating sessions of {session_shape(design)}, "
        f"{_trap_count(design.experiment)} traps"
    )


def _gold_per_source(experiment: Experiment) -> int:
    """Gold clips made from each trap source: one, or a comparison test's gold pairs."""
    method = experiment.config.test_method
    return 1 if method == "acr" else len(GOLD_PAIRS[method])


def _trap_count(experiment: Experiment) -> int:
    """Traps as sessions hold them: each (source, answer) once, whatever its languages."""
    first = experiment.config.language_codes[0]
    return experiment.traps.filter(language=first).count()


def _build(
    *, experiment: Experiment, numbers: DesignNumbers, job_id: int, made: list[str]
) -> Design:
    missing = prompts_to_synthesise(experiment=experiment, numbers=numbers)
    n_languages = len(experiment.config.language_codes)
    method = experiment.config.test_method
    # A comparison test plays pairs: its clips, traps and gold pairs, and no training set
    # of its own stimuli.
    plan = comparison_plan(experiment=experiment, numbers=numbers) if method != "acr" else None
    answers = 5 if plan is None else len(TRAP_ANSWERS[method])
    n_traps = answers * numbers.trap_sources * n_languages
    gold = list(selectors.gold_stimuli(experiment=experiment))
    make_gold = experiment.config.gold_made and numbers.gold_per_session > 0
    make_gold = make_gold and (plan is not None or not gold)
    training = [] if plan is not None else spare_training(experiment=experiment, numbers=numbers)
    job_start(
        job_id=job_id,
        total=len(missing)
        + n_traps
        + (len(plan.orders) if plan is not None else 0)
        + (numbers.trap_sources * _gold_per_source(experiment) if make_gold else 0)
        + (len(gold) if plan is None and not make_gold else 0)
        + len(training or ())
        + numbers.digits_pool * n_languages
        + 3,
        message="speaking the prompts",
    )

    def step(message: str) -> None:
        job_advance(job_id=job_id, done=1, message=message, finishes=False)
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
    comparisons: list[Comparison] = []

    for stimulus_id in training or ():
        _encode_delivery(stimulus_id)
        step("training clips")
    in_training = set(training or ())
    candidates = [
        stimulus
        for stimulus in (
            selectors.trap_source_candidates(experiment=experiment)
            if plan is None
            else trap_source_pool(experiment=experiment, plan=plan)
        )
        if stimulus.pk not in in_training
    ]
    picks = rng_stream(numbers.seed, TRAP_SOURCES_STREAM).choice(
        len(candidates), numbers.trap_sources, replace=False
    )
    sources = [candidates[i] for i in sorted(int(p) for p in picks)]
    traps: list[Trap] = []
    gold_clips: list[GoldClip] = []
    warnings: list[str] = []
    if plan is not None:
        traps, warnings = make_pair_traps(experiment, numbers, sources, prompts, made, step)
        comparisons = make_comparison_clips(experiment, numbers, plan, made, step)
    elif sources:
        traps, warnings = make_traps(experiment, numbers, sources, prompts, made, step)
    if plan is not None:
        if experiment.config.gold_made and numbers.gold_per_session > 0:
            gold_clips = make_gold_pairs(experiment, numbers, sources, made, step)
    elif make_gold:
        gold_clips = make_bad_gold_clips(experiment, numbers, sources, made, step)
        if len(sources) < numbers.gold_per_session:
            warnings.append(
                f"{len(sources)} gold clips were made (one per trap source) for "
                f"gold_per_session = {numbers.gold_per_session}: each session holds "
                f"{len(sources)}."
            )
    else:
        gold_clips = make_gold_clips(experiment, numbers, gold, made, step)

    rate = selectors.clip_sample_rate(experiment=experiment)
    pool: list[DigitsClip] = []
    for language in offered:
        spoken = {
            key[-1]: clips.read_prompt(prompts[key, language].audio, rate)
            for key in clips.DIGIT_KEYS
        }
        digits_rng = rng_stream(numbers.seed, DIGITS_STREAM)  # the same digits in each language
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
            gold_clips=gold_clips,
            digit_clips=pool,
            volume_name=volume.name,
            warnings=warnings,
            training=training,
            volume_duration_s=volume.duration_s,
            comparison_plan=plan,
            comparisons=comparisons,
        )
    return design


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
    return experiment.stimuli.filter(role=Stimulus.Role.RATED).exclude(master="").order_by("pk")[0]
