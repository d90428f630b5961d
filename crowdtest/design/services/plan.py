"""Replacing an experiment's design in one transaction: training and rating sessions
with traps and gold clips at random positions, and the roles of the stimuli. Refused once
votes exist; the apps above remove what they built on the old sessions
(`design_replacing`)."""

from __future__ import annotations

import numpy as np
from django.db import transaction

from crowdtest.corpus.models import Experiment
from crowdtest.corpus.services import stimuli_cast_for_design
from modeling.allocation import (
    AllocationError,
    insert_traps,
    plan_rating_sessions,
    training_set,
    trap_positions,
)
from modeling.provenance import code_version

from .. import clips, selectors
from ..models import Comparison, Design, DigitsClip, GoldClip, Session, SessionItem, Trap
from ..signals import design_lock_reason, design_replacing
from .checks import (
    PLAN_STREAM,
    TRAINING_FROM_PAIRS,
    TRAINING_FROM_RATED,
    DesignError,
    DesignNumbers,
    rng_stream,
)
from .comparisons import ComparisonPlan, plan_comparison_sessions
from .traps import session_checks


def design_replace(
    *,
    experiment: Experiment,
    numbers: DesignNumbers,
    trap_source_ids: list[int],
    traps: list[Trap],
    gold_clips: list[GoldClip],
    digit_clips: list[DigitsClip],
    volume_name: str,
    warnings: list[str] | None = None,
    training: list[int] | None = None,
    volume_duration_s: float | None = None,
    comparison_plan: ComparisonPlan | None = None,
    comparisons: list[Comparison] | None = None,
) -> Design:
    """Replace the experiment's design in one transaction: traps, gold clips, digits
    clips, training and rating sessions. `training` is the training set drawn from stimuli
    left out of rating; None draws it from the stimuli to rate (as the paper's sampling
    allows) and says so in the design's warnings. A comparison test (`comparison_plan`,
    with a clip per order of a pair in `comparisons`) plans its judgements instead of
    stimuli, and trains on a few of its pairs. Refused once votes exist; the old design's
    files are deleted after the commit."""
    by_cluster = selectors.rated_by_cluster(experiment=experiment)
    rng = rng_stream(numbers.seed, PLAN_STREAM)
    warnings = list(warnings or [])
    plan: list[list[int]] = []
    if comparison_plan is not None:
        by_cluster, training = {}, []
        if numbers.training_size > 0:
            warnings.append(TRAINING_FROM_PAIRS)
    try:
        if training is None:
            training = training_set(by_cluster, size=numbers.training_size, seed=rng)
            if training:
                warnings.append(TRAINING_FROM_RATED)
        if comparison_plan is None:
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
        GoldClip.objects.filter(experiment=experiment).delete()
        Comparison.objects.filter(experiment=experiment).delete()
        DigitsClip.objects.filter(experiment=experiment).delete()
        Design.objects.filter(experiment=experiment).delete()
        stimuli_cast_for_design(
            experiment=experiment,
            trap_source_ids=trap_source_ids,
            training_ids=training,
            gold_ids=[g.source_id for g in gold_clips],
        )
        saved_traps = Trap.objects.bulk_create(traps)
        gold_ids = [g.pk for g in GoldClip.objects.bulk_create(gold_clips)]
        DigitsClip.objects.bulk_create(digit_clips)
        first = experiment.config.language_codes[0]
        trap_ids = [t.pk for t in saved_traps if t.language == first]
        if comparison_plan is not None:
            n_rating = _create_comparison_sessions(
                experiment,
                numbers,
                comparison_plan,
                comparisons or [],
                trap_ids,
                gold_ids,
                rng,
            )
        else:
            n_rating = len(plan)
            _create_sessions(
                experiment,
                numbers,
                training,
                plan,
                trap_ids,
                gold_ids,
                rng,
            )
        design = Design.objects.create(
            experiment=experiment,
            seed=numbers.seed,
            votes_per_stimulus=numbers.votes_per_stimulus,
            stimuli_per_cluster=numbers.stimuli_per_cluster,
            n_clusters=len(by_cluster),
            n_rating_sessions=n_rating,
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
    names += GoldClip.objects.filter(experiment=experiment).values_list("delivery", flat=True)
    names += Comparison.objects.filter(experiment=experiment).values_list("delivery", flat=True)
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
    """The training session, and the rating sessions with their traps and gold clips
    (quality-control clips) dealt evenly over them, at random positions among the
    stimuli."""
    check_sets = session_checks(
        len(plan),
        trap_ids,
        gold_ids,
        traps_per_session=numbers.traps_per_session,
        gold_per_session=numbers.gold_per_session,
        rng=rng,
    )
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
    for session, stimuli, checks in zip(sessions[1:], plan, check_sets):
        positions = trap_positions(len(stimuli), len(checks), seed=rng)
        rated = [("stimulus", stimulus) for stimulus in stimuli]
        items += [
            _session_item(session, p, kind, value)
            for p, (kind, value) in enumerate(insert_traps(rated, checks, positions))
        ]
    SessionItem.objects.bulk_create(items, batch_size=2000)


def _session_item(session: Session, position: int, kind: str, pk: int) -> SessionItem:
    """A session's item at `position`: the "stimulus", "trap", "gold" clip or
    "comparison" with id `pk`."""
    return SessionItem(session=session, position=position, **{f"{kind}_id": pk})


# --- Prompts -------------------------------------------------------------------------


def _create_comparison_sessions(
    experiment: Experiment,
    numbers: DesignNumbers,
    plan: ComparisonPlan,
    comparisons: list[Comparison],
    trap_ids: list[int],
    gold_ids: list[int],
    rng: np.random.Generator,
) -> int:
    """The comparison clips saved, the training session (up to `training_size` of them,
    distinct) and the rating sessions of `comparisons_per_session` judgements with traps
    and gold pairs at random positions; returns the number of rating sessions."""
    saved = Comparison.objects.bulk_create(comparisons)
    clip_of = {(c.first_id, c.second_id): c.pk for c in saved}
    missing = [order for order in plan.orders if order not in clip_of]
    if missing:
        raise DesignError(f"{len(missing)} orders of a pair have no clip; build again.")
    per_session = experiment.config.comparisons_per_session
    n_sessions = max(1, -(-len(plan.judgements) // per_session))
    check_sets = session_checks(
        n_sessions,
        trap_ids,
        gold_ids,
        traps_per_session=numbers.traps_per_session,
        gold_per_session=numbers.gold_per_session,
        rng=rng,
    )
    sessions = plan_comparison_sessions(
        plan.judgements, per_session=per_session, trap_sets=check_sets, rng=rng
    )
    training_pool = sorted(clip_of.values())
    picks = rng.permutation(len(training_pool))[: numbers.training_size]
    rows = Session.objects.bulk_create(
        [Session(experiment=experiment, kind=Session.Kind.TRAINING, index=0)]
        + [
            Session(experiment=experiment, kind=Session.Kind.RATING, index=i)
            for i in range(len(sessions))
        ]
    )
    items = [
        SessionItem(session=rows[0], position=p, comparison_id=training_pool[int(k)])
        for p, k in enumerate(sorted(picks))
    ]
    for session, entries in zip(rows[1:], sessions):
        for position, (kind, value) in enumerate(entries):
            if kind == "comparison":
                assert isinstance(value, tuple)
                value = clip_of[int(value[0]), int(value[1])]
            assert isinstance(value, int)
            items.append(_session_item(session, position, kind, value))
    SessionItem.objects.bulk_create(items, batch_size=2000)
    return len(sessions)
