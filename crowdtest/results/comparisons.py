"""Reads of a comparison test's results, from the valid votes only (after screening):
DMOS (DCR, P.808 Annex D) or CMOS (CCR, Annex E, each vote's order undone) with 95% CIs
per (reference, processed) pair, and a Bradley-Terry ranking with bootstrap CIs and the
probability that the top version is really the best per group of versions (pairwise).
The statistics are `modeling.comparison`'s and `modeling.ranking`'s; nothing is stored,
so what is read always follows the latest screening."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.rating.models import AssignmentItem, Vote
from modeling.comparison import PairVotes, cmos, dmos
from modeling.mos import MosSummary
from modeling.ranking import rank_versions

BOOTSTRAP_RESAMPLES = 500
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class PairResult:
    """One (reference, processed) pair: its DMOS or CMOS (processed against reference,
    positive when the processed version is better) and how its votes were ordered."""

    method: str
    reference: Stimulus
    processed: Stimulus
    summary: MosSummary
    reference_first: int  # votes given with the reference played first
    processed_first: int


@dataclass(frozen=True)
class RankedVersion:
    rank: int
    stimulus: Stimulus
    strength: float
    ci_low: float
    ci_high: float
    wins: int
    comparisons: int


@dataclass(frozen=True)
class GroupRanking:
    """The versions of one work, best first, and P(the top one is really the best)."""

    work_id: str
    versions: list[RankedVersion]
    p_top_best: float
    judgements: int


@dataclass(frozen=True)
class ComparisonVote:
    score: int
    method: str
    work_id: str
    first: int
    second: int
    reference_first: bool | None


def _valid_comparison_votes(experiment: Experiment) -> list[ComparisonVote]:
    rows = (
        Vote.objects.crowd()
        .filter(
            experiment=experiment,
            phase=AssignmentItem.Phase.RATING,
            comparison__isnull=False,
            valid=True,
        )
        .order_by("pk")
        .values_list(
            "score",
            "comparison__method",
            "comparison__work_id",
            "comparison__first_id",
            "comparison__second_id",
            "comparison__reference_first",
        )
    )
    return [ComparisonVote(*row) for row in rows]


def _stimuli(ids: set[int]) -> dict[int, Stimulus]:
    return {s.pk: s for s in Stimulus.objects.filter(pk__in=ids).select_related("track")}


def pair_results(*, experiment: Experiment) -> list[PairResult]:
    """DMOS or CMOS of every (reference, processed) pair with valid votes, by reference
    then processed name."""
    scores: dict[tuple[str, int, int], list[int]] = defaultdict(list)
    orders: dict[tuple[str, int, int], list[bool]] = defaultdict(list)
    for vote in _valid_comparison_votes(experiment):
        method = vote.method
        if method not in ("dcr", "ccr"):
            continue
        first, second = vote.first, vote.second
        reference_first = bool(vote.reference_first)
        reference, processed = (first, second) if reference_first else (second, first)
        scores[method, reference, processed].append(vote.score)
        orders[method, reference, processed].append(reference_first)
    stimuli = _stimuli({pk for _, a, b in scores for pk in (a, b)})
    results = []
    for key, given in scores.items():
        method, reference, processed = key
        summary = (
            dmos(given)
            if method == "dcr"
            else cmos(PairVotes(scores=given, reference_first=orders[key]))
        )
        first = sum(orders[key])
        results.append(
            PairResult(
                method=method,
                reference=stimuli[reference],
                processed=stimuli[processed],
                summary=summary,
                reference_first=first,
                processed_first=len(given) - first,
            )
        )
    return sorted(
        results,
        key=lambda r: (r.reference.track.original_name, r.processed.track.original_name),
    )


def group_rankings(
    *, experiment: Experiment, n_boot: int = BOOTSTRAP_RESAMPLES
) -> list[GroupRanking]:
    """The Bradley-Terry ranking of every group of versions with valid pairwise votes
    (a vote of 1 prefers the version played first, 2 the second), by work id. The
    versions of a group are every version its comparisons hold, judged or not yet."""
    judged: dict[str, list[tuple[int, int]]] = defaultdict(list)
    members: dict[str, set[int]] = defaultdict(set)
    for work, first, second in (
        experiment.comparisons.filter(method="pairwise")
        .order_by()
        .values_list("work_id", "first_id", "second_id")
    ):
        members[work] |= {first, second}
    for vote in _valid_comparison_votes(experiment):
        if vote.method != "pairwise":
            continue
        first, second = vote.first, vote.second
        work = vote.work_id
        members[work] |= {first, second}
        judged[work].append((first, second) if vote.score == 1 else (second, first))
    stimuli = _stimuli({pk for ids in members.values() for pk in ids})
    rankings = []
    for work in sorted(judged):
        versions = sorted(members[work])
        index = {pk: i for i, pk in enumerate(versions)}
        comparisons = [(index[w], index[lo]) for w, lo in judged[work]]
        fit = rank_versions(len(versions), comparisons, n_boot=n_boot, seed=BOOTSTRAP_SEED)
        rankings.append(
            GroupRanking(
                work_id=work,
                versions=[
                    RankedVersion(
                        rank=position + 1,
                        stimulus=stimuli[versions[i]],
                        strength=float(fit.strengths[i]),
                        ci_low=float(fit.ci_low[i]),
                        ci_high=float(fit.ci_high[i]),
                        wins=int(fit.wins[i]),
                        comparisons=int(fit.comparisons[i]),
                    )
                    for position, i in enumerate(fit.order)
                ],
                p_top_best=fit.p_top_best,
                judgements=len(comparisons),
            )
        )
    return rankings


def comparison_points(*, experiment: Experiment) -> dict[str, object]:
    """What the Results tab plots for a comparison test: each pair's DMOS or CMOS with
    its 95% CI, and each group's versions best first with their strengths' 95% CIs and
    P(top is best). Empty lists for an ACR test or before any valid vote."""
    if experiment.config.test_method == "acr":
        return {"method": "acr", "pairs": [], "groups": []}
    pairs = [
        {
            "name": f"{r.processed.track.original_name} vs {r.reference.track.original_name}",
            "mean": r.summary.mos,
            "ci": r.summary.ci95_t,
            "n": r.summary.n,
        }
        for r in pair_results(experiment=experiment)
    ]
    groups = [
        {
            "work": g.work_id,
            "p_top_best": g.p_top_best,
            "judgements": g.judgements,
            "versions": [
                {
                    "rank": v.rank,
                    "name": v.stimulus.track.original_name,
                    "strength": v.strength,
                    "low": v.ci_low,
                    "high": v.ci_high,
                    "wins": v.wins,
                    "comparisons": v.comparisons,
                }
                for v in g.versions
            ],
        }
        for g in group_rankings(experiment=experiment)
    ]
    return {"method": experiment.config.test_method, "pairs": pairs, "groups": groups}
