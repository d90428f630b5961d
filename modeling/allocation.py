"""Session design for an ITU-T P.808 ACR test (Vinylset paper, section 2): stratified
rating sessions balanced over stimuli, handing a session to a rater who must never hear a
stimulus twice, the training set, trap placement, and the setup challenges.

Everything is deterministic given a seed (a numpy Generator, or an int to make one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

T = TypeVar("T")

Seed = int | np.random.Generator


class AllocationError(ValueError):
    """A session design that cannot be built as asked."""


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _deal(
    items: Sequence[int], n_sessions: int, per_session: int, rng: np.random.Generator
) -> list[list[int]]:
    """Deal `items` into `n_sessions` groups of `per_session` distinct items, every item
    used floor or ceil(n_sessions * per_session / len(items)) times.

    Each item, most-needed first, goes to the sessions with the most free slots, ties
    broken at random. Free slots then never differ by more than one between sessions,
    so an item needing k <= n_sessions appearances always finds k distinct sessions.
    """
    slots = n_sessions * per_session
    base, extra = divmod(slots, len(items))
    counts = np.full(len(items), base)
    counts[rng.permutation(len(items))[:extra]] += 1
    free = np.full(n_sessions, per_session)
    groups: list[list[int]] = [[] for _ in range(n_sessions)]
    shuffled = rng.permutation(len(items))
    for i in shuffled[np.argsort(-counts[shuffled], kind="stable")]:
        chosen = np.lexsort((rng.random(n_sessions), -free))[: counts[i]]
        if np.any(free[chosen] <= 0):  # unreachable by the argument above
            raise AllocationError("could not deal the items without repeating one")
        free[chosen] -= 1
        for s in chosen:
            groups[s].append(items[i])
    return groups


def plan_rating_sessions(
    stimuli_by_cluster: Mapping[int, Sequence[int]],
    *,
    per_cluster: int = 4,
    votes_per_stimulus: int = 15,
    seed: Seed,
) -> list[list[int]]:
    """Rating sessions of `per_cluster` stimuli from every cluster (paper: 4 x 5 = 20),
    no stimulus twice in a session, in shuffled order.

    The number of sessions is what the LARGEST cluster needs for every one of its stimuli
    to get `votes_per_stimulus` appearances: ceil(size * votes / per_cluster). Every
    cluster fills per_cluster slots in each session, so a smaller cluster's stimuli get
    proportionally more appearances. Within a cluster appearances differ by at most one:
    exact when size * votes is divisible by per_cluster, else the fewest stimuli get one
    more. After equalisation clusters are equal: 5 x 124 stimuli, 15 votes -> 465
    sessions.
    """
    if not stimuli_by_cluster:
        raise AllocationError("no clusters to draw sessions from")
    if per_cluster < 1:
        raise AllocationError(f"per_cluster must be at least 1, got {per_cluster}")
    if votes_per_stimulus < 1:
        raise AllocationError(f"votes_per_stimulus must be at least 1, got {votes_per_stimulus}")
    seen: set[int] = set()
    for cluster, stimuli in stimuli_by_cluster.items():
        if len(stimuli) < per_cluster:
            raise AllocationError(
                f"cluster {cluster} has {len(stimuli)} stimuli, fewer than the "
                f"{per_cluster} each session takes from it"
            )
        if len(set(stimuli)) != len(stimuli) or seen.intersection(stimuli):
            raise AllocationError(f"cluster {cluster} repeats a stimulus")
        seen.update(stimuli)
    rng = _rng(seed)
    n_sessions = max(
        math.ceil(len(stimuli) * votes_per_stimulus / per_cluster)
        for stimuli in stimuli_by_cluster.values()
    )
    sessions: list[list[int]] = [[] for _ in range(n_sessions)]
    for cluster in sorted(stimuli_by_cluster):
        groups = _deal(list(stimuli_by_cluster[cluster]), n_sessions, per_cluster, rng)
        for session, group in zip(sessions, groups):
            session.extend(group)
    return [[session[i] for i in rng.permutation(len(session))] for session in sessions]


@dataclass(frozen=True)
class Swap:
    """Exchange `stimulus_out` of the chosen session for `stimulus_in` of the open session
    at index `other`: the chosen session gets stimulus_in, the other gets stimulus_out.
    Both stimuli are in the same cluster, so counts and cluster make-up are unchanged."""

    stimulus_out: int
    stimulus_in: int
    other: int


@dataclass(frozen=True)
class Choice:
    """The open session (by index) to give the rater, after applying `swaps` in order."""

    index: int
    swaps: tuple[Swap, ...] = ()


def choose_session(
    open_sessions: Sequence[Sequence[int]],
    seen: set[int] | frozenset[int],
    cluster_of: Mapping[int, int],
) -> Choice | None:
    """Pick an unstarted session (in priority order) for a rater who already rated `seen`,
    so that nobody rates a stimulus twice.

    The first session disjoint from `seen` wins. Otherwise the session with the fewest
    seen stimuli (earliest on ties) that can be repaired is repaired: each seen stimulus
    a is exchanged for a same-cluster, unseen stimulus b of another open session T, with
    b not already in the session and a not in T, so neither gets a duplicate. Donors are
    taken from the back of the queue, which is furthest from being handed out. Returns
    None when no open session can be made fresh for this rater.
    """
    seen_counts = [sum(stimulus in seen for stimulus in session) for session in open_sessions]
    for index, count in enumerate(seen_counts):
        if count == 0:
            return Choice(index)
    members = [set(session) for session in open_sessions]
    donors: dict[int, list[tuple[int, int]]] = {}
    unseen_by_cluster: dict[int, set[int]] = {}
    for other in reversed(range(len(open_sessions))):
        for stimulus in open_sessions[other]:
            if stimulus not in seen:
                cluster = _cluster(cluster_of, stimulus)
                donors.setdefault(cluster, []).append((other, stimulus))
                unseen_by_cluster.setdefault(cluster, set()).add(stimulus)
    for index in sorted(range(len(open_sessions)), key=lambda i: (seen_counts[i], i)):
        if not _could_repair(open_sessions[index], seen, cluster_of, unseen_by_cluster):
            continue
        swaps = _repair(index, open_sessions[index], seen, cluster_of, members, donors)
        if swaps is not None:
            return Choice(index, swaps)
    return None


def _cluster(cluster_of: Mapping[int, int], stimulus: int) -> int:
    try:
        return cluster_of[stimulus]
    except KeyError:
        raise AllocationError(f"stimulus {stimulus} has no cluster") from None


def _could_repair(
    session: Sequence[int],
    seen: set[int] | frozenset[int],
    cluster_of: Mapping[int, int],
    unseen_by_cluster: Mapping[int, set[int]],
) -> bool:
    """Cheap necessary condition: enough distinct unseen stimuli per cluster outside it."""
    needed: dict[int, int] = {}
    for stimulus in session:
        if stimulus in seen:
            cluster = _cluster(cluster_of, stimulus)
            needed[cluster] = needed.get(cluster, 0) + 1
    members = set(session)
    return all(
        len(unseen_by_cluster.get(cluster, set()) - members) >= count
        for cluster, count in needed.items()
    )


def _repair(
    index: int,
    session: Sequence[int],
    seen: set[int] | frozenset[int],
    cluster_of: Mapping[int, int],
    members: Sequence[set[int]],
    donors: Mapping[int, list[tuple[int, int]]],
) -> tuple[Swap, ...] | None:
    current = set(session)
    changed: dict[int, set[int]] = {}  # donors' contents after earlier swaps
    swaps: list[Swap] = []
    for out in session:
        if out not in seen:
            continue
        for other, stimulus_in in donors.get(cluster_of[out], ()):
            if other == index or stimulus_in in current:
                continue
            donor = changed.get(other, members[other])
            if stimulus_in not in donor or out in donor:
                continue
            changed[other] = (donor - {stimulus_in}) | {out}
            current.discard(out)
            current.add(stimulus_in)
            swaps.append(Swap(stimulus_out=out, stimulus_in=stimulus_in, other=other))
            break
        else:
            return None
    return tuple(swaps)


def training_set(
    stimuli_by_cluster: Mapping[int, Sequence[int]], *, size: int = 12, seed: Seed
) -> list[int]:
    """Training stimuli drawn like a rating session (paper: 12 before rating): stratified
    over clusters as evenly as possible; the seed picks which clusters get one more
    (12 over 5 clusters -> 3, 3, 2, 2, 2). Returned in playing order, shuffled."""
    if size < 0:
        raise AllocationError(f"training size must not be negative, got {size}")
    if not stimuli_by_cluster:
        raise AllocationError("no clusters to draw the training set from")
    rng = _rng(seed)
    clusters = sorted(stimuli_by_cluster)
    base, extra = divmod(size, len(clusters))
    bigger = set(rng.permutation(len(clusters))[:extra].tolist())
    chosen: list[int] = []
    for position, cluster in enumerate(clusters):
        stimuli = list(stimuli_by_cluster[cluster])
        take = base + (position in bigger)
        if take > len(stimuli):
            raise AllocationError(
                f"cluster {cluster} has {len(stimuli)} stimuli, the training set needs {take}"
            )
        chosen.extend(stimuli[i] for i in rng.choice(len(stimuli), take, replace=False))
    return [chosen[i] for i in rng.permutation(len(chosen))]


def training_set_capped(
    stimuli_by_cluster: Mapping[int, Sequence[int]], *, size: int = 12, seed: Seed
) -> list[int]:
    """Training stimuli from pools of unequal size (the stimuli left out of rating, of
    which the smallest cluster has none after equalising): as even over the clusters as
    their sizes allow, a cluster's shortfall spread over the others; the seed picks which
    clusters get one more. Returned in playing order, shuffled."""
    if size < 0:
        raise AllocationError(f"training size must not be negative, got {size}")
    available = {c: len(s) for c, s in stimuli_by_cluster.items()}
    if size > sum(available.values()):
        raise AllocationError(
            f"the training set needs {size} stimuli; the pools hold {sum(available.values())}"
        )
    rng = _rng(seed)
    quota = dict.fromkeys(available, 0)
    remaining = size
    while remaining:
        open_ = [c for c in sorted(available) if quota[c] < available[c]]
        base, extra = divmod(remaining, len(open_))
        if base == 0:
            for i in rng.permutation(len(open_))[:extra]:
                quota[open_[int(i)]] += 1
            break
        for cluster in open_:
            take = min(base, available[cluster] - quota[cluster])
            quota[cluster] += take
            remaining -= take
    chosen: list[int] = []
    for cluster in sorted(quota):
        stimuli = list(stimuli_by_cluster[cluster])
        chosen.extend(stimuli[i] for i in rng.choice(len(stimuli), quota[cluster], replace=False))
    return [chosen[i] for i in rng.permutation(len(chosen))]


def trap_positions(n_items: int, n_traps: int, *, seed: Seed) -> list[int]:
    """Where traps go in a session of `n_items` rated stimuli plus `n_traps` traps:
    sorted indices into the combined playlist, drawn at random (P.808: trapping
    questions at random positions). Position 0 is never used, so the first clip a rater
    hears is always music to rate, not a spoken interruption."""
    if n_traps < 0:
        raise AllocationError(f"n_traps must not be negative, got {n_traps}")
    if n_traps and n_items < 1:
        raise AllocationError("a trap needs at least one rated stimulus before it")
    rng = _rng(seed)
    positions = rng.choice(np.arange(1, n_items + n_traps), n_traps, replace=False)
    return sorted(int(p) for p in positions)


def insert_traps(items: Sequence[T], traps: Sequence[T], positions: Sequence[int]) -> list[T]:
    """The playlist with `traps[k]` at index `positions[k]` (sorted, from `trap_positions`)."""
    if len(traps) != len(positions):
        raise AllocationError("one position is needed per trap")
    playlist: list[T] = []
    remaining = iter(items)
    at = dict(zip(positions, traps))
    for index in range(len(items) + len(traps)):
        playlist.append(at[index] if index in at else next(remaining))
    return playlist


def assign_traps(
    n_sessions: int, traps: Sequence[int], *, per_session: int = 1, seed: Seed
) -> list[list[int]]:
    """Traps for each session, every trap used as evenly as possible (floor or ceil of
    n_sessions * per_session / len(traps)) and never twice in a session. The paper's 60
    traps are 12 tracks x 5 spoken answers, so a random trap is a random answer."""
    if per_session < 0 or n_sessions < 0:
        raise AllocationError("n_sessions and per_session must not be negative")
    if per_session == 0 or n_sessions == 0:
        return [[] for _ in range(n_sessions)]
    if len(set(traps)) != len(traps):
        raise AllocationError("traps repeat an id")
    if per_session > len(traps):
        raise AllocationError(f"{per_session} traps per session need at least as many traps")
    return _deal(list(traps), n_sessions, per_session, _rng(seed))


@dataclass(frozen=True)
class DigitsChallenge:
    """Setup check of stereo, two-ear listening: each digit is spoken only in the left
    ("L") or the right ("R") channel and the rater types the digits heard."""

    digits: str
    channels: tuple[str, ...]

    def matches(self, typed: str) -> bool:
        """Whether the rater typed these digits; spaces and separators are ignored."""
        return re.sub(r"\D", "", typed) == self.digits


def digits_challenge(rng: np.random.Generator, n_digits: int | None = None) -> DigitsChallenge:
    """2 or 3 distinct digits 1..9 (zero is left out: "oh"/"zero" is read ambiguously) on
    random channels, both channels used whenever there are two digits or more.
    `n_digits` None picks 2 or 3 at random, as in the paper."""
    count = int(rng.integers(2, 4)) if n_digits is None else n_digits
    if not 1 <= count <= 9:
        raise AllocationError(f"n_digits must be between 1 and 9, got {count}")
    digits = "".join(str(d) for d in rng.choice(np.arange(1, 10), count, replace=False))
    channels = ["L" if left else "R" for left in rng.random(count) < 0.5]
    if count >= 2 and len(set(channels)) == 1:
        flip = int(rng.integers(count))
        channels[flip] = "R" if channels[flip] == "L" else "L"
    return DigitsChallenge(digits=digits, channels=tuple(channels))


_NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]


@dataclass(frozen=True)
class MathQuestion:
    """A simple arithmetic question, written with words for the operator so that screen
    readers read it as spoken ("What is 7 plus 5?")."""

    text: str
    answer: int

    def matches(self, typed: str) -> bool:
        """Whether `typed` is the answer, as digits ("12") or a word ("twelve")."""
        word = typed.strip().lower()
        if word.lstrip("-").isdigit():
            return int(word) == self.answer
        return word in _NUMBER_WORDS and _NUMBER_WORDS.index(word) == self.answer


def math_question(rng: np.random.Generator) -> MathQuestion:
    """An addition of two numbers 1..9 or a subtraction with a positive result; answers
    stay between 1 and 18 and are never one of the question's numbers (not "10 minus 5"),
    so copying a number from the question does not pass."""
    if rng.random() < 0.5:
        a, b = (int(x) for x in rng.integers(1, 10, size=2))
        return MathQuestion(text=f"What is {a} plus {b}?", answer=a + b)
    while True:
        a = int(rng.integers(2, 11))
        b = int(rng.integers(1, a))
        if a != 2 * b:
            return MathQuestion(text=f"What is {a} minus {b}?", answer=a - b)
