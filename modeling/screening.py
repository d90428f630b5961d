"""Screening of rating sessions and votes (ITU-T P.808 clause on data screening; the
P.808 crowdsourcing toolkit's result parser; the Vinylset paper's exclusion criteria).

A session's fate is a pure function of its answers: `screen_session` never looks at a
database, so the same answers always give the same verdict and an admin override is a
separate, recorded decision. Vote-level rules that need every session at once (outlier
votes, raters who disagree with everybody) are vectorised helpers over parallel arrays.
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
    hearing, headphones, session rating variance below 0.1, at most 20 sessions a rater.

    The toolkit's optional rules are off by default: gold stimuli
    (`gold_wrong`, accepted within `gold_tolerance`), per-stimulus outlier votes
    (`outlier_z`, 3.29 in the toolkit) and raters whose votes do not follow the MOS
    (`min_rater_pcc`, e.g. 0.25); also the page hidden (another tab or app) for more
    than `hidden_seconds_per_clip` during more than `max_hidden_clips` rated clips.
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
    min_rater_pcc: float | None = None
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


def rater_correlations(
    rater_ids: Sequence[Hashable] | npt.ArrayLike,
    stimulus_ids: Sequence[Hashable] | npt.ArrayLike,
    scores: npt.ArrayLike,
) -> dict[Hashable, float]:
    """Pearson correlation of each rater's votes with the MOS of the OTHER raters on the
    same stimuli (the P.808 toolkit's rater-quality PCC, made leave-one-out so a rater
    does not correlate with their own votes).

    A rater's repeated votes on one stimulus are averaged first. Stimuli nobody else
    rated are left out. NaN when fewer than two stimuli remain or either side is constant.
    """
    values = np.asarray(scores, dtype=float)
    rater_keys, rater = np.unique(np.asarray(rater_ids), return_inverse=True)
    _, stimulus = np.unique(np.asarray(stimulus_ids), return_inverse=True)
    rater, stimulus = rater.ravel(), stimulus.ravel()
    if not rater.size == stimulus.size == values.size:
        raise ValueError("rater_ids, stimulus_ids and scores must have the same length")
    if values.size == 0:
        return {}
    n_stimuli = int(stimulus.max()) + 1
    stimulus_sum = np.bincount(stimulus, weights=values, minlength=n_stimuli)
    stimulus_count = np.bincount(stimulus, minlength=n_stimuli)
    # One row per (rater, stimulus) pair.
    pair_keys, pair = np.unique(rater * n_stimuli + stimulus, return_inverse=True)
    pair = pair.ravel()
    pair_sum = np.bincount(pair, weights=values)
    pair_count = np.bincount(pair)
    pair_rater, pair_stimulus = np.divmod(pair_keys, n_stimuli)
    others = stimulus_count[pair_stimulus] - pair_count
    usable = others > 0
    x = (pair_sum / pair_count)[usable]
    y = (stimulus_sum[pair_stimulus] - pair_sum)[usable] / others[usable]
    owner = pair_rater[usable]
    result: dict[Hashable, float] = {}
    for index, key in enumerate(rater_keys.tolist()):
        mine = owner == index
        result[key] = _pearson(x[mine], y[mine])
    return result


def _pearson(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    if x.size < 2:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = float(np.sqrt((dx**2).sum() * (dy**2).sum()))
    if denominator == 0.0:
        return float("nan")
    return float((dx * dy).sum() / denominator)


def usable_votes(
    rater_ids: Sequence[Hashable] | npt.ArrayLike,
    stimulus_ids: Sequence[Hashable] | npt.ArrayLike,
    scores: npt.ArrayLike,
    rules: ScreeningRules | None = None,
) -> npt.NDArray[np.bool_]:
    """Mask of the votes of valid sessions that the optional vote-level rules keep.

    Raters below `min_rater_pcc` go first (a NaN correlation is not evidence against a
    rater, so it keeps them); outliers are then found among the remaining votes, so a
    dropped rater's votes do not shift the other votes' z-scores.
    """
    rules = rules or ScreeningRules()
    raters = np.asarray(rater_ids)
    stimuli = np.asarray(stimulus_ids)
    values = np.asarray(scores, dtype=float)
    keep = np.ones(values.size, dtype=bool)
    if rules.min_rater_pcc is not None and values.size:
        pcc = rater_correlations(raters, stimuli, values)
        low = [r for r, value in pcc.items() if value < rules.min_rater_pcc]
        keep &= ~np.isin(raters, np.asarray(low, dtype=raters.dtype))
    if rules.outlier_z is not None and keep.any():
        kept = np.flatnonzero(keep)
        keep[kept[outlier_votes(stimuli[kept], values[kept], rules.outlier_z)]] = False
    return keep
