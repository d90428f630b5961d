"""Reads for the experimenter's dashboard: counts, cost, distributions and the series
behind its plots. Every figure is a handful of aggregation queries whose number does not
grow with the votes, so the page and its live endpoint stay fast while a test runs."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connections
from django.db.models import CharField, Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Cast, Trunc

from crowdtest.corpus.models import Experiment, Stimulus, Track
from crowdtest.design.models import Session
from crowdtest.rating.models import Assignment, Rater
from modeling.mos import ci_half_width_normal

from .models import RetiredSession, StimulusMOS
from .selectors import judged_field, result_votes, saturated, stimulus_vote_stats

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Overview:
    tracks: int
    stimuli_rated: int
    clusters: int
    sessions_planned: int
    sessions_open: int
    sessions_retired: int
    sessions_completed: int
    sessions_abandoned: int
    sessions_in_progress: int
    sessions_valid: int
    sessions_invalid: int
    raters: int
    votes: int
    votes_valid: int
    votes_unscreened: int
    last_vote_at: datetime | None
    mos_computed_at: datetime | None
    reward_usd: Decimal
    bonus_usd: Decimal
    bonus_raters: int
    sessions_paid: int
    cost_usd: Decimal
    retired_votes_saved: int
    retired_usd_saved: Decimal
    skipped_votes_saved: int

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Decimal):
                data[key] = str(value)
            elif isinstance(value, datetime):
                data[key] = value.isoformat()
        return data


def overview(*, experiment: Experiment) -> Overview:
    """Everything the dashboard counts, in ten small aggregation queries."""
    config = experiment.config
    rated = Q(role=Stimulus.Role.RATED)
    stimuli = Stimulus.objects.filter(experiment=experiment).aggregate(
        rated=Count("id", filter=rated),
        clusters=Count("cluster", filter=rated, distinct=True),
    )
    sessions = Session.objects.filter(experiment=experiment, kind=Session.Kind.RATING).aggregate(
        planned=Count("id"),
        open=Count("id", filter=Q(status=Session.Status.OPEN)),
        retired=Count("id", filter=Q(status=Session.Status.RETIRED)),
    )
    status = Assignment.Status
    taken = (
        Assignment.objects.crowd()
        .filter(experiment=experiment)
        .aggregate(
            completed=Count("id", filter=Q(status=status.COMPLETED)),
            abandoned=Count("id", filter=Q(status=status.ABANDONED)),
            active=Count("id", filter=Q(status=status.ACTIVE)),
            valid=Count("id", filter=Q(verdict__valid=True)),
            invalid=Count("id", filter=Q(verdict__valid=False)),
            skipped=Sum("saturated_skipped", filter=Q(status=status.COMPLETED)),
            rejected=Count("id", filter=Q(status=status.COMPLETED, verdict__valid=False)),
        )
    )
    bonus_raters = (
        Rater.objects.crowd()
        .filter(experiment=experiment)
        .annotate(
            done=Count(
                "assignments",
                filter=Q(assignments__status=status.COMPLETED)
                & ~Q(assignments__verdict__valid=False),
            )
        )
        .filter(done__gt=config.bonus_after_sessions)
        .count()
    )
    raters = Rater.objects.crowd().filter(experiment=experiment).count()
    votes = result_votes(experiment=experiment).aggregate(
        total=Count("id"),
        n_valid=Count("id", filter=Q(valid=True)),
        n_unscreened=Count("id", filter=Q(valid__isnull=True)),
        last=Max("submitted_at"),
    )
    saved = RetiredSession.objects.filter(experiment=experiment).aggregate(
        votes=Sum("stimuli"), usd=Sum("reward_usd")
    )
    mos_at = StimulusMOS.objects.filter(
        experiment=experiment, source=StimulusMOS.Source.COMPUTED
    ).aggregate(at=Max("computed_at"))["at"]
    reward, bonus = Decimal(config.reward_usd), Decimal(config.bonus_usd)
    return Overview(
        tracks=Track.objects.filter(experiment=experiment).count(),
        stimuli_rated=stimuli["rated"],
        clusters=stimuli["clusters"],
        sessions_planned=sessions["planned"],
        sessions_open=sessions["open"],
        sessions_retired=sessions["retired"],
        sessions_completed=taken["completed"],
        sessions_abandoned=taken["abandoned"],
        sessions_in_progress=taken["active"],
        sessions_valid=taken["valid"],
        sessions_invalid=taken["invalid"],
        raters=raters,
        votes=votes["total"],
        votes_valid=votes["n_valid"],
        votes_unscreened=votes["n_unscreened"],
        last_vote_at=votes["last"],
        mos_computed_at=mos_at,
        reward_usd=reward,
        bonus_usd=bonus,
        bonus_raters=bonus_raters,
        # Paper: pay per session, and one bonus to each rater with more than 15 sessions.
        # Owed, before the platform's fees: a session screened out is rejected, not paid.
        sessions_paid=taken["completed"] - taken["rejected"],
        cost_usd=(
            (taken["completed"] - taken["rejected"]) * reward + bonus_raters * bonus
        ).quantize(CENT),
        retired_votes_saved=saved["votes"] or 0,
        retired_usd_saved=Decimal(saved["usd"] or 0).quantize(CENT),
        skipped_votes_saved=taken["skipped"] or 0,
    )


@dataclass(frozen=True)
class Distributions:
    """Per-stimulus distributions of the valid votes so far."""

    votes_histogram: list[tuple[int, int]]  # (valid votes, stimuli with that many)
    votes_min: int
    votes_mean: float
    votes_max: int
    ci_histogram: list[tuple[str, int]]  # (full-width bin, stimuli)
    ci_full_mean: float | None
    saturated: int
    target_ci_width: float | None

    @property
    def votes_histogram_max(self) -> int:
        return max((c for _, c in self.votes_histogram), default=0)

    @property
    def ci_histogram_max(self) -> int:
        return max((c for _, c in self.ci_histogram), default=0)


CI_BINS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def distributions(*, experiment: Experiment, stimuli_rated: int) -> Distributions:
    """Votes per stimulus (stimuli without a valid vote counted at 0) and the normal 95% CI
    full width, as the paper reports it, from one aggregation query."""
    stats = stimulus_vote_stats(experiment=experiment)
    counts = [s.n for s in stats if s.n > 0]
    zero = max(stimuli_rated - len(counts), 0)
    votes = np.asarray(counts + [0] * zero, dtype=int)
    histogram = np.bincount(votes) if votes.size else np.zeros(0, dtype=int)
    widths = np.asarray([2 * s.ci95_normal for s in stats if s.ci95_normal is not None])
    config = experiment.config
    return Distributions(
        votes_histogram=[(n, int(c)) for n, c in enumerate(histogram) if c],
        votes_min=int(votes.min()) if votes.size else 0,
        votes_mean=float(votes.mean()) if votes.size else 0.0,
        votes_max=int(votes.max()) if votes.size else 0,
        ci_histogram=_ci_histogram(widths),
        ci_full_mean=float(widths.mean()) if widths.size else None,
        saturated=len(saturated(stats, config)),
        target_ci_width=config.target_ci_width,
    )


def _ci_histogram(widths: np.ndarray) -> list[tuple[str, int]]:
    edges = [*CI_BINS, float("inf")]
    counts, _ = np.histogram(widths, bins=edges)
    labels = [f"{lo:.2f} to {hi:.2f}" for lo, hi in itertools.pairwise(CI_BINS)]
    labels.append(f"≥ {CI_BINS[-1]:.2f}")
    return list(zip(labels, (int(c) for c in counts)))


@dataclass(frozen=True)
class ProgressSeries:
    """Per time bucket: votes collected so far, valid votes so far, and the mean normal
    95% CI full width over stimuli with at least two valid votes by then."""

    times: list[datetime]
    votes: list[int]
    votes_valid: list[int]
    ci_full_mean: list[float | None]


def _bucket_kind(span: timedelta) -> str:
    if span <= timedelta(hours=2):
        return "minute"
    if span <= timedelta(days=3):
        return "hour"
    if span <= timedelta(days=120):
        return "day"
    return "week"


def _fetch_raw(queryset: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """The rows of `queryset` as the driver returns them. Its columns are text and
    integers, which need no conversion; skipping Django's per-value converters halves
    the time of a (bucket, stimulus) grid of tens of thousands of rows."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _utc(text: str) -> datetime:
    """A bucket's start as the database wrote it (UTC wall time, with or without offset)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def progress_series(*, experiment: Experiment) -> ProgressSeries:
    """Votes and CI width over time, from two aggregation queries: the votes grouped by
    (time bucket, what they judge: a stimulus, or a pair's clip in one order) into integer
    moments, accumulated here. Validity is today's
    screening, dated by when each vote was given."""
    votes = result_votes(experiment=experiment)
    judged = judged_field(experiment=experiment)
    span = votes.aggregate(first=Min("submitted_at"), last=Max("submitted_at"))
    if span["first"] is None:
        return ProgressSeries(times=[], votes=[], votes_valid=[], ci_full_mean=[])
    kind = _bucket_kind(span["last"] - span["first"])
    valid = Q(valid=True)
    # The bucket comes back as text: converting a datetime per (bucket, stimulus) row
    # costs more than the query; the few distinct buckets are parsed once below.
    bucket = Cast(Trunc("submitted_at", kind, tzinfo=UTC), output_field=CharField())
    grouped = (
        votes.annotate(bucket=bucket)
        .values("bucket", judged)
        .annotate(
            total=Count("id"),
            n=Count("id", filter=valid),
            s1=Sum("score", filter=valid),
            s2=Sum(F("score") * F("score"), filter=valid),
        )
        .values_list("bucket", judged, "total", "n", "s1", "s2")
    )
    rows = _fetch_raw(grouped)
    labels = sorted({r[0] for r in rows})
    times = [_utc(label) for label in labels]
    stimuli = sorted({r[1] for r in rows})
    t_index = {label: i for i, label in enumerate(labels)}
    s_index = {s: i for i, s in enumerate(stimuli)}
    grid = np.zeros((4, len(times), len(stimuli)))  # total, n, sum, sum of squares
    for bucket, stimulus, total, n, s1, s2 in rows:
        grid[:, t_index[bucket], s_index[stimulus]] = (total, n, s1 or 0, s2 or 0)
    total, n, s1, s2 = np.cumsum(grid, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        std = np.where(n > 1, np.sqrt(np.maximum(n * s2 - s1**2, 0) / (n * (n - 1))), np.nan)
    widths = 2 * ci_half_width_normal(std, n)
    counted = np.isfinite(widths).sum(axis=1)
    sums = np.where(np.isfinite(widths), widths, 0.0).sum(axis=1)
    return ProgressSeries(
        times=times,
        votes=[int(v) for v in total.sum(axis=1)],
        votes_valid=[int(v) for v in n.sum(axis=1)],
        ci_full_mean=[float(s / c) if c else None for s, c in zip(sums, counted)],
    )
