"""Comparison tests of versions of one recording: ITU-T P.808 Annex D (DCR) and Annex E
(CCR) on (reference, processed) pairs, and the checks a pair must pass to be compared.

DCR (degradation category rating, P.808 Annex D, after P.800 Annex D): the reference is
played first, then the processed clip; the rater grades the degradation of the second
relative to the first on 5 inaudible .. 1 very annoying. The DMOS of a pair is the mean
of its votes.

CCR (comparison category rating, P.808 Annex E, after P.800 Annex E): the two clips are
played in random order; the rater grades the quality of the second compared to the first
on -3 much worse .. +3 much better. A vote given with the processed clip first is
negated, so every vote reads "processed compared to reference"; the CMOS of a pair is
the mean of those. Both orders are played equally often so that an order effect cancels.

Both are reported with the number of votes and a 95% CI from Student's t
(``t(0.975, n-1) * s / sqrt(n)``, ITU-T P.800.2, as `modeling.mos` does for MOS).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .mos import MosSummary, mos_summary

METHODS = ("acr", "dcr", "ccr", "pairwise")
COMPARISON_METHODS = ("dcr", "ccr", "pairwise")

# P.808 Annex E, Table E.1: the quality of the second compared to the quality of the first.
CCR_LABELS = {
    3: "much better",
    2: "better",
    1: "slightly better",
    0: "about the same",
    -1: "slightly worse",
    -2: "worse",
    -3: "much worse",
}
# P.808 Annex D, Table D.1 (P.800 Annex D): the degradation of the second relative to
# the first.
DCR_LABELS = {
    5: "degradation is inaudible",
    4: "degradation is audible but not annoying",
    3: "degradation is slightly annoying",
    2: "degradation is annoying",
    1: "degradation is very annoying",
}
# A paired preference (versions of one work, `modeling.ranking`): which sounded better.
PREFERENCE_LABELS = {1: "the first", 2: "the second"}
SCALES = {"acr": (1, 5), "dcr": (1, 5), "ccr": (-3, 3), "pairwise": (1, 2)}
# The trap answers a comparison test asks for, one clip per answer and trap source (as
# ACR asks each of its five): the ends and the middle of CCR, every DCR category.
TRAP_ANSWERS = {
    "acr": (1, 2, 3, 4, 5),
    "dcr": (1, 2, 3, 4, 5),
    "ccr": (-3, -2, 0, 2, 3),
    "pairwise": (1, 2),
}
# Two clips whose lengths differ by more than this are not the same excerpt of a work.
LENGTH_TOLERANCE_S = 0.05


class ComparisonError(ValueError):
    """A comparison that can't be designed; `problems` lists each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def scale_of(method: str) -> tuple[int, int]:
    """The lowest and highest answer of a method's scale."""
    try:
        return SCALES[method]
    except KeyError:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}") from None


def on_scale(method: str, score: int) -> bool:
    low, high = scale_of(method)
    return low <= score <= high


def ccr_relative(score: int, *, reference_first: bool) -> int:
    """A CCR vote as "processed compared to reference" (P.808 Annex E: the order is
    random and undone in the analysis): the vote as given when the reference played
    first, negated when the processed clip did."""
    if not -3 <= score <= 3:
        raise ValueError(f"a CCR vote is -3..+3, got {score}")
    return score if reference_first else -score


@dataclass(frozen=True)
class PairVotes:
    """The votes of one (reference, processed) pair, as given, with the order each was
    played in."""

    scores: Sequence[int]
    reference_first: Sequence[bool]


def cmos(votes: PairVotes) -> MosSummary:
    """The comparison MOS of a pair (P.808 Annex E): the mean of its CCR votes with the
    order undone, positive when the processed clip sounds better, with n, std and 95%
    CIs as `mos_summary` gives them."""
    if len(votes.scores) != len(votes.reference_first):
        raise ValueError("scores and reference_first must have the same length")
    return mos_summary(
        ccr_relative(int(s), reference_first=bool(first))
        for s, first in zip(votes.scores, votes.reference_first)
    )


def dmos(scores: Iterable[int]) -> MosSummary:
    """The degradation MOS of a pair (P.808 Annex D): the mean of its DCR votes (the
    reference always played first), with n, std and 95% CIs."""
    given = [int(s) for s in scores]
    if any(not 1 <= s <= 5 for s in given):
        raise ValueError("a DCR vote is 1..5")
    return mos_summary(given)


@dataclass(frozen=True)
class ClipFacts:
    """What a comparison needs to know of a version's clip."""

    name: str
    duration_s: float | None
    sample_rate: int | None


def pair_problems(reference: ClipFacts, processed: ClipFacts) -> list[str]:
    """Why two versions can't be compared as a pair: clips of different lengths or
    sample rates are not the same passage heard the same way (empty when they can)."""
    problems = []
    names = f"{processed.name} and its reference {reference.name}"
    if reference.duration_s is None or processed.duration_s is None:
        problems.append(f"{names}: a clip has no length yet (prepare the stimuli first)")
    elif abs(reference.duration_s - processed.duration_s) > LENGTH_TOLERANCE_S:
        problems.append(
            f"{names} differ in length ({processed.duration_s:.2f} s against "
            f"{reference.duration_s:.2f} s); compare excerpts of the same length"
        )
    if reference.sample_rate != processed.sample_rate:
        problems.append(
            f"{names} differ in sample rate ({processed.sample_rate} Hz against "
            f"{reference.sample_rate} Hz); resample them to one rate"
        )
    return problems


def reference_pairs(
    clips: Mapping[str, ClipFacts], references: Mapping[str, str]
) -> list[tuple[str, str]]:
    """The (reference, processed) pairs of a DCR or CCR test, by clip name, from each
    processed version's reference (`references`: processed name -> reference name).
    Refused with every problem at once: no pair at all, a reference that is not among
    the clips, a version that is its own reference, clips that differ in length or
    sample rate."""
    problems = []
    pairs = []
    for processed, reference in sorted(references.items()):
        if processed not in clips:
            continue
        if reference == processed:
            problems.append(f"{processed} names itself as its reference")
        elif reference not in clips:
            problems.append(
                f"{processed}: its reference {reference} is missing (not imported, or its "
                "stimulus failed)"
            )
        else:
            found = pair_problems(clips[reference], clips[processed])
            problems += found
            if not found:
                pairs.append((reference, processed))
    if not pairs and not problems:
        problems.append(
            "no version names a reference: give processed versions a `reference` "
            "(the manifest column, or on the Corpus tab)"
        )
    if problems:
        raise ComparisonError(problems)
    return pairs


def group_problems(groups: Mapping[str, Sequence[str]]) -> list[str]:
    """Why groups of versions can't be ranked: a group of one has nothing to be
    compared with."""
    return [
        f"the work {work!r} has only one version ({members[0]}); a group needs at least two"
        for work, members in sorted(groups.items())
        if len(members) == 1
    ]


def version_groups(
    clips: Mapping[str, ClipFacts], works: Mapping[str, str]
) -> dict[str, list[str]]:
    """The groups of versions of a pairwise test, by clip name, from each version's work
    (`works`: name -> work id; versions without one are left out). Refused with every
    problem at once: no group at all, a group of one, versions of a group that differ
    in length or sample rate from its first."""
    groups: dict[str, list[str]] = {}
    for name, work in sorted(works.items()):
        if work and name in clips:
            groups.setdefault(work, []).append(name)
    problems = group_problems(groups)
    for members in groups.values():
        for other in members[1:]:
            problems += pair_problems(clips[members[0]], clips[other])
    if not groups:
        problems.append(
            "no version names its work: give the versions of one work the same `work_id` "
            "(the manifest column, or on the Corpus tab)"
        )
    if problems:
        raise ComparisonError(problems)
    return groups
