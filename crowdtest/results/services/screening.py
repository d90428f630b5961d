"""Screening writes: verdicts on sessions, `Vote.valid`, vote-level exclusions, overrides.

The rules themselves are `modeling.screening` (pure); this module only turns an
assignment's rows into `SessionAnswers`, stores the `Verdict`, and propagates it to the
votes with set-based UPDATEs. Screening an experiment again gives the same rows.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from crowdtest.corpus.config import ExperimentSettings
from crowdtest.corpus.models import Experiment
from crowdtest.design.models import Trap
from crowdtest.rating.models import Assignment, AssignmentItem, Vote
from crowdtest.rating.services import votes_invalidate_excluded, votes_set_validity
from modeling.screening import (
    RaterAgreement,
    ScreeningRules,
    SessionAnswers,
    outlier_votes,
    rater_agreement,
    rater_verdict,
    rating_variance,
    screen_session,
)

from ..errors import ResultsError
from ..models import RaterVerdict, SessionVerdict, VerdictOverride, VoteExclusion

RATING = AssignmentItem.Phase.RATING


def screening_rules(config: ExperimentSettings) -> ScreeningRules:
    """The experiment's settings as screening rules. A minimum variance of 0 switches
    the variance rule off (with it on, a one-vote session would still fail it)."""
    return ScreeningRules(
        math_wrong=config.screen_math,
        trap_wrong=config.screen_traps,
        abnormal_hearing=config.screen_hearing,
        no_headphones=config.screen_headphones,
        min_variance=config.min_rating_variance if config.min_rating_variance > 0 else None,
        max_sessions_per_rater=config.max_sessions_per_rater,
        gold_wrong=config.screen_gold,
        gold_tolerance=config.gold_tolerance,
        outlier_z=config.outlier_z,
        min_rater_pcc=config.min_rater_pcc,
        min_rater_answers=config.min_rater_answers,
        max_hidden_clips=config.max_hidden_clips,
        hidden_seconds_per_clip=config.hidden_seconds_per_clip,
    )


@dataclass(frozen=True)
class ScreeningReport:
    sessions: int
    valid: int
    invalid: int
    in_progress: int
    votes_excluded: int

    def summary(self) -> str:
        return (
            f"{self.sessions} sessions screened: {self.valid} valid, {self.invalid} invalid"
            f" ({self.in_progress} still in progress); {self.votes_excluded} votes dropped"
            " by vote-level rules"
        )


def experiment_screen(*, experiment: Experiment) -> ScreeningReport:
    """Screen every finished (completed or abandoned) session of the experiment and set
    `Vote.valid` of their votes. Sessions still being taken are left unscreened: their
    votes stay `valid=None` and count nowhere until a later run."""
    rules = screening_rules(experiment.config)
    with transaction.atomic():
        # One screening of an experiment at a time (a no-op lock on SQLite).
        Experiment.objects.select_for_update().filter(pk=experiment.pk).first()
        finished = (
            Assignment.objects.crowd()
            .filter(experiment=experiment)
            .exclude(status=Assignment.Status.ACTIVE)
        )
        in_progress = (
            Assignment.objects.crowd()
            .filter(experiment=experiment, status=Assignment.Status.ACTIVE)
            .count()
        )
        verdicts = _verdicts(finished, rules, _ordinals(experiment=experiment))
        SessionVerdict.objects.filter(experiment=experiment).delete()
        SessionVerdict.objects.bulk_create(verdicts, batch_size=2000)
        # Only votes whose validity changes are written: screening again rewrites little.
        votes = Vote.objects.crowd().filter(experiment=experiment)
        votes.filter(assignment__verdict__valid=True).exclude(valid=True).update(valid=True)
        votes.filter(assignment__verdict__valid=False).exclude(valid=False).update(valid=False)
        excluded = _exclude_votes(experiment=experiment, rules=rules)
    n_valid = sum(v.valid for v in verdicts)
    return ScreeningReport(
        sessions=len(verdicts),
        valid=n_valid,
        invalid=len(verdicts) - n_valid,
        in_progress=in_progress,
        votes_excluded=excluded,
    )


def assignment_screen(*, assignment: Assignment) -> SessionVerdict:
    """Screen one finished session as soon as it ends (for the rating flow to call):
    its verdict, then its votes' `valid` in one UPDATE, then the verdict on its rater
    against the votes there are now. The outlier rule needs every session at once and
    waits for the next `experiment_screen`."""
    if assignment.status == Assignment.Status.ACTIVE:
        raise ResultsError(f"Assignment {assignment.pk} is still in progress; screen it later.")
    experiment = assignment.experiment
    rules = screening_rules(experiment.config)
    with transaction.atomic():
        ordinals = _ordinals(experiment=experiment, rater_id=assignment.rater_id)
        [verdict] = _verdicts(Assignment.objects.filter(pk=assignment.pk), rules, ordinals)
        SessionVerdict.objects.filter(assignment=assignment).delete()
        verdict.save()
        _set_vote_validity(assignment_id=assignment.pk, valid=verdict.valid)
        if rules.min_rater_pcc is not None:
            _rater_refresh(experiment=experiment, rater_id=assignment.rater_id, rules=rules)
    return verdict


def verdict_override(
    *, assignment: Assignment, valid: bool | None, note: str, by: Any
) -> SessionVerdict:
    """An admin's decision on a session, recorded with who, when and why: `valid` True
    or False overrides the rules; None clears the override and the rules apply again."""
    note = note.strip()
    if not note:
        raise ResultsError("An override needs a note saying why.")
    with transaction.atomic():
        verdict = SessionVerdict.objects.select_for_update().filter(assignment=assignment).first()
        if verdict is None:
            raise ResultsError(
                f"Session {assignment.pk} has not been screened yet; run screening first."
            )
        VerdictOverride.objects.create(assignment=assignment, valid=valid, note=note, by=by)
        verdict.overridden = valid is not None
        verdict.valid = verdict.rules_valid if valid is None else valid
        verdict.save(update_fields=["overridden", "valid"])
        _set_vote_validity(assignment_id=assignment.pk, valid=verdict.valid)
    return verdict


def _set_vote_validity(*, assignment_id: int, valid: bool) -> None:
    """One UPDATE; a vote dropped by a vote-level rule stays invalid."""
    votes_set_validity(assignment_id=assignment_id, valid=valid)


def _ordinals(*, experiment: Experiment, rater_id: int | None = None) -> dict[int, int]:
    """Each completed assignment's rank among its rater's completed sessions (1-based, by
    completion time, ties by id): the session cap counts sessions in the order done."""
    completed = Assignment.objects.crowd().filter(
        experiment=experiment, status=Assignment.Status.COMPLETED
    )
    if rater_id is not None:
        completed = completed.filter(rater_id=rater_id)
    rows = completed.order_by("rater_id", "finished_at", "pk").values_list("rater_id", "pk")
    ordinals: dict[int, int] = {}
    count: dict[int, int] = defaultdict(int)
    for rater, pk in rows:
        count[rater] += 1
        ordinals[pk] = count[rater]
    return ordinals


def _verdicts(
    assignments: QuerySet[Assignment], rules: ScreeningRules, ordinals: dict[int, int]
) -> list[SessionVerdict]:
    """Unsaved verdicts for `assignments`, in three reads whatever their number."""
    scores: dict[int, list[int]] = defaultdict(list)
    hidden: dict[int, list[float | None]] = defaultdict(list)
    for assignment_id, score, hidden_s in Vote.objects.filter(
        assignment__in=assignments, phase=RATING, stimulus__isnull=False
    ).values_list("assignment_id", "score", "hidden_s"):
        scores[assignment_id].append(score)
        hidden[assignment_id].append(hidden_s)
    traps: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    gold: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    for assignment_id, kind, expected, given in AssignmentItem.objects.filter(
        assignment__in=assignments, trap__isnull=False
    ).values_list("assignment_id", "trap__kind", "trap__answer", "vote__score"):
        checks = gold if kind == Trap.Kind.GOLD else traps
        checks[assignment_id].append((expected, given))
    overrides = _overrides_in_force(assignments)
    snapshot = dataclasses.asdict(rules)
    now = timezone.now()
    verdicts = []
    for row in assignments.values(
        "pk",
        "experiment_id",
        "rater_id",
        "status",
        "math_answer",
        "math_given",
        "hearing_normal",
        "headphones",
        "digits_correct",
    ):
        pk = row["pk"]
        answers = _answers(row, ordinals.get(pk, 0), scores[pk], traps[pk], gold[pk], hidden[pk])
        verdict = screen_session(answers, rules)
        override = overrides.get(pk)
        verdicts.append(
            SessionVerdict(
                assignment_id=pk,
                experiment_id=row["experiment_id"],
                rules_valid=verdict.valid,
                reasons=[reason.value for reason in verdict.reasons],
                rules=snapshot,
                ordinal=ordinals.get(pk),
                rating_variance=rating_variance(scores[pk]),
                screened_at=now,
                overridden=override is not None,
                valid=verdict.valid if override is None else override,
            )
        )
    return verdicts


def _answers(
    row: Mapping[str, Any],
    ordinal: int,
    scores: list[int],
    traps: list[tuple[int, int | None]],
    gold: list[tuple[int, int | None]],
    hidden_s: list[float | None],
) -> SessionAnswers:
    """A question never asked (its key is empty) is None: it neither passes nor fails.
    A math question asked but left unanswered is wrong."""
    math_correct = None if row["math_answer"] is None else row["math_given"] == row["math_answer"]
    return SessionAnswers(
        session=row["pk"],
        rater=row["rater_id"],
        ordinal=ordinal,
        completed=row["status"] == Assignment.Status.COMPLETED,
        scores=scores,
        math_correct=math_correct,
        hearing_normal=row["hearing_normal"],
        headphones=row["headphones"],
        setup_passed=row["digits_correct"],
        traps=traps,
        gold=gold,
        hidden_s=hidden_s,
    )


def _overrides_in_force(assignments: QuerySet[Assignment]) -> dict[int, bool]:
    """The latest override of each assignment that sets a value (a clearing one does not)."""
    latest: dict[int, bool | None] = {}
    for assignment_id, valid in VerdictOverride.objects.filter(
        assignment__in=assignments
    ).values_list("assignment_id", "valid"):  # newest first (model ordering)
        latest.setdefault(assignment_id, valid)
    return {pk: valid for pk, valid in latest.items() if valid is not None}


RATING_VOTE = {"phase": RATING, "stimulus__isnull": False}


def _gold_answers(
    *, experiment: Experiment, rater_id: int | None = None
) -> list[tuple[int, int, float]]:
    """(rater, known score, answer) of every gold clip in a valid session; an unanswered
    one has a NaN answer."""
    items = AssignmentItem.objects.filter(
        assignment__experiment=experiment,
        assignment__verdict__valid=True,
        trap__kind=Trap.Kind.GOLD,
    )
    if rater_id is not None:
        items = items.filter(assignment__rater_id=rater_id)
    return [
        (rater, expected, float("nan") if given is None else float(given))
        for rater, expected, given in items.values_list(
            "assignment__rater_id", "trap__answer", "vote__score"
        )
    ]


def _agreements(
    votes: list[tuple[int, int, int]], gold: list[tuple[int, int, float]]
) -> dict[Any, RaterAgreement]:
    """`rater_agreement` over (rater, stimulus, score) votes and gold answers."""
    raters, stimuli, scores = (list(c) for c in zip(*votes)) if votes else ([], [], [])
    gold_raters, expected, given = (list(c) for c in zip(*gold)) if gold else ([], [], [])
    return rater_agreement(
        np.asarray(raters, dtype=np.int64),
        np.asarray(stimuli, dtype=np.int64),
        np.asarray(scores, dtype=float),
        gold_raters=np.asarray(gold_raters, dtype=np.int64),
        gold_expected=np.asarray(expected, dtype=float),
        gold_given=np.asarray(given, dtype=float),
    )


def _rater_row(
    experiment: Experiment, rater_id: int, agreement: RaterAgreement | None, rules: ScreeningRules
) -> RaterVerdict:
    verdict = rater_verdict(agreement, rules)
    pcc = None if agreement is None or np.isnan(agreement.pcc) else agreement.pcc
    return RaterVerdict(
        rater_id=rater_id,
        experiment=experiment,
        valid=verdict.valid,
        reasons=[reason.value for reason in verdict.reasons],
        pcc=pcc,
        answers=agreement.answers if agreement else 0,
        gold_answers=agreement.gold_answers if agreement else 0,
        screened_at=timezone.now(),
    )


def _rater_refresh(*, experiment: Experiment, rater_id: int, rules: ScreeningRules) -> None:
    """The verdict on one rater against the valid votes of the others now, and the
    rater's votes dropped or taken back to match it."""
    mine = list(
        Vote.objects.filter(
            experiment=experiment, rater_id=rater_id, assignment__verdict__valid=True, **RATING_VOTE
        ).values_list("pk", "rater_id", "stimulus_id", "score")
    )
    others = list(
        Vote.objects.filter(
            experiment=experiment, valid=True, stimulus_id__in={v[2] for v in mine}, phase=RATING
        )
        .exclude(rater_id=rater_id)
        .values_list("rater_id", "stimulus_id", "score")
    )
    gold = _gold_answers(experiment=experiment, rater_id=rater_id)
    agreement = _agreements([v[1:] for v in mine] + others, gold).get(rater_id)
    row = _rater_row(experiment, rater_id, agreement, rules)
    RaterVerdict.objects.filter(rater_id=rater_id).delete()
    row.save()
    dropped = VoteExclusion.objects.filter(
        experiment=experiment, vote__rater_id=rater_id, rule=VoteExclusion.Rule.RATER_PCC
    )
    if row.valid is False:
        already = set(
            VoteExclusion.objects.filter(vote_id__in=[v[0] for v in mine]).values_list(
                "vote_id", flat=True
            )
        )
        VoteExclusion.objects.bulk_create(
            VoteExclusion(
                vote_id=pk, experiment=experiment, rule=VoteExclusion.Rule.RATER_PCC, value=row.pcc
            )
            for pk, *_ in mine
            if pk not in already
        )
        votes_invalidate_excluded(experiment=experiment)
    elif dropped.exists():
        dropped.delete()
        for assignment_id in SessionVerdict.objects.filter(
            assignment__rater_id=rater_id, valid=True
        ).values_list("assignment_id", flat=True):
            _set_vote_validity(assignment_id=assignment_id, valid=True)


def _exclude_votes(*, experiment: Experiment, rules: ScreeningRules) -> int:
    """The verdict on every rater of a valid session, then the vote-level rules on the
    rating votes of valid sessions: every vote of a rater judged invalid, then outliers
    among the rest. Each dropped vote is recorded with the rule that dropped it."""
    VoteExclusion.objects.filter(experiment=experiment).delete()
    RaterVerdict.objects.filter(experiment=experiment).delete()
    rows = list(
        Vote.objects.filter(experiment=experiment, valid=True, **RATING_VOTE).values_list(
            "pk", "rater_id", "stimulus_id", "score"
        )
    )
    rejected: dict[int, float | None] = {}
    if rules.min_rater_pcc is not None:
        gold = _gold_answers(experiment=experiment)
        agreements = _agreements([r[1:] for r in rows], gold)
        judged = {r[1] for r in rows} | {g[0] for g in gold}
        verdicts = [
            _rater_row(experiment, rater_id, agreements.get(rater_id), rules)
            for rater_id in sorted(judged)
        ]
        RaterVerdict.objects.bulk_create(verdicts, batch_size=2000)
        rejected = {v.rater_id: v.pcc for v in verdicts if v.valid is False}
    if not rows:
        return 0
    ids, raters, stimuli, scores = (np.asarray(column) for column in zip(*rows))
    dropped = np.isin(raters, np.fromiter(rejected, dtype=raters.dtype, count=len(rejected)))
    exclusions = [
        VoteExclusion(
            vote_id=int(vote_id),
            experiment=experiment,
            rule=VoteExclusion.Rule.RATER_PCC,
            value=rejected[int(rater_id)],
        )
        for vote_id, rater_id in zip(ids[dropped], raters[dropped])
    ]
    if rules.outlier_z is not None and (~dropped).any():
        kept = np.flatnonzero(~dropped)
        outliers = kept[outlier_votes(stimuli[kept], scores[kept], rules.outlier_z)]
        exclusions += [
            VoteExclusion(vote_id=int(i), experiment=experiment, rule=VoteExclusion.Rule.OUTLIER)
            for i in ids[outliers]
        ]
    VoteExclusion.objects.bulk_create(exclusions, batch_size=2000)
    votes_invalidate_excluded(experiment=experiment)
    return len(exclusions)
