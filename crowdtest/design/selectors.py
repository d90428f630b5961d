"""Reads of a design for the build, the staff pages and exports."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from django.db.models import Count, Q, QuerySet

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.jobs.models import Job

from .models import (
    Design,
    DigitsClip,
    GoldClip,
    GoldStimulus,
    Prompt,
    Session,
    SessionItem,
    Trap,
)

BUILD_JOB_KIND = "build_sessions"


def rated_by_cluster(*, experiment: Experiment) -> dict[int, list[int]]:
    """The stimuli kept after equalising (to be rated), by cluster, in id order."""
    return _by_cluster(Stimulus.objects.filter(experiment=experiment, role=Stimulus.Role.RATED))


def trap_source_candidates(*, experiment: Experiment) -> QuerySet[Stimulus]:
    """Prepared stimuli not among the rated ones nor gold: music for the traps."""
    return (
        Stimulus.objects.filter(
            experiment=experiment,
            status=Stimulus.Status.READY,
            gold__isnull=True,
        )
        .exclude(role=Stimulus.Role.RATED)
        .exclude(master="")
        .order_by("pk")
    )


def spare_by_cluster(*, experiment: Experiment) -> dict[int, list[int]]:
    """Prepared stimuli left out of rating (not gold), by cluster, in id order: the pool
    the training set is drawn from, so no rater hears a clip twice."""
    return _by_cluster(
        Stimulus.objects.filter(experiment=experiment, gold__isnull=True)
        .exclude(role=Stimulus.Role.RATED)
        .exclude(master="")
    )


def _by_cluster(stimuli: QuerySet[Stimulus]) -> dict[int, list[int]]:
    """Ready stimuli of `stimuli` with a cluster (HDBSCAN noise left out), by cluster."""
    groups: dict[int, list[int]] = defaultdict(list)
    rows = stimuli.filter(status=Stimulus.Status.READY, cluster__gte=0).order_by("pk")
    for pk, cluster in rows.values_list("pk", "cluster"):
        if cluster is not None:  # excluded by cluster__gte; for the type checker
            groups[cluster].append(pk)
    return dict(groups)


def gold_stimuli(*, experiment: Experiment) -> QuerySet[GoldStimulus]:
    """The experiment's gold stimuli, with their stimulus and track."""
    return (
        GoldStimulus.objects.filter(experiment=experiment)
        .select_related("stimulus__track")
        .order_by("stimulus_id")
    )


def clip_sample_rate(*, experiment: Experiment, default: int = 44_100) -> int:
    """The sample rate most rated stimuli have, for the setup clips."""
    rates = Counter(
        rate
        for rate in Stimulus.objects.filter(
            experiment=experiment, role=Stimulus.Role.RATED
        ).values_list("sample_rate", flat=True)
        if rate
    )
    return rates.most_common(1)[0][0] if rates else default


def build_in_progress(*, experiment: Experiment) -> Job | None:
    return (
        Job.objects.filter(
            scope=experiment.job_scope,
            kind=BUILD_JOB_KIND,
            status__in=(Job.Status.PENDING, Job.Status.RUNNING),
        )
        .order_by("-created_at")
        .first()
    )


def design_of(*, experiment: Experiment) -> Design | None:
    return Design.objects.filter(experiment=experiment).first()


def session_counts(*, experiment: Experiment) -> dict[str, int]:
    counts = Session.objects.filter(experiment=experiment, kind=Session.Kind.RATING).aggregate(
        total=Count("id"),
        open=Count("id", filter=Q(status=Session.Status.OPEN)),
        active=Count("id", filter=Q(status=Session.Status.ACTIVE)),
        done=Count("id", filter=Q(status=Session.Status.DONE)),
        retired=Count("id", filter=Q(status=Session.Status.RETIRED)),
    )
    return {key: int(value or 0) for key, value in counts.items()}


def design_summary(*, experiment: Experiment) -> dict[str, Any]:
    """What the staff Sessions page shows about the current design."""
    design = design_of(experiment=experiment)
    training = (
        SessionItem.objects.filter(
            session__experiment=experiment, session__kind=Session.Kind.TRAINING
        )
        .select_related("stimulus__track", "comparison__first__track", "comparison__second__track")
        .order_by("position")
    )
    # Each trap once, as sessions list it: in the test's first language.
    first = experiment.config.language_codes[0]
    traps = Trap.objects.filter(experiment=experiment, language=first)
    per_session = (
        SessionItem.objects.filter(
            session__experiment=experiment, session__kind=Session.Kind.RATING
        )
        .values("session")
        .annotate(
            n=Count("id"),
            n_traps=Count("trap"),
            n_gold=Count("gold"),
        )
        .order_by()
    )
    sizes = Counter(
        (row["n"] - row["n_traps"] - row["n_gold"], row["n_traps"], row["n_gold"])
        for row in per_session
    )
    return {
        "design": design,
        "sessions": session_counts(experiment=experiment),
        "session_shapes": sorted(sizes.items()),
        "training": list(training),
        "traps": traps.count(),
        "trap_sources": traps.values("source").distinct().count(),
        "trap_seconds": sorted(set(traps.values_list("duration_s", flat=True))),
        "digit_clips": DigitsClip.objects.filter(experiment=experiment, language=first).count(),
        "languages": experiment.config.language_codes,
        "gold_clips": GoldClip.objects.filter(experiment=experiment).count(),
        "gold": list(gold_stimuli(experiment=experiment)),
        "comparisons": experiment.comparisons.count(),
    }


def prompts_by_key(*, experiment: Experiment) -> dict[tuple[str, str], Prompt]:
    """The experiment's prompts by (key, language)."""
    return {(p.key, p.language): p for p in Prompt.objects.filter(experiment=experiment)}
