"""Comparison tests (DCR, CCR, pairwise preference) at design time: which versions are
compared, checked before anything is built (`modeling.comparison`), and the judgements
the sessions hold.

- DCR (P.808 Annex D): every (reference, processed) pair, reference first,
  `votes_per_stimulus` times.
- CCR (P.808 Annex E): every pair `votes_per_stimulus` times, half in each order, the
  order drawn at random and kept on the server.
- Pairwise: within each group of versions of a work, `votes_per_stimulus x (n - 1)`
  judgements (all pairs would be `votes_per_stimulus x n (n - 1) / 2`), each pair chosen
  as the most informative next pair (`modeling.ranking.next_pair`) given those already
  planned, counted as ties since no answer is known yet; each judgement in random order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np

from crowdtest.corpus.models import Experiment, Stimulus
from modeling.allocation import insert_traps, trap_positions
from modeling.audio.ruin import ruined
from modeling.comparison import (
    TRAP_ANSWERS,
    ClipFacts,
    ComparisonError,
    reference_pairs,
    version_groups,
)
from modeling.ranking import next_pair

from .. import clips
from ..models import Comparison, GoldClip, Prompt, Trap
from .checks import DesignError, DesignNumbers
from .traps import Check, stored_gold, stored_trap

COMPARISON_STREAM = 5
# A session entry: ("comparison", (first stimulus id, second)), ("trap", Trap id) or
# ("gold", GoldClip id).
Entry = tuple[str, object]


@dataclass(frozen=True)
class ComparisonPlan:
    """The versions a comparison test compares and the judgements it asks for, each as
    (first stimulus id, second stimulus id) in the order played."""

    method: str
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (reference, processed)
    groups: dict[str, list[int]] = field(default_factory=dict)  # work id -> versions
    judgements: list[tuple[int, int]] = field(default_factory=list)
    work_of: dict[int, str] = field(default_factory=dict)

    @property
    def orders(self) -> list[tuple[int, int]]:
        """Each (first, second) order played at least once: one clip each."""
        return sorted(set(self.judgements))

    @property
    def stimulus_ids(self) -> set[int]:
        return {pk for pair in self.judgements for pk in pair}


def _versions(experiment: Experiment) -> tuple[dict[str, ClipFacts], dict[str, Stimulus]]:
    """The prepared stimuli of tracks that take part in a comparison (a work id or a
    reference), by their track's name, with the facts the checks need: the track's own
    length and sample rate, as versions of one recording must match in both."""
    stimuli = (
        Stimulus.objects.filter(experiment=experiment, status=Stimulus.Status.READY)
        .exclude(master="")
        .select_related("track")
        .order_by("pk")
    )
    clips: dict[str, ClipFacts] = {}
    by_name: dict[str, Stimulus] = {}
    for stimulus in stimuli:
        track = stimulus.track
        clips[track.original_name] = ClipFacts(
            name=track.original_name, duration_s=track.duration_s, sample_rate=track.sample_rate
        )
        by_name[track.original_name] = stimulus
    return clips, by_name


def _resolved(reference: str, names: Sequence[str], works: dict[str, str], work: str) -> str:
    """A reference as the manifest wrote it (a path or a file name), as a track's name: a
    file name that several tracks share is the one of the same work (`works`: each
    track's work), if exactly one is."""
    if reference in names:
        return reference
    matches = [name for name in names if PurePath(name).name == PurePath(reference).name]
    if len(matches) > 1:
        matches = [name for name in matches if works.get(name) == work]
    return matches[0] if len(matches) == 1 else reference


def comparison_plan(*, experiment: Experiment, numbers: DesignNumbers) -> ComparisonPlan:
    """The comparison test the experiment's tracks make, checked: refused with every
    problem at once (a group of one, a pair whose clips differ in length or sample rate,
    a DCR or CCR reference missing) as a DesignError, before anything is built."""
    method = experiment.config.test_method
    clips, by_name = _versions(experiment)
    tracks = list(
        experiment.tracks.filter(error="").values_list("original_name", "work_id", "reference")
    )
    names = [name for name, _, _ in tracks]
    rng = np.random.default_rng([numbers.seed, COMPARISON_STREAM])
    votes = numbers.votes_per_stimulus
    try:
        if method in ("dcr", "ccr"):
            works = {name: work for name, work, _ in tracks}
            references = {
                name: _resolved(ref, names, works, work) for name, work, ref in tracks if ref
            }
            named = reference_pairs(clips, references)
            pairs = [(by_name[ref].pk, by_name[proc].pk) for ref, proc in named]
            judgements = []
            for reference, processed in pairs:
                if method == "dcr":
                    judgements += [(reference, processed)] * votes
                else:
                    first = rng.permutation(votes) < (votes + rng.integers(0, 2)) // 2
                    judgements += [
                        (reference, processed) if ref_first else (processed, reference)
                        for ref_first in first
                    ]
            return ComparisonPlan(method=method, pairs=pairs, judgements=judgements)
        works = {name: work for name, work, _ in tracks if work}
        grouped = version_groups(clips, works)
    except ComparisonError as exc:
        raise DesignError(
            f"The {method.upper()} test can't be built: " + "; ".join(exc.problems) + "."
        ) from exc
    groups = {work: [by_name[name].pk for name in members] for work, members in grouped.items()}
    judgements = []
    for members in groups.values():
        judgements += _pairwise_judgements(members, votes * (len(members) - 1), rng)
    work_of = {pk: work for work, members in groups.items() for pk in members}
    return ComparisonPlan(method=method, groups=groups, judgements=judgements, work_of=work_of)


def _pairwise_judgements(
    members: list[int], budget: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """`budget` judgements among a group's versions, each pair the most informative next
    one given the pairs already planned (ties: no answer is known before the test)."""
    planned: list[tuple[int, int]] = []
    judgements = []
    for _ in range(budget):
        i, j = next_pair(len(members), planned)
        planned += [(i, j), (j, i)]
        a, b = (members[i], members[j]) if rng.random() < 0.5 else (members[j], members[i])
        judgements.append((a, b))
    return judgements


def trap_source_pool(*, experiment: Experiment, plan: ComparisonPlan) -> list[Stimulus]:
    """Prepared stimuli that are not versions compared (nor gold): music for the traps."""
    from ..selectors import trap_source_candidates

    compared = plan.stimulus_ids
    return [s for s in trap_source_candidates(experiment=experiment) if s.pk not in compared]


def comparison_problems(*, experiment: Experiment) -> list[str]:
    """Why the experiment's comparison test can't be built ([] when it can, or when the
    test method is ACR): what the Sessions tab shows before a build is tried."""
    from .checks import design_numbers

    if experiment.config.test_method == "acr":
        return []
    try:
        comparison_plan(experiment=experiment, numbers=design_numbers(experiment=experiment))
    except DesignError as exc:
        return [str(exc)]
    return []


def plan_comparison_sessions(
    judgements: list[tuple[int, int]],
    *,
    per_session: int,
    trap_sets: list[list[Check]] | None,
    rng: np.random.Generator,
) -> list[list[Entry]]:
    """The judgements dealt into sessions of `per_session`, in random order, no pair of
    versions twice in a session; `trap_sets[k]` (its traps and gold clips) go into
    session k at random positions, never first. `trap_sets` None: one session per
    judgement count, no traps."""
    order = [judgements[int(i)] for i in rng.permutation(len(judgements))]
    n_sessions = max(1, -(-len(order) // per_session))
    sessions: list[list[tuple[int, int]]] = [[] for _ in range(n_sessions)]
    for k, judgement in enumerate(order):
        pair = frozenset(judgement)
        for step in range(len(sessions)):
            session = sessions[(k + step) % len(sessions)]
            if len(session) < per_session and all(frozenset(j) != pair for j in session):
                session.append(judgement)
                break
        else:
            sessions.append([judgement])
    planned: list[list[Entry]] = []
    for index, session in enumerate(sessions):
        checks: list[Check] = trap_sets[index % len(trap_sets)] if trap_sets else []
        positions = trap_positions(len(session), len(checks), seed=rng)
        pairs: list[Entry] = [("comparison", judgement) for judgement in session]
        planned.append(insert_traps(pairs, list(checks), positions))
    return planned


def make_comparison_clips(
    experiment: Experiment,
    numbers: DesignNumbers,
    plan: ComparisonPlan,
    made: list[str],
    step: Callable[[str], None],
) -> list[Comparison]:
    """One clip per order a pair is played in: the first version's master, a pause, the
    second's, encoded like a stimulus under a key that says nothing of the pair."""
    masters: dict[int, tuple[np.ndarray, int]] = {}
    stimuli = {s.pk: s for s in Stimulus.objects.filter(pk__in=plan.stimulus_ids)}
    reference_of = {processed: reference for reference, processed in plan.pairs}
    made_rows: list[Comparison] = []
    for first, second in plan.orders:
        for pk in (first, second):
            if pk not in masters:
                masters[pk] = clips.read_audio(stimuli[pk].master)
        audio, rate = masters[first]
        stored = clips.store_clip(
            clips.make_pair(audio, masters[second][0], rate),
            rate,
            experiment_id=experiment.pk,
            bitrate_kbps=numbers.bitrate_kbps,
        )
        made.append(stored.name)
        made_rows.append(
            Comparison(
                experiment=experiment,
                method=plan.method,
                work_id=plan.work_of.get(first, ""),
                first_id=first,
                second_id=second,
                reference_first=None
                if plan.method == "pairwise"
                else reference_of.get(second) == first,
                media_key=stored.media_key,
                delivery=stored.name,
                duration_s=stored.duration_s,
            )
        )
        step(f"comparison clip {len(made_rows)} of {len(plan.orders)}")
    return made_rows


def make_pair_traps(
    experiment: Experiment,
    numbers: DesignNumbers,
    sources: list[Stimulus],
    prompts: dict[tuple[str, str], Prompt],
    made: list[str],
    step: Callable[[str], None],
) -> tuple[list[Trap], list[str]]:
    """The traps of a comparison test, as long as its pairs: a source's music, a pause,
    then the same music interrupted by the message asking for one answer of the
    method's scale, in each offered language; and a warning when the messages do not fit
    in an excerpt, so traps are longer than pairs."""
    method = experiment.config.test_method
    traps: list[Trap] = []
    longest = numbers.excerpt_seconds
    for source in sources:
        music, rate = clips.read_audio(source.master)
        flat = music[:, 0] if music.shape[1] == 1 else music
        messages = {
            (answer, language): clips.read_prompt(
                prompts[clips.trap_key(method, answer), language].audio, rate
            )
            for language in experiment.config.language_codes
            for answer in TRAP_ANSWERS[method]
        }
        seconds = clips.trap_seconds(list(messages.values()), rate, numbers.excerpt_seconds)
        longest = max(longest, seconds)
        for (answer, language), message in messages.items():
            second = clips.make_trap(
                flat, message, rate, seconds=seconds, target_lufs=numbers.target_lufs
            )
            pair = clips.make_pair(music, second, rate)
            traps.append(
                stored_trap(
                    experiment, numbers, pair, rate, source, answer, made, language=language
                )
            )
            step(f"trap {len(traps)}")
    warnings = []
    if longest > numbers.excerpt_seconds:
        warnings.append(
            f"The trap messages do not fit in {numbers.excerpt_seconds:g} s stimuli: traps "
            f"last {longest - numbers.excerpt_seconds:g} s longer than a pair, so their length "
            f"sets them apart. Use stimuli of at least {longest:g} s in a real test."
        )
    return traps, warnings


# A gold pair: a trap source's music beside its ruined copy (`modeling.audio.ruin`, as
# the ACR gold clips), whose answer is known: (the ruined copy plays first, the answer).
# DCR: the second's degradation against the first, very annoying when the ruined copy
# plays second, inaudible when it plays first; CCR: much worse or much better; pairwise:
# the version that is not ruined.
GOLD_PAIRS: dict[str, tuple[tuple[bool, int], ...]] = {
    "dcr": ((False, 1), (True, 5)),
    "ccr": ((False, -3), (True, 3)),
    "pairwise": ((False, 1), (True, 2)),
}


def make_gold_pairs(
    experiment: Experiment,
    numbers: DesignNumbers,
    sources: list[Stimulus],
    made: list[str],
    step: Callable[[str], None],
) -> list[GoldClip]:
    """The gold clips of a comparison test: each trap source's
    music and its ruined copy as one pair clip, in each order the method plays
    (`GOLD_PAIRS`), under a key that says nothing. The rater verdict correlates a rater's
    answers with their known answers, as the ACR gold clips do."""
    method = experiment.config.test_method
    golds: list[GoldClip] = []
    for source in sources:
        music, rate = clips.read_audio(source.master)
        bad = ruined(music, rate, seed=[numbers.seed, source.pk], target_lufs=numbers.target_lufs)
        for ruined_first, answer in GOLD_PAIRS[method]:
            first, second = (bad, music) if ruined_first else (music, bad)
            pair = clips.make_pair(first, second, rate)
            golds.append(stored_gold(experiment, numbers, pair, rate, source, answer, made))
            step(f"gold pair {len(golds)}")
    return golds
