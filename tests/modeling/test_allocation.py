"""Session design: balanced stratified sessions, fresh sessions for returning raters,
training set, traps and setup challenges."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from modeling.allocation import (
    AllocationError,
    Choice,
    DigitsChallenge,
    MathQuestion,
    Swap,
    assign_traps,
    choose_session,
    digits_challenge,
    insert_traps,
    math_question,
    plan_rating_sessions,
    training_set,
    trap_positions,
)


def equal_clusters(n_clusters: int = 5, size: int = 124) -> dict[int, list[int]]:
    return {c: list(range(c * size, (c + 1) * size)) for c in range(n_clusters)}


def cluster_map(clusters: Mapping[int, Sequence[int]]) -> dict[int, int]:
    return {stimulus: c for c, stimuli in clusters.items() for stimulus in stimuli}


def per_cluster_counts(session: Sequence[int], cluster_of: Mapping[int, int]) -> Counter[int]:
    return Counter(cluster_of[s] for s in session)


def test_paper_design_gives_465_sessions_of_4_per_cluster_and_15_votes_each() -> None:
    clusters = equal_clusters()
    cluster_of = cluster_map(clusters)
    sessions = plan_rating_sessions(clusters, seed=7)
    assert len(sessions) == 465
    for session in sessions:
        assert len(session) == 20
        assert len(set(session)) == 20
        assert per_cluster_counts(session, cluster_of) == Counter(dict.fromkeys(range(5), 4))
    assert set(Counter(s for session in sessions for s in session).values()) == {15}


def test_plan_is_deterministic_with_a_seed_and_shuffled() -> None:
    clusters = equal_clusters(3, 8)
    assert plan_rating_sessions(clusters, seed=3) == plan_rating_sessions(clusters, seed=3)
    assert plan_rating_sessions(clusters, seed=3) != plan_rating_sessions(clusters, seed=4)
    cluster_of = cluster_map(clusters)
    opening_clusters = {cluster_of[s[0]] for s in plan_rating_sessions(clusters, seed=3)}
    assert len(opening_clusters) > 1  # not always ordered by cluster


def test_indivisible_votes_add_at_most_one_extra_appearance() -> None:
    # 10 stimuli x 3 votes = 30 appearances over slots of 4: 8 sessions, 32 slots.
    sessions = plan_rating_sessions(
        {0: list(range(10))}, per_cluster=4, votes_per_stimulus=3, seed=1
    )
    assert len(sessions) == 8
    appearances = Counter(s for x in sessions for s in x)
    assert Counter(appearances.values()) == {3: 8, 4: 2}


def test_smaller_clusters_get_proportionally_more_appearances() -> None:
    clusters = {0: list(range(12)), 1: list(range(100, 106))}
    sessions = plan_rating_sessions(clusters, per_cluster=3, votes_per_stimulus=2, seed=5)
    assert len(sessions) == 8  # 12 x 2 / 3, driven by the larger cluster
    counts = Counter(s for x in sessions for s in x)
    assert {counts[s] for s in clusters[0]} == {2}
    assert {counts[s] for s in clusters[1]} == {4}  # 8 sessions x 3 slots / 6 stimuli


@pytest.mark.parametrize(
    ("clusters", "kwargs", "message"),
    [
        ({}, {}, "no clusters"),
        ({0: [1, 2, 3]}, {}, "fewer than the 4"),
        ({0: list(range(8))}, {"votes_per_stimulus": 0}, "votes_per_stimulus"),
        ({0: list(range(8))}, {"per_cluster": 0}, "per_cluster"),
        ({0: [1, 2, 3, 4], 1: [4, 5, 6, 7]}, {}, "repeats a stimulus"),
    ],
)
def test_impossible_plans_raise(
    clusters: dict[int, list[int]], kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(AllocationError, match=message):
        plan_rating_sessions(clusters, seed=0, **kwargs)


def apply_choice(open_sessions: list[list[int]], choice: Choice) -> list[int]:
    """What the web side does to its rows: apply the swaps, then take the session."""
    chosen = open_sessions[choice.index]
    for swap in choice.swaps:
        other = open_sessions[swap.other]
        chosen[chosen.index(swap.stimulus_out)] = swap.stimulus_in
        other[other.index(swap.stimulus_in)] = swap.stimulus_out
    return open_sessions.pop(choice.index)


def test_first_disjoint_session_is_chosen_without_swaps() -> None:
    sessions = [[1, 2], [3, 4], [5, 6]]
    assert choose_session(sessions, {1, 4}, dict.fromkeys(range(1, 7), 0)) == Choice(2)
    assert choose_session(sessions, set(), dict.fromkeys(range(1, 7), 0)) == Choice(0)


def test_a_session_is_repaired_by_a_same_cluster_swap() -> None:
    cluster_of = {1: 0, 2: 1, 3: 0, 4: 1, 5: 0, 6: 1}
    sessions = [[1, 2], [3, 4], [5, 6]]
    seen = {1, 4, 6}  # every session holds a seen stimulus
    choice = choose_session(sessions, seen, cluster_of)
    # Sessions 0 and 1 hold one seen stimulus each; session 0 comes first. Its seen 1
    # (cluster 0) is swapped with the unseen cluster-0 stimulus of the last session, 5.
    assert choice == Choice(0, (Swap(stimulus_out=1, stimulus_in=5, other=2),))
    assert choice is not None
    taken = apply_choice(sessions, choice)
    assert sorted(taken) == [2, 5]
    assert sessions == [[3, 4], [1, 6]]


def test_no_choice_when_the_rater_has_seen_a_whole_cluster() -> None:
    clusters = equal_clusters(2, 8)
    sessions = plan_rating_sessions(clusters, per_cluster=2, votes_per_stimulus=2, seed=0)
    assert choose_session(sessions, set(clusters[0]), cluster_map(clusters)) is None


def test_unknown_stimulus_cluster_is_reported() -> None:
    with pytest.raises(AllocationError, match="no cluster"):
        choose_session([[1, 2]], {1}, {2: 0})


def test_choosing_for_a_heavy_rater_among_500_sessions() -> None:
    """A rater who has seen 380 of 620 stimuli still gets a whole session, by swaps. (How
    long it takes is printed, not asserted: a test run on a busy machine is no timing.)"""
    clusters = equal_clusters()
    cluster_of = cluster_map(clusters)
    sessions = plan_rating_sessions(clusters, votes_per_stimulus=17, seed=11)[:500]
    rng = np.random.default_rng(12)
    seen = {int(s) for stimuli in clusters.values() for s in rng.choice(stimuli, 76, replace=False)}
    before = Counter(s for x in sessions for s in x)
    start = time.perf_counter()
    choice = choose_session(sessions, seen, cluster_of)
    elapsed = time.perf_counter() - start
    assert choice is not None
    assert choice.swaps  # no session of 20 is disjoint from 380 of 620 stimuli
    print(f"\nchoose_session among 500 sessions: {elapsed * 1000:.0f} ms")
    taken = apply_choice(sessions, choice)
    assert not seen.intersection(taken)
    assert len(set(taken)) == 20
    assert per_cluster_counts(taken, cluster_of) == Counter(dict.fromkeys(range(5), 4))
    for session in sessions:
        assert len(set(session)) == 20
        assert per_cluster_counts(session, cluster_of) == Counter(dict.fromkeys(range(5), 4))
    assert Counter(s for x in [*sessions, taken] for s in x) == before


@dataclass
class Rater:
    target: int
    seen: set[int] = field(default_factory=set)
    sessions: int = 0


@dataclass
class Collection:
    raters: list[Rater]
    taken: list[list[int]]
    refusals: list[int]  # open sessions left each time a rater found none fresh


def simulate_collection(
    sessions: list[list[int]], cluster_of: Mapping[int, int], *, concurrent: int, seed: int
) -> Collection:
    """Raters (each wanting 1..20 sessions) arrive and draw sessions through
    `choose_session` until every planned session is taken; a rater leaves at their target
    or when no fresh session is left for them."""
    rng = np.random.default_rng(seed)
    open_sessions = [list(s) for s in sessions]
    collection = Collection(raters=[], taken=[], refusals=[])
    active: list[Rater] = []
    while open_sessions:
        while len(active) < concurrent:
            rater = Rater(target=int(rng.integers(1, 21)))
            collection.raters.append(rater)
            active.append(rater)
        rater = active[int(rng.integers(len(active)))]
        choice = choose_session(open_sessions, rater.seen, cluster_of)
        if choice is None:
            collection.refusals.append(len(open_sessions))
            active.remove(rater)
            continue
        session = apply_choice(open_sessions, choice)
        assert not rater.seen.intersection(session)
        rater.seen.update(session)
        rater.sessions += 1
        collection.taken.append(session)
        if rater.sessions == rater.target:
            active.remove(rater)
    return collection


def check_collection(
    collection: Collection, sessions: list[list[int]], cluster_of: Mapping[int, int], votes: int
) -> None:
    assert len(collection.taken) == len(sessions)
    votes_per_stimulus = Counter(s for session in collection.taken for s in session)
    assert set(votes_per_stimulus) == set(cluster_of)
    assert all(votes <= n <= votes + 1 for n in votes_per_stimulus.values())
    clusters = set(cluster_of.values())
    for session in collection.taken:
        assert per_cluster_counts(session, cluster_of) == Counter(dict.fromkeys(clusters, 4))
    seen_total = sum(len(r.seen) for r in collection.raters)
    assert seen_total == sum(len(s) for s in collection.taken)  # nobody heard a repeat


def test_simulated_paper_collection() -> None:
    clusters = equal_clusters()
    cluster_of = cluster_map(clusters)
    sessions = plan_rating_sessions(clusters, seed=21)
    collection = simulate_collection(sessions, cluster_of, concurrent=25, seed=21)
    check_collection(collection, sessions, cluster_of, 15)
    assert set(Counter(s for x in collection.taken for s in x).values()) == {15}
    assert max(r.sessions for r in collection.raters) == 20  # the cap, 400 of 620 heard
    # Raters are only turned away at the very end, when almost nothing is left.
    assert all(left <= 5 for left in collection.refusals)


def test_simulated_collection_on_a_small_pool() -> None:
    # 30 stimuli per cluster: a rater runs out of fresh stimuli after 6 or 7 sessions.
    clusters = {c: list(range(c * 30, c * 30 + 30)) for c in range(5)}
    cluster_of = cluster_map(clusters)
    sessions = plan_rating_sessions(clusters, votes_per_stimulus=7, seed=22)
    collection = simulate_collection(sessions, cluster_of, concurrent=25, seed=22)
    check_collection(collection, sessions, cluster_of, 7)


def test_training_set_is_stratified_as_evenly_as_possible() -> None:
    clusters = equal_clusters()
    cluster_of = cluster_map(clusters)
    chosen = training_set(clusters, seed=4)
    assert len(chosen) == len(set(chosen)) == 12
    assert sorted(per_cluster_counts(chosen, cluster_of).values()) == [2, 2, 2, 3, 3]
    assert training_set(clusters, seed=4) == chosen
    favoured = set()
    for seed in range(20):
        counts = per_cluster_counts(training_set(clusters, seed=seed), cluster_of)
        favoured.add(frozenset(c for c, n in counts.items() if n == 3))
    assert len(favoured) > 1  # the seed decides which clusters get the extra stimulus


def test_training_set_too_big_for_a_cluster() -> None:
    with pytest.raises(AllocationError, match="training set needs 3"):
        training_set({0: [1, 2], 1: [3, 4, 5]}, size=6, seed=0)


def test_trap_positions_avoid_the_first_clip() -> None:
    for seed in range(200):
        positions = trap_positions(20, 2, seed=seed)
        assert positions == sorted(set(positions))
        assert all(1 <= p <= 21 for p in positions)
    assert {trap_positions(1, 1, seed=s)[0] for s in range(10)} == {1}
    assert {p for s in range(200) for p in trap_positions(20, 1, seed=s)} == set(range(1, 21))
    with pytest.raises(AllocationError):
        trap_positions(0, 1, seed=0)


def test_insert_traps_builds_the_playlist() -> None:
    assert insert_traps([10, 11, 12], [90, 91], [1, 4]) == [10, 90, 11, 12, 91]
    assert insert_traps([10], [], []) == [10]


def test_60_traps_spread_evenly_over_465_sessions() -> None:
    assignment = assign_traps(465, list(range(60)), seed=9)
    assert [len(traps) for traps in assignment] == [1] * 465
    usage = Counter(t for traps in assignment for t in traps)
    assert set(usage) == set(range(60))
    assert set(usage.values()) == {7, 8}  # 465 / 60 = 7.75
    pairs = assign_traps(10, [1, 2, 3], per_session=2, seed=1)
    assert all(len(set(p)) == 2 for p in pairs)
    with pytest.raises(AllocationError):
        assign_traps(5, [1], per_session=2, seed=0)


def test_digits_challenge_uses_both_channels() -> None:
    rng = np.random.default_rng(0)
    lengths = set()
    for _ in range(300):
        challenge = digits_challenge(rng)
        lengths.add(len(challenge.digits))
        assert len(challenge.channels) == len(challenge.digits)
        assert set(challenge.channels) == {"L", "R"}
        assert "0" not in challenge.digits
        assert len(set(challenge.digits)) == len(challenge.digits)
    assert lengths == {2, 3}
    assert digits_challenge(rng, 1).channels in {("L",), ("R",)}


def test_digits_answer_ignores_separators() -> None:
    challenge = DigitsChallenge(digits="374", channels=("L", "R", "L"))
    assert challenge.matches("374")
    assert challenge.matches(" 3 7-4 ")
    assert not challenge.matches("347")


def test_math_questions_are_small_and_in_words() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        question = math_question(rng)
        assert 1 <= question.answer <= 18
        assert "+" not in question.text and "-" not in question.text
        a, op, b = question.text.removeprefix("What is ").removesuffix("?").split()
        assert question.answer == (int(a) + int(b) if op == "plus" else int(a) - int(b))
        assert question.answer not in {int(a), int(b)}  # not copied from the question
    question = MathQuestion(text="What is 7 plus 5?", answer=12)
    assert question.matches(" 12 ")
    assert question.matches("Twelve")
    assert not question.matches("13")
    assert not question.matches("a dozen")


def test_a_capped_training_set_spreads_a_small_clusters_shortfall() -> None:
    from modeling.allocation import training_set_capped

    pools = {0: [], 1: [10, 11], 2: list(range(20, 30)), 3: list(range(30, 40))}
    cluster_of = {s: c for c, members in pools.items() for s in members}
    for seed in range(20):
        chosen = training_set_capped(pools, size=12, seed=seed)
        assert len(chosen) == len(set(chosen)) == 12
        counts = Counter(cluster_of[s] for s in chosen)
        assert counts[1] == 2 and sorted([counts[2], counts[3]]) == [5, 5]
    assert training_set_capped(pools, size=12, seed=3) == training_set_capped(
        pools, size=12, seed=3
    )
    even = training_set_capped({0: list(range(9)), 1: list(range(10, 19))}, size=5, seed=0)
    assert sorted(Counter(s // 10 for s in even).values()) == [2, 3]
    with pytest.raises(AllocationError, match="the pools hold 22"):
        training_set_capped(pools, size=23, seed=0)
