"""Screening writes: verdicts on sessions, `Vote.valid`, vote-level exclusions, overrides.

The rules themselves are `modeling.screening` (pure); this module only turns an
assignment's rows into `SessionAnswers`, stores the `Verdict`, and propagates it to the
votes with set-based UPDATEs. Screening an experiment again gives the same rows.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import transaction
from django.db.models import Case, Count, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from crowdtest.bulk import int_columns, rows_sync
from crowdtest.corpus.config import ExperimentSettings
from crowdtest.corpus.models import Experiment
from crowdtest.design.models import Comparison
from crowdtest.rating.models import Assignment, AssignmentItem, Vote
from crowdtest.rating.services import (
    votes_follow_sessions,
    votes_invalidate_excluded,
    votes_set_validity,
)
from modeling.screening import (
    RaterAgreement,
    Reason,
    ScreeningRules,
    SessionTable,
    outlier_votes,
    rater_agreement,
    rater_verdict,
    screen_sessions,
)

from ..errors import ResultsError
from ..models import RaterVerdict, SessionVerdict, VerdictOverride, VoteExclusion

RATING = AssignmentItem.Phase.RATING
# Raters waiting for a verdict who are judged again when a session on their stimuli ends.
PENDING_PER_SESSION = 5


def screening_rules(config: ExperimentSettings) -> ScreeningRules:
    """The experiment's settings as screening rules. A minimum variance of 0 switches
    the variance rule off (with it on, a one-vote session would still fail it).

    A comparison test screens its gold pairs whatever `screen_gold` says: music beside
    its ruined copy leaves no doubt about the answer, which must be on the right side
    within `gold_tolerance` (DCR, CCR), or the version that is not ruined (pairwise)."""
    comparison = config.test_method != "acr"
    return ScreeningRules(
        math_wrong=config.screen_math,
        trap_wrong=config.screen_traps,
        abnormal_hearing=config.screen_hearing,
        no_headphones=config.screen_headphones,
        min_variance=config.min_rating_variance if config.min_rating_variance > 0 else None,
        max_sessions_per_rater=config.max_sessions_per_rater,
        gold_wrong=config.screen_gold or comparison,
        gold_tolerance=0 if config.test_method == "pairwise" else config.gold_tolerance,
        outlier_z=config.outlier_z,
        min_rater_pcc=config.min_rater_pcc,
        min_rater_answers=config.min_rater_answers,
        max_hidden_clips=config.max_hidden_clips,
        hidden_seconds_per_clip=config.hidden_seconds_per_clip,
    )


@dataclass(frozen=True)
class ValidVotes:
    """The rating votes valid after screening, as parallel arrays (for the MOS step)."""

    raters: npt.NDArray[np.int64]
    stimuli: npt.NDArray[np.int64]
    scores: npt.NDArray[np.int64]


@dataclass(frozen=True)
class ScreeningReport:
    sessions: int
    valid: int
    invalid: int
    in_progress: int
    votes_excluded: int
    valid_votes: ValidVotes | None = field(default=None, compare=False, repr=False)

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
        items = _trap_items(finished)
        verdicts = _verdicts(finished, rules, _ordinals(experiment=experiment), items)
        _verdicts_store(experiment=experiment, rules=rules, verdicts=verdicts)
        # Exclusions first, from the votes of the valid sessions, then every vote's
        # validity in one pass: a vote changes at most once, and not at all when nothing
        # changed since the last screening.
        valid_sessions = [row[0] for row in verdicts if row[VALID]]
        excluded, valid_votes = _exclude_votes(
            experiment=experiment,
            rules=rules,
            gold=items.gold([row[0] for row in verdicts], pairwise=_pairwise(experiment)),
            judged_gold=np.unique(items.gold(valid_sessions).raters).tolist(),
        )
        votes_follow_sessions(
            experiment=experiment, verdicts=SessionVerdict.objects.filter(experiment=experiment)
        )
    n_valid = sum(row[VALID] for row in verdicts)
    return ScreeningReport(
        sessions=len(verdicts),
        valid=n_valid,
        invalid=len(verdicts) - n_valid,
        in_progress=in_progress,
        votes_excluded=excluded,
        valid_votes=valid_votes,
    )


def _verdicts_store(
    *, experiment: Experiment, rules: ScreeningRules, verdicts: list[tuple[Any, ...]]
) -> None:
    """The experiment's verdicts become `verdicts`; only those that changed since the last
    screening are written (a verdict's `screened_at` is when it was last given). Under
    other rules than last time, every verdict is given again."""
    scope = SessionVerdict.objects.filter(experiment=experiment)
    if scope.exclude(rules=dataclasses.asdict(rules)).exists():
        scope.delete()
    rows_sync(
        SessionVerdict,
        scope,
        key="assignment_id",
        columns=VERDICT_COLUMNS,
        rows=verdicts,
        compare=("rules_valid", "reasons", "ordinal", "rating_variance", "overridden", "valid"),
    )


def assignment_screen(*, assignment: Assignment) -> SessionVerdict:
    """Screen one finished session as soon as it ends (for the rating flow to call):
    its verdict, then its votes' `valid` in one UPDATE, then the verdict on its rater
    against the votes there are now, and on a few raters still waiting for one who rated
    the same stimuli. The outlier rule needs every session at once and waits for the
    next `experiment_screen`."""
    if assignment.status == Assignment.Status.ACTIVE:
        raise ResultsError(f"Assignment {assignment.pk} is still in progress; screen it later.")
    experiment = assignment.experiment
    rules = screening_rules(experiment.config)
    with transaction.atomic():
        ordinals = _ordinals(experiment=experiment, rater_id=assignment.rater_id)
        mine = Assignment.objects.filter(pk=assignment.pk)
        [row] = _verdicts(mine, rules, ordinals, _trap_items(mine))
        verdict = SessionVerdict(**dict(zip(VERDICT_COLUMNS, row)))
        SessionVerdict.objects.filter(assignment=assignment).delete()
        verdict.save()
        _set_vote_validity(assignment_id=assignment.pk, valid=verdict.valid)
        if rules.min_rater_pcc is not None:
            _rater_refresh(experiment=experiment, rater_id=assignment.rater_id, rules=rules)
            # Raters still waiting for a verdict who rated these stimuli have more to be
            # judged against now: a few of them are judged again with each session.
            shared = Vote.objects.filter(assignment=assignment, **RATING_VOTE).values("stimulus_id")
            waiting = (
                RaterVerdict.objects.filter(
                    experiment=experiment, valid__isnull=True, rater__votes__stimulus_id__in=shared
                )
                .exclude(rater_id=assignment.rater_id)
                .values_list("rater_id", flat=True)
                .distinct()
                .order_by("rater_id")[:PENDING_PER_SESSION]
            )
            for rater_id in list(waiting):
                _rater_refresh(experiment=experiment, rater_id=rater_id, rules=rules)
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


VERDICT_COLUMNS = (
    "assignment_id",
    "experiment_id",
    "rules_valid",
    "reasons",
    "rules",
    "ordinal",
    "rating_variance",
    "screened_at",
    "overridden",
    "valid",
)
VALID = VERDICT_COLUMNS.index("valid")


def _verdicts(
    assignments: QuerySet[Assignment],
    rules: ScreeningRules,
    ordinals: dict[int, int],
    items: TrapItems,
) -> list[tuple[Any, ...]]:
    """The verdicts on `assignments` as rows of `VERDICT_COLUMNS`, from two aggregating
    reads whatever their number (one row per session each) and their trap and gold
    clips' answers (`items`), screened all at once by `screen_sessions`."""
    votes = {
        row[0]: row[1:]
        for row in Vote.objects.filter(SESSION_VOTE, assignment__in=assignments)
        .values("assignment_id")
        .annotate(
            n=Count("id"),
            total=Sum("score"),
            squares=Sum(F("score") * F("score")),
            hidden=Count("id", filter=Q(hidden_s__gt=rules.hidden_seconds_per_clip)),
        )
        .values_list("assignment_id", "n", "total", "squares", "hidden")
    }
    checks = items.checks()
    rows = list(
        assignments.order_by().values_list(
            "pk",
            "experiment_id",
            "status",
            "math_answer",
            "math_given",
            "hearing_normal",
            "headphones",
            "digits_correct",
        )
    )
    table = _session_table(rows, ordinals, votes, checks)
    valid, reasons = screen_sessions(table, rules)
    variances = table.variances()
    overrides = _overrides_in_force(assignments)
    snapshot = dataclasses.asdict(rules)
    now = timezone.now()
    verdicts = []
    # One list per combination of reasons: the rows share it, and COPY encodes it once.
    codes: dict[tuple[Reason, ...], list[str]] = {}
    for i, (pk, experiment_id, *_) in enumerate(rows):
        override = overrides.get(pk)
        variance = float(variances[i])
        rules_valid = bool(valid[i])
        verdicts.append(
            (
                pk,
                experiment_id,
                rules_valid,
                codes.setdefault(reasons[i], [reason.value for reason in reasons[i]]),
                snapshot,
                ordinals.get(pk),
                None if np.isnan(variance) else variance,
                now,
                override is not None,
                rules_valid if override is None else override,
            )
        )
    return verdicts


def _session_table(
    rows: list[tuple[Any, ...]],
    ordinals: dict[int, int],
    votes: dict[int, tuple[int, int, int, int]],
    checks: dict[int, tuple[int, int]],
) -> SessionTable:
    """A question never asked (its key is empty) is not asked (-1): it neither passes
    nor fails. A math question asked but left unanswered is wrong."""

    def tri(values: list[bool | None]) -> npt.NDArray[np.int8]:
        return np.array([-1 if v is None else int(v) for v in values], dtype=np.int8)

    pks = [row[0] for row in rows]
    no_votes, no_checks = (0, 0, 0, 0), (0, 0)
    counted = np.array([votes.get(pk, no_votes) for pk in pks], dtype=np.int64).reshape(-1, 4)
    checked = np.array([checks.get(pk, no_checks) for pk in pks], dtype=np.int64).reshape(-1, 2)
    return SessionTable(
        completed=np.array([row[2] == Assignment.Status.COMPLETED for row in rows], dtype=bool),
        ordinal=np.array([ordinals.get(pk, 0) for pk in pks], dtype=np.int64),
        math_correct=tri([None if row[3] is None else row[4] == row[3] for row in rows]),
        hearing_normal=tri([row[5] for row in rows]),
        headphones=tri([row[6] for row in rows]),
        setup_passed=tri([row[7] for row in rows]),
        traps_wrong=checked[:, 0],
        gold_worst=checked[:, 1],
        hidden_clips=counted[:, 3],
        votes=counted[:, 0],
        score_sum=counted[:, 1].astype(float),
        score_squares=counted[:, 2].astype(float),
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
# What a session's variance rule reads: its rating votes on stimuli (ACR) or on pairs of
# versions (DCR, CCR and pairwise, as given: a rater who always gives one answer fails).
SESSION_VOTE = Q(phase=RATING) & (Q(stimulus__isnull=False) | Q(comparison__isnull=False))

# A pair of versions as the rater verdict's item: the two versions' ids, the smaller first,
# packed into one negative key (stimulus ids stay positive).
PAIR_KEY = 1 << 31
_ACR, _DCR, _CCR, _PAIRWISE = 0, 1, 2, 3


@dataclass(frozen=True)
class Answers:
    """The rating answers a rater verdict judges, as parallel arrays: the vote, its rater,
    the item answered and the answer on one direction. An ACR vote's item is its stimulus
    and its answer the score. A comparison's item is its pair of versions whatever the
    order they played in, and its answer points one way: a DCR score as given (the
    reference always plays first); a CCR score turned to "the later-listed version against
    the earlier" when the pair played the other way round (P.808 Annex E); a pairwise
    preference +1 for the version with the smaller id, -1 for the other. `acr` marks the
    ACR votes, which alone feed the outlier rule and the MOS; `counted` the votes of
    valid sessions, the only ones that make the other raters' reference (a rater is
    judged on the answers of every screened session of theirs)."""

    ids: npt.NDArray[np.int64]
    raters: npt.NDArray[np.int64]
    items: npt.NDArray[np.int64]
    values: npt.NDArray[np.int64]
    acr: npt.NDArray[np.bool_]
    counted: npt.NDArray[np.bool_]


def _answers(votes: QuerySet[Vote]) -> Answers:
    """One read of the rating votes of `votes` (on stimuli or pairs) as `Answers`."""
    method = Comparison.Method
    ids, raters, stimuli, firsts, seconds, scores, methods, counted = int_columns(
        votes.filter(SESSION_VOTE)
        .annotate(
            stimulus_or_0=Coalesce("stimulus_id", Value(0)),
            first_or_0=Coalesce("comparison__first_id", Value(0)),
            second_or_0=Coalesce("comparison__second_id", Value(0)),
            method_code=Case(
                When(comparison__method=method.DCR, then=Value(_DCR)),
                When(comparison__method=method.CCR, then=Value(_CCR)),
                When(comparison__method=method.PAIRWISE, then=Value(_PAIRWISE)),
                default=Value(_ACR),
            ),
            counted=Case(When(assignment__verdict__valid=True, then=Value(1)), default=Value(0)),
        )
        .order_by(),
        "pk",
        "rater_id",
        "stimulus_or_0",
        "first_or_0",
        "second_or_0",
        "score",
        "method_code",
        "counted",
    )
    acr = methods == _ACR
    low, high = np.minimum(firsts, seconds), np.maximum(firsts, seconds)
    values = scores.copy()
    turned = (methods == _CCR) & (firsts != low)
    values[turned] = -scores[turned]
    pairwise = methods == _PAIRWISE
    chosen = np.where(scores == 1, firsts, seconds)
    values[pairwise] = np.where(chosen[pairwise] == low[pairwise], 1, -1)
    items = np.where(acr, stimuli, -(low * PAIR_KEY + high))
    return Answers(
        ids=ids, raters=raters, items=items, values=values, acr=acr, counted=counted.astype(bool)
    )


# An unanswered clip's score in the integer reads (outside every method's scale: ACR and
# DCR 1..5, CCR -3..+3, pairwise 1 or 2), and the worst gold error it counts as.
NO_ANSWER, UNANSWERED_GOLD = -100, 99


@dataclass(frozen=True)
class TrapItems:
    """The trap and gold clips of a set of sessions with their answers, as parallel
    arrays: the session, its rater, whether the clip is gold, its key and the answer
    (`NO_ANSWER` where none was given). One read serves both the session checks and the
    rater verdict's gold answers."""

    assignments: npt.NDArray[np.int64]
    raters: npt.NDArray[np.int64]
    is_gold: npt.NDArray[np.bool_]
    expected: npt.NDArray[np.int64]
    given: npt.NDArray[np.int64]

    def checks(self) -> dict[int, tuple[int, int]]:
        """Per session: traps answered wrongly (unanswered is wrong), and the largest
        distance of a gold answer from its known score (`UNANSWERED_GOLD` when a gold
        clip was left unanswered; 0 without gold clips)."""
        if not self.assignments.size:
            return {}
        wrong = (~self.is_gold & (self.given != self.expected)).astype(np.int64)
        distance = np.where(
            self.given == NO_ANSWER, UNANSWERED_GOLD, np.abs(self.given - self.expected)
        )
        worst = np.where(self.is_gold, distance, 0)
        sessions, at = np.unique(self.assignments, return_inverse=True)
        wrong_per = np.zeros(sessions.size, np.int64)
        np.add.at(wrong_per, at, wrong)
        worst_per = np.zeros(sessions.size, np.int64)
        np.maximum.at(worst_per, at, worst)
        return dict(zip(sessions.tolist(), zip(wrong_per.tolist(), worst_per.tolist())))

    def gold(self, sessions: list[int], *, pairwise: bool = False) -> GoldAnswers:
        """The gold answers given in `sessions`. A pairwise test's answers (1: the first
        version, 2: the second) become +1 and -1, as its preferences do in `Answers`."""
        keep = self.is_gold & np.isin(self.assignments, np.asarray(sessions, np.int64))
        expected = self.expected[keep].astype(float)
        given = np.where(self.given[keep] == NO_ANSWER, np.nan, self.given[keep].astype(float))
        if pairwise:
            expected, given = 3 - 2 * expected, 3 - 2 * given
        return GoldAnswers(raters=self.raters[keep], expected=expected, given=given)


def _trap_items(assignments: QuerySet[Assignment]) -> TrapItems:
    """One read of the trap and gold clips of `assignments` and their answers."""
    columns = int_columns(
        AssignmentItem.objects.filter(
            Q(trap__isnull=False) | Q(gold__isnull=False), assignment__in=assignments
        )
        .annotate(
            is_gold=Case(When(gold__isnull=False, then=Value(1)), default=Value(0)),
            expected=Coalesce("trap__answer", "gold__answer"),
            given=Coalesce("vote__score", Value(NO_ANSWER)),
        )
        .order_by(),
        "assignment_id",
        "assignment__rater_id",
        "is_gold",
        "expected",
        "given",
    )
    assignment_ids, raters, gold, expected, given = columns
    return TrapItems(
        assignments=assignment_ids,
        raters=raters,
        is_gold=gold.astype(bool),
        expected=expected,
        given=given,
    )


@dataclass(frozen=True)
class GoldAnswers:
    """Every gold clip of a set of sessions, as parallel arrays: the rater, the clip's
    known score and the answer (NaN where the clip was left unanswered)."""

    raters: npt.NDArray[np.int64]
    expected: npt.NDArray[np.float64]
    given: npt.NDArray[np.float64]

    def wrong(self, tolerance: int) -> dict[int, int]:
        """Per rater, the answered gold clips off by more than `tolerance`."""
        answered = ~np.isnan(self.given)
        off = answered & (np.abs(np.nan_to_num(self.given) - self.expected) > tolerance)
        raters, counts = np.unique(self.raters[off], return_counts=True)
        return dict(zip(raters.tolist(), counts.tolist()))


def _rater_gold(*, experiment: Experiment, rater_id: int) -> GoldAnswers:
    """The gold answers of a rater's screened sessions."""
    items = _trap_items(
        Assignment.objects.filter(experiment=experiment, rater_id=rater_id, verdict__isnull=False)
    )
    return items.gold(items.assignments.tolist(), pairwise=_pairwise(experiment))


def _pairwise(experiment: Experiment) -> bool:
    return bool(experiment.config.test_method == "pairwise")


def _agreements(
    votes: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]],
    gold: GoldAnswers,
    reference: npt.NDArray[np.bool_] | None = None,
) -> dict[Any, RaterAgreement]:
    """`rater_agreement` over (raters, items, answers) arrays and gold answers; only the
    votes `reference` flags (all by default) make the others' means."""
    raters, stimuli, scores = votes
    return rater_agreement(
        raters,
        stimuli,
        scores.astype(float),
        gold_raters=gold.raters,
        gold_expected=gold.expected,
        gold_given=gold.given,
        reference=reference,
    )


RATER_COLUMNS = (
    "rater_id",
    "experiment_id",
    "valid",
    "reasons",
    "pcc",
    "answers",
    "gold_answers",
    "screened_at",
)


def _rater_row(
    experiment_id: int,
    rater_id: int,
    agreement: RaterAgreement | None,
    rules: ScreeningRules,
    now: Any,
    codes: dict[tuple[Any, ...], list[str]] | None = None,
    gold_wrong: int = 0,
) -> tuple[Any, ...]:
    """The verdict on a rater as a row of `RATER_COLUMNS` (`gold_wrong`: their gold
    answers off by more than the tolerance). Rows built with one `codes` share one
    reasons list per combination (COPY then encodes it once)."""
    verdict = rater_verdict(agreement, rules, gold_wrong=gold_wrong)
    codes = {} if codes is None else codes
    pcc = None if agreement is None or np.isnan(agreement.pcc) else agreement.pcc
    return (
        rater_id,
        experiment_id,
        verdict.valid,
        codes.setdefault(verdict.reasons, [reason.value for reason in verdict.reasons]),
        pcc,
        agreement.answers if agreement else 0,
        agreement.gold_answers if agreement else 0,
        now,
    )


def _rater_refresh(*, experiment: Experiment, rater_id: int, rules: ScreeningRules) -> None:
    """The verdict on one rater against the valid votes of the others now, and the
    rater's votes dropped or taken back to match it."""
    mine = _answers(
        Vote.objects.filter(
            experiment=experiment, rater_id=rater_id, assignment__verdict__isnull=False
        )
    )
    others = _answers(
        Vote.objects.filter(experiment=experiment, valid=True)
        .filter(Q(stimulus_id__in=mine.items[mine.acr].tolist()) | Q(comparison__isnull=False))
        .exclude(rater_id=rater_id)
    )
    gold = _rater_gold(experiment=experiment, rater_id=rater_id)
    together = (
        np.concatenate([mine.raters, others.raters]),
        np.concatenate([mine.items, others.items]),
        np.concatenate([mine.values, others.values]),
    )
    reference = np.concatenate([mine.counted, np.ones(len(others.ids), dtype=bool)])
    agreement = _agreements(together, gold, reference).get(rater_id)
    row = RaterVerdict(
        **dict(
            zip(
                RATER_COLUMNS,
                _rater_row(
                    experiment.pk,
                    rater_id,
                    agreement,
                    rules,
                    timezone.now(),
                    gold_wrong=gold.wrong(rules.gold_tolerance).get(rater_id, 0),
                ),
            )
        )
    )
    RaterVerdict.objects.filter(rater_id=rater_id).delete()
    row.save()
    dropped = VoteExclusion.objects.filter(
        experiment=experiment, vote__rater_id=rater_id, rule=VoteExclusion.Rule.RATER_PCC
    )
    if row.valid is False:
        already = set(
            VoteExclusion.objects.filter(vote_id__in=mine.ids.tolist()).values_list(
                "vote_id", flat=True
            )
        )
        VoteExclusion.objects.bulk_create(
            VoteExclusion(vote_id=pk, experiment=experiment, rule=VoteExclusion.Rule.RATER_PCC)
            for pk in mine.ids[mine.counted].tolist()
            if pk not in already
        )
        votes_invalidate_excluded(experiment=experiment)
    elif dropped.exists():
        dropped.delete()
        for assignment_id in SessionVerdict.objects.filter(
            assignment__rater_id=rater_id, valid=True
        ).values_list("assignment_id", flat=True):
            _set_vote_validity(assignment_id=assignment_id, valid=True)


def _exclude_votes(
    *, experiment: Experiment, rules: ScreeningRules, gold: GoldAnswers, judged_gold: list[int]
) -> tuple[int, ValidVotes]:
    """The verdict on every rater of a valid session, judged on the answers of all their
    screened sessions against the votes of the valid ones, then the vote-level rules on
    the rating votes of valid sessions: every vote of a rater judged invalid, then outliers
    among the rest. Each dropped vote is recorded with the rule that dropped it. `gold`:
    the gold answers of the screened sessions; `judged_gold`: the raters with a gold
    answer in a valid session.
    Returns how many were dropped, and the rating votes left valid."""
    answers = _answers(
        Vote.objects.filter(experiment=experiment, assignment__verdict__isnull=False)
    )
    ids, raters, counted = answers.ids, answers.raters, answers.counted
    rejected: list[int] = []
    if rules.min_rater_pcc is not None:
        agreements = _agreements((raters, answers.items, answers.values), gold, counted)
        judged = set(np.unique(raters[counted]).tolist()) | set(judged_gold)
        missed = gold.wrong(rules.gold_tolerance)
        now = timezone.now()
        codes: dict[tuple[Any, ...], list[str]] = {}
        verdicts = [
            _rater_row(
                experiment.pk,
                rater_id,
                agreements.get(rater_id),
                rules,
                now,
                codes,
                gold_wrong=missed.get(rater_id, 0),
            )
            for rater_id in sorted(judged)
        ]
        rows_sync(
            RaterVerdict,
            RaterVerdict.objects.filter(experiment=experiment),
            key="rater_id",
            columns=RATER_COLUMNS,
            rows=verdicts,
            compare=("valid", "reasons", "pcc", "answers", "gold_answers"),
        )
        rejected = [row[0] for row in verdicts if row[2] is False]
    else:
        RaterVerdict.objects.filter(experiment=experiment).delete()
    dropped = np.isin(raters, np.asarray(rejected, dtype=raters.dtype)) & counted
    rule_pcc, rule_outlier = VoteExclusion.Rule.RATER_PCC.value, VoteExclusion.Rule.OUTLIER.value
    # A rater's correlation is on their verdict, not repeated on each of their votes.
    exclusions: list[tuple[Any, ...]] = [
        (vote_id, experiment.pk, rule_pcc) for vote_id in ids[dropped].tolist()
    ]
    # The outlier rule and the MOS read the ACR votes alone.
    keep = ~dropped & answers.acr & counted
    stimuli, scores = answers.items, answers.values
    if rules.outlier_z is not None and keep.any():
        kept = np.flatnonzero(keep)
        outliers = kept[outlier_votes(stimuli[kept], scores[kept], rules.outlier_z)]
        keep[outliers] = False
        exclusions += [(vote_id, experiment.pk, rule_outlier) for vote_id in ids[outliers].tolist()]
    rows_sync(
        VoteExclusion,
        VoteExclusion.objects.filter(experiment=experiment),
        key="vote_id",
        columns=("vote_id", "experiment_id", "rule"),
        rows=exclusions,
        compare=("rule",),
    )
    return len(exclusions), ValidVotes(
        raters=raters[keep], stimuli=stimuli[keep], scores=scores[keep]
    )
