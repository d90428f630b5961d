"""Reads of results: per-stimulus vote statistics aggregated in the database, the MOS
table, rater and session reports, and what adaptive collection may stop buying."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db.models import Case, Count, F, Max, OuterRef, Q, QuerySet, Subquery, Sum, When
from django.urls import reverse
from django.utils import timezone

from crowdtest.corpus.config import ExperimentSettings
from crowdtest.corpus.models import Experiment
from crowdtest.rating.models import Assignment, AssignmentItem, Rater, Vote
from modeling.mos import ci_half_width_normal, ci_half_width_t
from modeling.reliability import Reliability, reliability
from modeling.screening import Reason

from .models import SessionVerdict, StimulusMOS, VerdictOverride

RATING = AssignmentItem.Phase.RATING


@dataclass(frozen=True)
class StimulusStats:
    """One stimulus's votes: `n` valid ones with their MOS, std (ddof=1) and 95% CI
    half-widths (None below two votes), and every rating vote collected."""

    stimulus_id: int
    n: int
    mos: float | None
    std: float | None
    ci95_normal: float | None
    ci95_t: float | None
    votes_total: int


def rating_votes(*, experiment: Experiment) -> QuerySet[Vote]:
    """Votes that may count towards a MOS: rating phase, on a stimulus (not a trap)."""
    return Vote.objects.crowd().filter(experiment=experiment, phase=RATING, stimulus__isnull=False)


def judged_field(*, experiment: Experiment) -> str:
    """What the test's votes judge: a stimulus (ACR) or a pair's clip, one per order
    (DCR, CCR, pairwise)."""
    return "stimulus_id" if experiment.config.test_method == "acr" else "comparison_id"


def result_votes(*, experiment: Experiment) -> QuerySet[Vote]:
    """The votes the test's results come from: rating phase, on what the test judges
    (`judged_field`), not a trap or a gold clip."""
    judged = judged_field(experiment=experiment).removesuffix("_id")
    return Vote.objects.crowd().filter(
        experiment=experiment, phase=RATING, **{f"{judged}__isnull": False}
    )


def stimulus_vote_stats(
    *, experiment: Experiment, stimulus_ids: Collection[int] | None = None
) -> list[StimulusStats]:
    """Per stimulus, from ONE aggregation query over the votes: count, sum and sum of
    squares of the valid scores, and the number of votes collected.

    The std comes from those integer moments, s^2 = (n*sum(x^2) - sum(x)^2) / (n(n-1)),
    exactly (scores are integers, so no rounding before the square root). The database's
    own STDDEV_SAMP would do too on PostgreSQL, but Django's SQLite version raises on a
    stimulus with one vote. The t quantile of each n is applied here, over one row per
    stimulus (`modeling.mos`), never over the votes."""
    valid = Q(valid=True)
    votes = rating_votes(experiment=experiment)
    if stimulus_ids is not None:
        votes = votes.filter(stimulus_id__in=stimulus_ids)
    rows = (
        votes.values("stimulus_id")
        .annotate(
            total=Count("id"),
            n=Count("id", filter=valid),
            s1=Sum("score", filter=valid),
            s2=Sum(F("score") * F("score"), filter=valid),
        )
        .order_by("stimulus_id")
        .values_list("stimulus_id", "total", "n", "s1", "s2")
    )
    return stats_from_moments(list(rows))


def stats_from_moments(
    rows: Sequence[tuple[int, int, int, int | None, int | None]],
) -> list[StimulusStats]:
    """`StimulusStats` from (stimulus, votes collected, n, sum, sum of squares) rows."""
    if not rows:
        return []
    n = np.array([r[2] for r in rows], dtype=float)
    s1 = np.array([r[3] or 0 for r in rows], dtype=float)
    # n * sum(x^2) - sum(x)^2 in exact integer arithmetic before any division.
    spread = np.array([r[2] * (r[4] or 0) - (r[3] or 0) ** 2 for r in rows], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mos = np.where(n > 0, s1 / n, np.nan)
        std = np.where(n > 1, np.sqrt(np.maximum(spread, 0.0) / (n * (n - 1))), np.nan)
    ci_normal = ci_half_width_normal(std, n)
    ci_t = ci_half_width_t(std, n)
    return [
        StimulusStats(
            stimulus_id=row[0],
            n=row[2],
            mos=_finite(mos[i]),
            std=_finite(std[i]),
            ci95_normal=_finite(ci_normal[i]),
            ci95_t=_finite(ci_t[i]),
            votes_total=row[1],
        )
        for i, row in enumerate(rows)
    ]


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def saturated(stats: Iterable[StimulusStats], config: ExperimentSettings) -> set[int]:
    """The stimuli of `stats` that adaptive collection no longer gives out: at least
    `adaptive_min_votes` valid votes and a 95% CI FULL width (Student's t, the
    conservative one at n of 10..20) of at most `target_ci_width`, or `adaptive_max_votes`
    valid votes whatever their CI. Empty when the experiment sets no target."""
    target, cap = config.target_ci_width, config.adaptive_max_votes
    if target is None:
        return set()
    return {
        s.stimulus_id
        for s in stats
        if (cap is not None and s.n >= cap)
        or (
            s.n >= max(config.adaptive_min_votes, 2)
            and s.ci95_t is not None
            and 2 * s.ci95_t <= target
        )
    }


def saturated_stimulus_ids(
    *, experiment: Experiment, among: Collection[int] | None = None
) -> set[int]:
    """Stimuli (of `among`, or all) whose valid votes already reach the experiment's
    target CI width (see `saturated`): they are left out of sessions as raters start them,
    and open sessions holding nothing else are retired."""
    if experiment.config.target_ci_width is None:
        return set()
    stats = stimulus_vote_stats(experiment=experiment, stimulus_ids=among)
    return saturated(stats, experiment.config)


def mos_table(*, experiment: Experiment) -> list[StimulusMOS]:
    """One MOS row per stimulus with its stimulus and track: the computed row where
    there is one, else the imported one. Ordered by stimulus."""
    rows = (
        StimulusMOS.objects.filter(experiment=experiment)
        .select_related("stimulus__track")
        .order_by("stimulus_id", "source")  # "computed" sorts before "imported"
    )
    table: dict[int, StimulusMOS] = {}
    for row in rows:
        table.setdefault(row.stimulus_id, row)
    return list(table.values())


def mos_points(*, experiment: Experiment) -> list[dict[str, Any]]:
    """Every stimulus's MOS for the interactive plot: its track, n, 95% CI half-width (the
    normal one, as Figure 1 and Vinylset), cluster, MOS group and where its audio plays."""
    points = []
    for row in mos_table(experiment=experiment):
        ci = row.ci95_normal if row.ci95_normal is not None else row.ci95_t
        stimulus = row.stimulus
        points.append(
            {
                "stimulus": row.stimulus_id,
                "name": str(stimulus.track),
                "mos": round(row.mos, 3),
                "ci": None if ci is None else round(ci, 3),
                "n": row.n,
                "cluster": stimulus.cluster,
                "group": row.mosgroup,
                "audio": reverse("corpus:stimulus_audio", args=[experiment.slug, row.stimulus_id])
                if stimulus.master or stimulus.delivery
                else "",
            }
        )
    return points


def mos_plot_data(*, experiment: Experiment) -> tuple[list[float], list[float | None]]:
    """MOS and normal 95% CI half-width of every row of `mos_table` (for Figure 1)."""
    rows = (
        StimulusMOS.objects.filter(experiment=experiment)
        .order_by("stimulus_id", "source")
        .values_list("stimulus_id", "mos", "ci95_normal")
    )
    table: dict[int, tuple[float, float | None]] = {}
    for stimulus_id, mos, ci in rows:
        table.setdefault(stimulus_id, (mos, ci))
    return [m for m, _ in table.values()], [c for _, c in table.values()]


# --- Raters and sessions ----------------------------------------------------------------


def reason_counts(reason_lists: Iterable[Sequence[str]]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for reasons in reason_lists:
        counts.update(reasons)
    return dict(counts)


def reason_text(code: str) -> str:
    try:
        return Reason(code).text
    except ValueError:
        return code


def rater_report(*, experiment: Experiment, limit: int | None = None) -> list[dict[str, Any]]:
    """Per rater (the first `limit` by id, or all): sessions completed and abandoned,
    valid and invalid verdicts, the reasons with how often each occurred, their votes on
    rated stimuli, the verdict on the rater (`rater_valid` None: pending or not judged; see
    `RaterVerdict`) and their bias and inconsistency. Three queries."""
    completed = Q(assignments__status=Assignment.Status.COMPLETED)
    chosen = Rater.objects.crowd().filter(experiment=experiment).order_by("pk")
    if limit is not None:
        chosen = chosen.filter(pk__in=chosen.values("pk")[:limit])
    raters: list[dict[str, Any]] = [
        dict(row)
        for row in chosen.annotate(
            completed=Count("assignments", filter=completed, distinct=True),
            abandoned=Count(
                "assignments",
                filter=Q(assignments__status=Assignment.Status.ABANDONED),
                distinct=True,
            ),
            valid=Count("assignments", filter=Q(assignments__verdict__valid=True), distinct=True),
            invalid=Count(
                "assignments", filter=Q(assignments__verdict__valid=False), distinct=True
            ),
        )
        .order_by("pk")
        .values(
            "pk",
            "platform",
            "external_id",
            "blocked",
            "completed",
            "abandoned",
            "valid",
            "invalid",
            rater_valid=F("verdict__valid"),
            rater_pcc=F("verdict__pcc"),
            rater_answers=F("verdict__answers"),
            rater_reasons=F("verdict__reasons"),
            bias=F("estimate__bias"),
            inconsistency=F("estimate__inconsistency"),
        )
    ]
    verdicts = SessionVerdict.objects.filter(experiment=experiment)
    # Votes on what the test judges (stimuli, or a comparison test's pairs), as the
    # dashboard's header counts them (no trap or gold clip).
    rated = result_votes(experiment=experiment)
    if limit is not None:
        ids = [rater["pk"] for rater in raters]
        verdicts = verdicts.filter(assignment__rater_id__in=ids)
        rated = rated.filter(rater_id__in=ids)
    reasons: dict[int, list[list[str]]] = {}
    for rater_id, codes in verdicts.values_list("assignment__rater_id", "reasons"):
        reasons.setdefault(rater_id, []).append(codes)
    votes = dict(rated.values("rater_id").annotate(n=Count("id")).values_list("rater_id", "n"))
    for rater in raters:
        rater["reasons"] = reason_counts(reasons.get(rater["pk"], []))
        rater["votes"] = votes.get(rater["pk"], 0)
    return raters


def session_report(*, experiment: Experiment) -> QuerySet[Assignment]:
    """Every session taken, newest first, with its rater, verdict, latest override and
    its rating votes (on what the test judges, `judged_field`): one query however many
    there are."""
    latest = VerdictOverride.objects.filter(assignment=OuterRef("pk")).order_by("-at", "-pk")
    judged = judged_field(experiment=experiment).removesuffix("_id")
    return (
        Assignment.objects.crowd()
        .filter(experiment=experiment)
        .select_related("rater", "session", "verdict")
        .annotate(
            n_votes=Count(
                "votes", filter=Q(votes__phase=RATING, **{f"votes__{judged}__isnull": False})
            ),
            last_vote_at=Max("votes__submitted_at"),
            override_note=Subquery(latest.values("note")[:1]),
            override_by=Subquery(latest.values("by__username")[:1]),
            override_at=Subquery(latest.values("at")[:1]),
        )
        .order_by("-started_at", "-pk")
    )


RATERS_LIVE_SHOWN = 100


def raters_live(*, experiment: Experiment, now: datetime | None = None) -> list[dict[str, Any]]:
    """The raters taking the test now and the latest who did, for the live view: stage,
    how long since they started and since they were last seen, the platform's ids, and
    their screening verdict once known. Active sessions first, then the latest finished;
    at most RATERS_LIVE_SHOWN. One query."""
    now = now or timezone.now()
    rows = (
        Assignment.objects.crowd()
        .filter(experiment=experiment)
        .select_related("rater", "session", "verdict")
        .order_by(
            Case(When(status=Assignment.Status.ACTIVE, then=0), default=1), "-last_seen_at", "-pk"
        )[:RATERS_LIVE_SHOWN]
    )
    found = []
    for a in rows:
        verdict = getattr(a, "verdict", None)
        found.append(
            {
                "assignment": a.pk,
                "rater": f"{a.rater.platform}:{a.rater.external_id}",
                "platform": a.rater.platform,
                "platform_assignment": a.platform_assignment_id,
                "platform_batch": a.platform_batch_id,
                "session": a.session.index,
                "status": a.status,
                "stage": a.stage,
                "minutes": round(((a.finished_at or now) - a.started_at).total_seconds() / 60, 1),
                "seen_s": round((now - a.last_seen_at).total_seconds()),
                "verdict": None if verdict is None else ("valid" if verdict.valid else "invalid"),
                "reasons": [] if verdict is None else list(verdict.reasons),
            }
        )
    return found


RELIABILITY_CACHE_S = 3600


def reliability_report(*, experiment: Experiment) -> Reliability:
    """Krippendorff's alpha (ordinal) and split-half reliability of the valid rating votes,
    with bootstrap CIs (`modeling.reliability`). Computed again only when the valid votes
    have changed (their count and the sum of their ids say so), else the cached copy is used."""
    votes = rating_votes(experiment=experiment).filter(valid=True)
    seen = votes.aggregate(n=Count("id"), ids=Sum("id"))
    key = f"crowdtest:reliability:{experiment.pk}:{seen['n']}:{seen['ids']}"
    held = cache.get(key)
    if held is not None:
        return held  # type: ignore[no-any-return]
    by_stimulus: dict[int, list[int]] = {}
    for stimulus_id, score in votes.values_list("stimulus_id", "score").order_by():
        by_stimulus.setdefault(stimulus_id, []).append(score)
    report = reliability(by_stimulus)
    cache.set(key, report, RELIABILITY_CACHE_S)
    return report
