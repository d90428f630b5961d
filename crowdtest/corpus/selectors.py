"""Reads of the corpus for pages and commands."""

from __future__ import annotations

import time
from typing import Any

from django.db.models import Count, Q, QuerySet

from .models import Clustering, Experiment, Stimulus, Track


def experiment_list() -> QuerySet[Experiment]:
    return Experiment.objects.annotate(
        n_tracks=Count("tracks", distinct=True),
        n_ready=Count("stimuli", filter=Q(stimuli__status=Stimulus.Status.READY), distinct=True),
    ).order_by("-created_at")


def experiment_slug_taken(*, slug: str) -> bool:
    return Experiment.objects.filter(slug=slug).exists()


def corpus_counts(*, experiment: Experiment) -> dict[str, int]:
    tracks = Track.objects.filter(experiment=experiment).aggregate(
        total=Count("id"), errors=Count("id", filter=~Q(error=""))
    )
    stimuli = Stimulus.objects.filter(experiment=experiment).aggregate(
        total=Count("id"),
        ready=Count("id", filter=Q(status=Stimulus.Status.READY)),
        failed=Count("id", filter=Q(status=Stimulus.Status.FAILED)),
        pending=Count("id", filter=Q(status=Stimulus.Status.PENDING)),
        selected=Count("id", filter=Q(role=Stimulus.Role.RATED)),
        trap_sources=Count("id", filter=Q(role=Stimulus.Role.TRAP_SOURCE)),
    )
    return {
        "tracks": tracks["total"],
        "track_errors": tracks["errors"],
        "stimuli": stimuli["total"],
        "ready": stimuli["ready"],
        "failed": stimuli["failed"],
        "pending": stimuli["pending"],
        "selected": stimuli["selected"],
        "trap_sources": stimuli["trap_sources"],
        "unprepared": tracks["total"] - tracks["errors"] - stimuli["total"],
    }


def current_clustering(*, experiment: Experiment) -> Clustering | None:
    return experiment.clusterings.filter(is_current=True).first()


def cluster_table(*, experiment: Experiment) -> list[dict[str, Any]]:
    """Per cluster of the current clustering: its size and how many were kept."""
    rows = (
        Stimulus.objects.filter(experiment=experiment, cluster__isnull=False)
        .values("cluster")
        .annotate(size=Count("id"), kept=Count("id", filter=Q(role=Stimulus.Role.RATED)))
        .order_by("cluster")
    )
    return [dict(row) for row in rows]


def problem_tracks(*, experiment: Experiment, limit: int = 200) -> list[dict[str, Any]]:
    """Tracks that can't be used, with the reason: import errors and failed stimuli."""
    rows = (
        Track.objects.filter(experiment=experiment)
        .filter(~Q(error="") | Q(stimulus__status=Stimulus.Status.FAILED))
        .values("pk", "original_name", "error", "stimulus__error")
        .order_by("pk")[:limit]
    )
    return [dict(row) for row in rows]


def stimulus_rows(*, experiment: Experiment) -> QuerySet[Stimulus]:
    return (
        Stimulus.objects.filter(experiment=experiment)
        .select_related("track")
        .order_by("cluster", "pk")
    )


# --- A process's recent copy of an experiment ---------------------------------------------
# Every rater call reads its experiment (the token's lifetime is one of its settings); a
# crowd makes hundreds of calls a second for a handful of experiments. A copy at most
# RECENT_S old serves them; this process drops its copy whenever it saves or deletes the
# experiment, and other processes see a change within RECENT_S.
RECENT_S = 5.0
_recent: dict[int, tuple[float, Experiment]] = {}


def experiment_recent(*, experiment_id: int) -> Experiment | None:
    """The experiment, read at most RECENT_S seconds ago (None if it does not exist)."""
    now = time.monotonic()
    held = _recent.get(experiment_id)
    if held is not None and now - held[0] < RECENT_S:
        return held[1]
    experiment = Experiment.objects.filter(pk=experiment_id).first()
    if experiment is None:
        _recent.pop(experiment_id, None)
    else:
        _recent[experiment_id] = (now, experiment)
    return experiment


def experiment_recent_forget(*, experiment_id: int | None = None) -> None:
    """Drop this process's copy of an experiment (of every experiment with no id)."""
    if experiment_id is None:
        _recent.clear()
    else:
        _recent.pop(experiment_id, None)


def track_versions(*, experiment: Experiment, limit: int = 200) -> list[Track]:
    """Tracks that are versions of a work or name a reference, by work then name."""
    return list(
        experiment.tracks.exclude(work_id="", reference="")
        .order_by("work_id", "original_name")
        .only("original_name", "work_id", "reference")[:limit]
    )
