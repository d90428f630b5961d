"""A simulated crowd of raters over stimuli of known quality, for testing screening and
analysis rules where the truth is known (no database, no audio).

Honest raters hear a stimulus's true MOS through their own constant bias and per-vote
noise of the stimulus's spread (as published for Vinylset: per-stimulus std), rounded to
the ACR scale. Cheaters pass every trap, digit and math question (those are not simulated:
they are answered right) but rate the music without listening, by a strategy:

- ``uniform``: any of 1..5;
- ``middle``: any of 2..4;
- ``narrow``: 3 or 4, a variance of 0.25, just above the straight-lining rule;
- ``plausible``: around the collection's usual score (normal, mean 3.6, sd 0.9).

Every session also holds `gold_per_session` gold clips known to be bad (score 1); honest
raters hear them as bad, cheaters answer them by their strategy too.

The same raters answer one clip at a time (`SimulatedRater`) for the demo's crowd, the
benchmarks and the tests that take sessions through the rater API; `simulate_crowd`
draws whole sessions at once for the screening and MOS studies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

STRATEGIES = ("uniform", "middle", "narrow", "plausible")
GOLD_SCORE = 1
#: How a gold clip known to be bad sounds to an honest rater, before their bias and noise.
GOLD_HEARD = GOLD_SCORE + 0.2


@dataclass(frozen=True)
class SimulatedRater:
    """One rater answering one clip at a time. An honest rater (`strategy` None) hears a
    clip's true quality plus their constant `bias` plus noise of sd `spread`, rounded to
    the ACR scale; a cheater answers the music by `strategy` (one of `STRATEGIES`)
    without listening. Traps are answered right unless the rater is `careless`."""

    bias: float = 0.0
    spread: float = 0.7
    strategy: str | None = None
    careless: bool = False

    def __post_init__(self) -> None:
        if self.strategy is not None and self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be None or one of {', '.join(STRATEGIES)}")

    def rate(self, quality: float | None, rng: np.random.Generator) -> int:
        """The score given to a clip whose true quality is `quality` (a gold clip known
        to be bad: `GOLD_HEARD`); a cheater needs no quality (None)."""
        if self.strategy is not None:
            return int(cheat_scores(rng, self.strategy, 1)[0])
        if quality is None:
            raise ValueError("an honest rater needs the clip's quality")
        return int(acr(np.asarray(quality + self.bias + rng.normal(0.0, self.spread))))

    def answer_trap(
        self, answer: int, rng: np.random.Generator, scale: tuple[int, int] = (1, 5)
    ) -> int:
        """A trap's answer: the one it asks for, or another of the scale's when careless."""
        if not self.careless:
            return answer
        return int(rng.choice([s for s in range(scale[0], scale[1] + 1) if s != answer]))

    def compare(self, first: float, second: float, rng: np.random.Generator) -> int:
        """A CCR answer (P.808 Annex E): the second clip's quality against the first's,
        each heard with the rater's noise, rounded within -3..+3 (a constant bias
        cancels in a difference); a cheater answers any of -3..+3."""
        if self.strategy is not None:
            return int(rng.integers(-3, 4))
        heard = second - first + rng.normal(0.0, self.spread * np.sqrt(2.0))
        return int(np.clip(np.rint(heard), -3, 3))

    def prefers_first(self, first: float, second: float, rng: np.random.Generator) -> bool:
        """A paired preference: the first clip sounds better (Thurstone's case V: each
        heard with the rater's noise); a cheater flips a coin."""
        if self.strategy is not None:
            return bool(rng.random() < 0.5)
        return bool(first - second + rng.normal(0.0, self.spread * np.sqrt(2.0)) > 0)


@dataclass(frozen=True)
class CrowdVotes:
    """Parallel arrays of rating votes and of gold answers, and who cheated."""

    rater: npt.NDArray[np.int64]
    stimulus: npt.NDArray[np.int64]
    score: npt.NDArray[np.int64]
    gold_rater: npt.NDArray[np.int64]
    gold_expected: npt.NDArray[np.int64]
    gold_given: npt.NDArray[np.int64]
    cheater: npt.NDArray[np.bool_]  # indexed by rater id
    bias: npt.NDArray[np.float64]  # each rater's offset, indexed by rater id
    sessions: int


def simulate_crowd(
    true_mos: npt.ArrayLike,
    rater_sd: npt.ArrayLike,
    *,
    votes_per_stimulus: int = 30,
    per_session: int = 20,
    gold_per_session: int = 2,
    cheat_share: float = 0.15,
    strategy: str = "mixed",
    bias_sd: float = 0.3,
    max_sessions_per_rater: int = 5,
    seed: int = 0,
) -> CrowdVotes:
    """Sessions of `per_session` distinct stimuli until each stimulus has about
    `votes_per_stimulus` votes; each rater takes a geometric number of sessions (mean 2,
    at most `max_sessions_per_rater`). `strategy` is one of `STRATEGIES`, or "mixed" for
    a strategy drawn per cheater."""
    if strategy != "mixed" and strategy not in STRATEGIES:
        raise ValueError(f"strategy must be 'mixed' or one of {', '.join(STRATEGIES)}")
    mos = np.asarray(true_mos, dtype=float)
    spread = np.asarray(rater_sd, dtype=float)
    rng = np.random.default_rng(seed)
    n_stimuli = mos.size
    n_sessions = max(1, n_stimuli * votes_per_stimulus // per_session)
    rater_parts: list[npt.NDArray[np.int64]] = []
    stimulus_parts: list[npt.NDArray[np.int64]] = []
    score_parts: list[npt.NDArray[np.int64]] = []
    gold_parts: list[tuple[int, npt.NDArray[np.int64]]] = []
    cheater: list[bool] = []
    biases: list[float] = []
    taken = 0
    while taken < n_sessions:
        rater = len(cheater)
        cheats = bool(rng.random() < cheat_share)
        cheater.append(cheats)
        how = str(rng.choice(STRATEGIES)) if strategy == "mixed" else strategy
        bias = float(rng.normal(0.0, bias_sd))
        biases.append(bias)
        for _ in range(min(int(rng.geometric(0.5)), max_sessions_per_rater)):
            if taken == n_sessions:
                break
            stimuli = rng.choice(n_stimuli, per_session, replace=False)
            if cheats:
                answers = cheat_scores(rng, how, per_session + gold_per_session)
                scores, gold = answers[:per_session], answers[per_session:]
            else:
                heard = mos[stimuli] + bias + rng.normal(0.0, 1.0, per_session) * spread[stimuli]
                scores = acr(heard)
                gold = acr(GOLD_HEARD + bias + rng.normal(0.0, 0.5, gold_per_session))
            rater_parts.append(np.full(per_session, rater, dtype=np.int64))
            stimulus_parts.append(stimuli.astype(np.int64))
            score_parts.append(scores)
            gold_parts.append((rater, gold))
            taken += 1
    gold_rater = np.concatenate([np.full(g.size, r, dtype=np.int64) for r, g in gold_parts])
    gold_given = np.concatenate([g for _, g in gold_parts])
    return CrowdVotes(
        rater=np.concatenate(rater_parts),
        stimulus=np.concatenate(stimulus_parts),
        score=np.concatenate(score_parts),
        gold_rater=gold_rater,
        gold_expected=np.full(gold_given.size, GOLD_SCORE, dtype=np.int64),
        gold_given=gold_given,
        cheater=np.asarray(cheater, dtype=bool),
        bias=np.asarray(biases),
        sessions=taken,
    )


def acr(heard: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """What was heard, on the ACR scale: rounded to a whole point within 1..5."""
    return np.clip(np.rint(heard), 1, 5).astype(np.int64)


def cheat_scores(rng: np.random.Generator, how: str, n: int) -> npt.NDArray[np.int64]:
    """`n` scores of a cheater who does not listen, by strategy `how`."""
    if how == "uniform":
        return rng.integers(1, 6, n)
    if how == "middle":
        return rng.integers(2, 5, n)
    if how == "narrow":
        return rng.integers(3, 5, n)
    return acr(rng.normal(3.6, 0.9, n))
