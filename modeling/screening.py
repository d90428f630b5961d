"""Screening of rating sessions and votes (ITU-T P.808 clause on data screening; the
P.808 crowdsourcing toolkit's result parser; the Vinylset paper's exclusion criteria).

A session's fate is a pure function of its answers: `screen_session` never looks at a
database, so the same answers always give the same verdict and an admin override is a
separate, recorded decision. Vote-level rules that need every session at once (outlier
votes, raters who disagree with everybody) are vectorised helpers over parallel arrays;
the screening service applies them in order (raters judged invalid first, then outliers
among the votes left).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt


class Reason(StrEnum):
    """Why a session's votes are not used. The value is the stable machine code stored
    with the verdict; `text` is what people read."""

    INCOMPLETE = "incomplete"
    OVER_SESSION_CAP = "over_session_cap"
    MATH_WRONG = "math_wrong"
    TRAP_WRONG = "trap_wrong"
    GOLD_WRONG = "gold_wrong"
    ABNORMAL_HEARING = "abnormal_hearing"
    NO_HEADPHONES = "no_headphones"
    SETUP_FAILED = "setup_failed"
    LOW_VARIANCE = "low_variance"
    PAGE_HIDDEN = "page_hidden"

    @property
    def text(self) -> str:
        return _REASON_TEXT[self]


_REASON_TEXT = {
    Reason.INCOMPLETE: "Session was not completed",
    Reason.OVER_SESSION_CAP: "Rater already had the maximum number of sessions",
    Reason.MATH_WRONG: "Math answer was wrong",
    Reason.TRAP_WRONG: "A trapping question was answered wrongly",
    Reason.GOLD_WRONG: "A gold stimulus was rated too far from its known score",
    Reason.ABNORMAL_HEARING: "Rater declared not having normal hearing",
    Reason.NO_HEADPHONES: "Rater declared not using headphones",
    Reason.SETUP_FAILED: "Left/right digits of the setup were typed wrongly",
    Reason.LOW_VARIANCE: "Ratings in the session hardly varied",
    Reason.PAGE_HIDDEN: "The page was hidden (another tab or app) while clips played",
}


@dataclass(frozen=True)
class ScreeningRules:
    """Which rules apply. Defaults are the Vinylset paper's (section 2): math, trap,
    hearing, headphones, session rating variance below 0.1, at most 20 sessions a rater;
    and, beyond the paper, a rater verdict: a rater whose votes correlate less than
    `min_rater_pcc` with the other raters' MOS (gold clips counted at their known score,
    see `rater_agreement`) is left out once `min_rater_answers` of their answers count.
    A rater who answers every trap but rates the music at random passes every session
    rule; this one catches them.

    Off by default: the session-level gold rule (`gold_wrong`, accepted within
    `gold_tolerance`), per-stimulus outlier votes (`outlier_z`, 3.29 in the P.808
    toolkit), and the page hidden (another tab or app) for more than
    `hidden_seconds_per_clip` during more than `max_hidden_clips` rated clips.
    `setup_failed` is on: the toolkit's page stops a rater
    who fails the left/right digits, so a completed session with a failed setup means
    the page was bypassed. ``None`` switches a numeric rule off.
    """

    math_wrong: bool = True
    trap_wrong: bool = True
    abnormal_hearing: bool = True
    no_headphones: bool = True
    setup_failed: bool = True
    min_variance: float | None = 0.1
    max_sessions_per_rater: int | None = 20
    gold_wrong: bool = False
    gold_tolerance: int = 1
    outlier_z: float | None = None
    min_rater_pcc: float | None = 0.3
    min_rater_answers: int = 10
    max_hidden_clips: int | None = None
    hidden_seconds_per_clip: float = 1.0


@dataclass(frozen=True)
class SessionAnswers:
    """What one session's rater answered, as screening needs it.

    `ordinal` is the session's rank among this rater's sessions (1-based, by completion
    time). A question answered ``None`` was not asked in this session (the toolkit asks
    setup questions once per rater and period); it neither passes nor fails a rule.
    `traps` and `gold` hold (expected, given) ACR answers; `scores` the votes on rated
    stimuli only (no training, trap or gold clip).
    """

    session: Hashable
    rater: Hashable
    ordinal: int
    completed: bool
    scores: Sequence[int]
    math_correct: bool | None = None
    hearing_normal: bool | None = None
    headphones: bool | None = None
    setup_passed: bool | None = None
    traps: Sequence[tuple[int, int | None]] = field(default_factory=tuple)
    gold: Sequence[tuple[int, int | None]] = field(default_factory=tuple)
    # Seconds the page was hidden while each rated clip played (None: not measured).
    hidden_s: Sequence[float | None] = field(default_factory=tuple)


@dataclass(frozen=True)
class Verdict:
    """Whether a session's votes are used, and every reason they are not."""

    valid: bool
    reasons: tuple[Reason, ...]


# A variance meant to be exactly on the threshold (9 x 3 and 1 x 4 gives 0.1) must not
# fall below it through rounding.
_VARIANCE_SLACK = 1e-9


def rating_variance(scores: Sequence[int]) -> float | None:
    """Sample variance (ddof=1) of a session's votes, as the P.808 toolkit computes it
    (`statistics.variance`, trap and gold clips left out). ``None`` below two votes."""
    if len(scores) < 2:
        return None
    return float(np.var(np.asarray(scores, dtype=float), ddof=1))


def screen_session(answers: SessionAnswers, rules: ScreeningRules | None = None) -> Verdict:
    """Verdict on one session (Vinylset paper section 2; P.808 toolkit acceptance and
    "accept and use" criteria). Every failing rule is reported, in a fixed order.

    An incomplete session is judged INCOMPLETE only: its other answers are partial.
    A trap left unanswered counts as wrong. With fewer than two votes the variance is
    undefined and the low-variance rule fails, since nothing shows the scale was used.
    """
    rules = rules or ScreeningRules()
    if not answers.completed:
        return Verdict(valid=False, reasons=(Reason.INCOMPLETE,))
    reasons: list[Reason] = []
    cap = rules.max_sessions_per_rater
    if cap is not None and answers.ordinal > cap:
        reasons.append(Reason.OVER_SESSION_CAP)
    if rules.math_wrong and answers.math_correct is False:
        reasons.append(Reason.MATH_WRONG)
    if rules.trap_wrong and any(given != expected for expected, given in answers.traps):
        reasons.append(Reason.TRAP_WRONG)
    if rules.gold_wrong and any(
        given is None or abs(given - expected) > rules.gold_tolerance
        for expected, given in answers.gold
    ):
        reasons.append(Reason.GOLD_WRONG)
    if rules.abnormal_hearing and answers.hearing_normal is False:
        reasons.append(Reason.ABNORMAL_HEARING)
    if rules.no_headphones and answers.headphones is False:
        reasons.append(Reason.NO_HEADPHONES)
    if rules.setup_failed and answers.setup_passed is False:
        reasons.append(Reason.SETUP_FAILED)
    if rules.max_hidden_clips is not None:
        hidden = sum(
            1 for s in answers.hidden_s if s is not None and s > rules.hidden_seconds_per_clip
        )
        if hidden > rules.max_hidden_clips:
            reasons.append(Reason.PAGE_HIDDEN)
    if rules.min_variance is not None:
        variance = rating_variance(answers.scores)
        if variance is None or variance < rules.min_variance - _VARIANCE_SLACK:
            reasons.append(Reason.LOW_VARIANCE)
    return Verdict(valid=not reasons, reasons=tuple(reasons))


@dataclass(frozen=True)
class SessionTable:
    """Many sessions' answers as parallel arrays, for `screen_sessions`: what
    `SessionAnswers` holds, reduced to what the rules read. Tri-state answers (True,
    False, not asked) are int8 1 / 0 / -1. `votes`, `score_sum` and `score_squares` are
    over the rated stimuli; `traps_wrong` counts trap answers wrong or missing;
    `gold_worst` is the largest gold error (a missing answer counts as 99, no gold 0);
    `hidden_clips` counts rated clips heard with the page hidden past the rules'
    `hidden_seconds_per_clip`."""

    completed: npt.NDArray[np.bool_]
    ordinal: npt.NDArray[np.int64]
    math_correct: npt.NDArray[np.int8]
    hearing_normal: npt.NDArray[np.int8]
    headphones: npt.NDArray[np.int8]
    setup_passed: npt.NDArray[np.int8]
    traps_wrong: npt.NDArray[np.int64]
    gold_worst: npt.NDArray[np.int64]
    hidden_clips: npt.NDArray[np.int64]
    votes: npt.NDArray[np.int64]
    score_sum: npt.NDArray[np.float64]
    score_squares: npt.NDArray[np.float64]

    @classmethod
    def from_answers(
        cls, sessions: Sequence[SessionAnswers], hidden_seconds_per_clip: float = 1.0
    ) -> SessionTable:
        """The table of `sessions` (for tests and small batches)."""

        def tri(values: Sequence[bool | None]) -> npt.NDArray[np.int8]:
            return np.array([-1 if v is None else int(v) for v in values], dtype=np.int8)

        def worst(gold: Sequence[tuple[int, int | None]]) -> int:
            return max((99 if g is None else abs(g - e) for e, g in gold), default=0)

        return cls(
            completed=np.array([a.completed for a in sessions], dtype=bool),
            ordinal=np.array([a.ordinal for a in sessions], dtype=np.int64),
            math_correct=tri([a.math_correct for a in sessions]),
            hearing_normal=tri([a.hearing_normal for a in sessions]),
            headphones=tri([a.headphones for a in sessions]),
            setup_passed=tri([a.setup_passed for a in sessions]),
            traps_wrong=np.array(
                [sum(g != e for e, g in a.traps) for a in sessions], dtype=np.int64
            ),
            gold_worst=np.array([worst(a.gold) for a in sessions], dtype=np.int64),
            hidden_clips=np.array(
                [
                    sum(1 for h in a.hidden_s if h is not None and h > hidden_seconds_per_clip)
                    for a in sessions
                ],
                dtype=np.int64,
            ),
            votes=np.array([len(a.scores) for a in sessions], dtype=np.int64),
            score_sum=np.array([float(sum(a.scores)) for a in sessions]),
            score_squares=np.array([float(sum(x * x for x in a.scores)) for a in sessions]),
        )

    def variances(self) -> npt.NDArray[np.float64]:
        """Each session's sample variance (ddof=1) of its votes; NaN below two votes."""
        n = self.votes.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            centred = self.score_squares - self.score_sum**2 / n
            return np.where(n >= 2, np.maximum(centred, 0.0) / (n - 1), np.nan)


def screen_sessions(
    table: SessionTable, rules: ScreeningRules | None = None
) -> tuple[npt.NDArray[np.bool_], list[tuple[Reason, ...]]]:
    """`screen_session` over every row of `table` at once: the same verdicts, with the
    reasons in the same order (tested against it), in a few array operations."""
    rules = rules or ScreeningRules()
    completed = table.completed
    failing: list[tuple[Reason, npt.NDArray[np.bool_]]] = []
    if rules.max_sessions_per_rater is not None:
        failing.append((Reason.OVER_SESSION_CAP, table.ordinal > rules.max_sessions_per_rater))
    if rules.math_wrong:
        failing.append((Reason.MATH_WRONG, table.math_correct == 0))
    if rules.trap_wrong:
        failing.append((Reason.TRAP_WRONG, table.traps_wrong > 0))
    if rules.gold_wrong:
        failing.append((Reason.GOLD_WRONG, table.gold_worst > rules.gold_tolerance))
    if rules.abnormal_hearing:
        failing.append((Reason.ABNORMAL_HEARING, table.hearing_normal == 0))
    if rules.no_headphones:
        failing.append((Reason.NO_HEADPHONES, table.headphones == 0))
    if rules.setup_failed:
        failing.append((Reason.SETUP_FAILED, table.setup_passed == 0))
    if rules.max_hidden_clips is not None:
        failing.append((Reason.PAGE_HIDDEN, table.hidden_clips > rules.max_hidden_clips))
    if rules.min_variance is not None:
        variance = table.variances()
        low = np.isnan(variance) | (variance < rules.min_variance - _VARIANCE_SLACK)
        failing.append((Reason.LOW_VARIANCE, low))
    codes = np.zeros(completed.size, dtype=np.int64)
    for bit, (_, mask) in enumerate(failing):
        codes |= (mask & completed).astype(np.int64) << bit
    # Sessions share few combinations of reasons: build each tuple once.
    combos: dict[int, tuple[Reason, ...]] = {}
    reasons: list[tuple[Reason, ...]] = []
    for code, done in zip(codes.tolist(), completed.tolist()):
        if not done:
            reasons.append((Reason.INCOMPLETE,))
            continue
        found = combos.get(code)
        if found is None:
            found = tuple(reason for bit, (reason, _) in enumerate(failing) if code >> bit & 1)
            combos[code] = found
        reasons.append(found)
    valid = completed & (codes == 0)
    return valid, reasons


def outlier_votes(
    stimulus_ids: Sequence[Hashable] | npt.ArrayLike,
    scores: npt.ArrayLike,
    threshold: float = 3.29,
) -> npt.NDArray[np.bool_]:
    """Mask of votes whose z-score within their stimulus is at least `threshold`
    (P.808 toolkit `outliers_z_score`: scipy's population z-score, ddof=0, |z| >= 3.29).

    A stimulus with fewer than two votes or unanimous votes has no outlier. With ddof=0
    no |z| can exceed (n-1)/sqrt(n), so the rule removes nothing below 13 votes.
    """
    values = np.asarray(scores, dtype=float)
    _, group = np.unique(np.asarray(stimulus_ids), return_inverse=True)
    group = group.ravel()
    if group.size != values.size:
        raise ValueError("stimulus_ids and scores must have the same length")
    count = np.bincount(group)
    mean = np.bincount(group, weights=values) / count
    deviation = values - mean[group]
    std = np.sqrt(np.bincount(group, weights=deviation**2) / count)
    spread = std[group]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(deviation) / spread
    return np.where(spread > 0, z >= threshold, False)


# Gold answers a rater needs before the rater-level gold rule judges them.
MIN_GOLD_JUDGED = 3


class RaterReason(StrEnum):
    """Why a rater's votes are left out (a verdict on the rater, over all their valid
    sessions). The value is the stable code stored with the verdict."""

    LOW_CORRELATION = "low_rater_pcc"
    GOLD_WRONG = "rater_gold_wrong"

    @property
    def text(self) -> str:
        if self is RaterReason.GOLD_WRONG:
            return "Most gold answers off their known score, over all the rater's sessions"
        return "Votes do not follow the other raters' MOS and the gold clips' scores"


@dataclass(frozen=True)
class RaterAgreement:
    """How one rater's answers follow the reference: the others' MOS on the stimuli
    they share, and the known score of each gold clip. `answers` counts the pairs the
    correlation is over (stimuli with enough other votes, plus answered gold clips)."""

    pcc: float
    answers: int
    gold_answers: int


@dataclass(frozen=True)
class RaterVerdict:
    """`valid` is None while too few of the rater's answers count to judge them."""

    valid: bool | None
    reasons: tuple[RaterReason, ...]


def rater_agreement(
    rater_ids: Sequence[Hashable] | npt.ArrayLike,
    stimulus_ids: Sequence[Hashable] | npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    gold_raters: Sequence[Hashable] | npt.ArrayLike = (),
    gold_expected: npt.ArrayLike = (),
    gold_given: npt.ArrayLike = (),
    min_others: int = 1,
    reference: npt.ArrayLike | None = None,
) -> dict[Hashable, RaterAgreement]:
    """Pearson correlation of each rater's answers with a reference made without them:
    on a rated stimulus, the mean of the OTHER raters' votes (the P.808 toolkit's
    rater-quality PCC, made leave-one-out so nobody correlates with themselves); on a
    gold clip, its known score.

    The gold clips are what makes the test sharp on real collections: the stimuli of an
    archive often span under one ACR point of MOS, so an honest rater's correlation
    with the others is weak, while a clip known to be bad among them gives the
    correlation a range that an honest rater follows and a random one does not.

    A rater's repeated votes on one stimulus are averaged first; a stimulus is used only
    when at least `min_others` other raters voted on it. `reference` (one flag per vote,
    all by default) says which votes make the others' means: a rater is judged on all
    their answers, against the votes that count (those of valid sessions). Raters with
    votes but no usable pair get NaN, as do raters whose answers or reference are
    constant. Vectorised: one pass of `np.bincount` per sum, whatever the number of
    raters.
    """
    values = np.asarray(scores, dtype=float)
    raters_in = np.asarray(rater_ids)
    stimuli_in = np.asarray(stimulus_ids)
    if not raters_in.size == stimuli_in.size == values.size:
        raise ValueError("rater_ids, stimulus_ids and scores must have the same length")
    gold_r = np.asarray(gold_raters)
    gold_e = np.asarray(gold_expected, dtype=float)
    gold_g = np.asarray(gold_given, dtype=float)
    if not gold_r.size == gold_e.size == gold_g.size:
        raise ValueError("gold_raters, gold_expected and gold_given must have the same length")
    answered = ~np.isnan(gold_g)
    gold_r, gold_e, gold_g = gold_r[answered], gold_e[answered], gold_g[answered]
    if values.size == 0 and gold_r.size == 0:
        return {}
    keys, owner_all = np.unique(np.concatenate([raters_in, gold_r]), return_inverse=True)
    owner_all = owner_all.ravel()
    rater, gold_owner = owner_all[: values.size], owner_all[values.size :]
    n_raters = keys.size
    x_parts: list[npt.NDArray[np.float64]] = []
    y_parts: list[npt.NDArray[np.float64]] = []
    who_parts: list[npt.NDArray[np.intp]] = []
    if values.size:
        _, stimulus = np.unique(stimuli_in, return_inverse=True)
        stimulus = stimulus.ravel()
        n_stimuli = int(stimulus.max()) + 1
        counts = np.ones(values.size) if reference is None else np.asarray(reference, dtype=float)
        if counts.size != values.size:
            raise ValueError("reference must have one flag per vote")
        stimulus_sum = np.bincount(stimulus, weights=values * counts, minlength=n_stimuli)
        # One row per (rater, stimulus) pair; `voters` counts raters, not votes.
        pair_keys, pair = np.unique(rater * n_stimuli + stimulus, return_inverse=True)
        pair = pair.ravel()
        pair_sum = np.bincount(pair, weights=values)
        pair_count = np.bincount(pair)
        pair_ref_sum = np.bincount(pair, weights=values * counts)
        pair_ref_count = np.bincount(pair, weights=counts)
        pair_rater, pair_stimulus = np.divmod(pair_keys, n_stimuli)
        in_reference = pair_ref_count > 0
        voters = np.bincount(pair_stimulus, weights=in_reference, minlength=n_stimuli)
        vote_count = np.bincount(stimulus, weights=counts, minlength=n_stimuli)
        others = voters[pair_stimulus] - in_reference
        usable = others >= max(min_others, 1)
        other_votes = (vote_count[pair_stimulus] - pair_ref_count)[usable]
        x_parts.append((pair_sum / pair_count)[usable])
        y_parts.append((stimulus_sum[pair_stimulus] - pair_ref_sum)[usable] / other_votes)
        who_parts.append(pair_rater[usable])
    x_parts.append(gold_g)
    y_parts.append(gold_e)
    who_parts.append(gold_owner)
    x, y, who = np.concatenate(x_parts), np.concatenate(y_parts), np.concatenate(who_parts)
    pcc = _grouped_pearson(who, x, y, n_raters)
    count = np.bincount(who, minlength=n_raters)
    gold_count = np.bincount(gold_owner, minlength=n_raters)
    return {
        key: RaterAgreement(
            pcc=float(pcc[i]), answers=int(count[i]), gold_answers=int(gold_count[i])
        )
        for i, key in enumerate(keys.tolist())
    }


def _grouped_pearson(
    group: npt.NDArray[np.intp],
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    groups: int,
) -> npt.NDArray[np.float64]:
    """Pearson correlation of x and y within each group, from centred sums (the group
    means are taken out first, so the sums of squares do not cancel)."""
    n = np.bincount(group, minlength=groups).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = x - (np.bincount(group, weights=x, minlength=groups) / n)[group]
        dy = y - (np.bincount(group, weights=y, minlength=groups) / n)[group]
        sxx = np.bincount(group, weights=dx * dx, minlength=groups)
        syy = np.bincount(group, weights=dy * dy, minlength=groups)
        sxy = np.bincount(group, weights=dx * dy, minlength=groups)
        denominator = np.sqrt(sxx * syy)
        # Constant sides give 0/0; float noise below 1e-12 is constant too.
        return np.where((n >= 2) & (denominator > 1e-12), sxy / denominator, np.nan)


def rater_verdict(
    agreement: RaterAgreement | None, rules: ScreeningRules | None = None, *, gold_wrong: int = 0
) -> RaterVerdict:
    """The verdict on a rater from their agreement: pending (None) below
    `min_rater_answers` counted answers or with an undefined correlation (a constant
    rater is the variance rule's business), invalid below `min_rater_pcc`.

    With the gold rule on (`gold_wrong`), a rater who answered at least
    `MIN_GOLD_JUDGED` gold clips and missed more than a third of them (`gold_wrong`:
    answers off by more than `gold_tolerance`, over all their sessions) is invalid too: a
    session whose gold answers were right by luck does not save a rater whose others
    failed, and one slip in three gold answers does not lose an honest rater."""
    rules = rules or ScreeningRules()
    answered = agreement.gold_answers if agreement is not None else 0
    if rules.gold_wrong and answered >= MIN_GOLD_JUDGED and 3 * gold_wrong > answered:
        return RaterVerdict(valid=False, reasons=(RaterReason.GOLD_WRONG,))
    if rules.min_rater_pcc is None:
        return RaterVerdict(valid=True, reasons=())
    if agreement is None or agreement.answers < rules.min_rater_answers or np.isnan(agreement.pcc):
        return RaterVerdict(valid=None, reasons=())
    if agreement.pcc < rules.min_rater_pcc:
        return RaterVerdict(valid=False, reasons=(RaterReason.LOW_CORRELATION,))
    return RaterVerdict(valid=True, reasons=())
