"""Comparison tests (DCR, CCR, pairwise) designed by the real services on factory
versions: the plan and its checks from `comparison_plan`, the sessions from
`design_replace`; the clips are placeholders (a pair's audio is made by the build, which
needs ffmpeg and espeak-ng)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crowdtest.corpus.models import Experiment, Stimulus
from crowdtest.design.models import Comparison, DigitsClip, GoldClip, Trap
from crowdtest.design.services import design_numbers, design_replace
from crowdtest.design.services.comparisons import GOLD_PAIRS, comparison_plan
from crowdtest.rating.models import AssignmentItem
from modeling.comparison import TRAP_ANSWERS
from tests.crowdtest.rating.designs import (
    PLACEHOLDER,
    RaterClient,
    assignment_of,
    digits_of,
    stored,
)
from tests.factories import ExperimentFactory, StimulusFactory


@dataclass
class Versions:
    experiment: Experiment
    versions: list[Stimulus]  # of the work(s), best first within each
    quality: dict[int, float] = field(default_factory=dict)  # stimulus id -> true quality
    references: dict[int, int] = field(default_factory=dict)  # processed -> reference
    sources: list[Stimulus] = field(default_factory=list)
    audio: bytes = PLACEHOLDER
    duration_s: float = 0.2


def comparison_experiment(
    method: str,
    *,
    qualities: tuple[float, ...] = (4.6, 3.9, 3.2, 2.5, 1.8, 1.2),
    votes: int = 6,
    per_session: int = 8,
    settings: dict[str, Any] | None = None,
    duration_s: float = 0.2,
    audio: bytes = PLACEHOLDER,
) -> Versions:
    """An experiment whose tracks are versions of one work (pairwise: one group of all;
    DCR and CCR: the first is the reference of every other), of known quality, and its
    `trap_sources` (one unless `settings` say otherwise); nothing designed yet."""
    experiment = ExperimentFactory(
        settings={
            "test_method": method,
            "votes_per_stimulus": votes,
            "comparisons_per_session": per_session,
            "training_size": 2,
            "trap_sources": 1,
            "traps_per_session": 1,
            "min_rater_pcc": None,
            **(settings or {}),
        }
    )
    name = stored(audio, experiment)
    versions = []
    for i, _ in enumerate(qualities):
        reference = "" if method == "pairwise" or i == 0 else "work/v0.wav"
        versions.append(
            StimulusFactory(
                track__experiment=experiment,
                track__original_name=f"work/v{i}.wav",
                track__work_id="work-1" if method == "pairwise" else "",
                track__reference=reference,
                role=Stimulus.Role.UNUSED,
                duration_s=duration_s,
                delivery=name,
                master=name,
            )
        )
    sources = [
        StimulusFactory(
            track__experiment=experiment,
            role=Stimulus.Role.UNUSED,
            duration_s=duration_s,
            delivery=name,
            master=name,
        )
        for _ in range(experiment.config.trap_sources)
    ]
    return Versions(
        experiment=experiment,
        versions=versions,
        quality={v.pk: q for v, q in zip(versions, qualities)},
        references={v.pk: versions[0].pk for v in versions[1:]} if method != "pairwise" else {},
        sources=sources,
        audio=audio,
        duration_s=duration_s,
    )


def design_comparison(built: Versions) -> None:
    """The comparison test designed on placeholder clips: one per order of a pair the
    plan plays, the method's traps and gold pairs, one digits clip."""
    experiment = built.experiment
    audio, duration_s = built.audio, built.duration_s
    numbers = design_numbers(experiment=experiment)
    plan = comparison_plan(experiment=experiment, numbers=numbers)
    method = experiment.config.test_method
    reference_of = {processed: reference for reference, processed in plan.pairs}
    comparisons = [
        Comparison(
            experiment=experiment,
            method=method,
            work_id=plan.work_of.get(first, ""),
            first_id=first,
            second_id=second,
            reference_first=None if method == "pairwise" else reference_of.get(second) == first,
            delivery=stored(audio, experiment),
            duration_s=duration_s,
        )
        for first, second in plan.orders
    ]
    traps = [
        Trap(
            experiment=experiment,
            source=source,
            answer=answer,
            language="en",
            delivery=stored(audio, experiment),
            duration_s=duration_s,
        )
        for source in built.sources
        for answer in TRAP_ANSWERS[method]
    ]
    gold_clips = [
        # The gold pairs the build makes (music beside its ruined copy), as placeholders.
        GoldClip(
            experiment=experiment,
            source=source,
            answer=answer,
            delivery=stored(audio, experiment),
            duration_s=duration_s,
        )
        for source in built.sources
        for _ruined_first, answer in GOLD_PAIRS[method]
        if experiment.config.gold_made and numbers.gold_per_session > 0
    ]
    digits = [
        DigitsClip(
            experiment=experiment,
            digits="427",
            channels="LRL",
            language="en",
            delivery=stored(audio, experiment),
            duration_s=duration_s,
        )
    ]
    design_replace(
        experiment=experiment,
        numbers=numbers,
        trap_source_ids=[s.pk for s in built.sources],
        traps=traps,
        gold_clips=gold_clips,
        digit_clips=digits,
        volume_name=stored(audio, experiment),
        comparison_plan=plan,
        comparisons=comparisons,
    )


def take_answering(
    rc: RaterClient, answer: Callable[[AssignmentItem], int], *, until: str = "finished"
) -> dict[str, Any]:
    """A whole session through the API (`until="rating"`: up to its rating clips), every
    clip (traps too) answered by `answer`; the digits and the math answer are looked up
    server-side."""
    state: dict[str, Any] = rc.post("consent").json()
    if state["stage"] == "setup":
        digits = digits_of(rc)
        state = rc.post("setup", {"clip": state["setup"]["clip"], "digits": digits}).json()
    if state["stage"] == "questions":
        body = {"math": assignment_of(rc).math_answer, "hearing_normal": True, "headphones": True}
        state = rc.post("questions", body).json()
    while state["stage"] in ("training", "rating") and state["stage"] != until:
        for clip in state["clips"]:
            if clip["rated"]:
                continue
            assert rc.post("play", {"clip": clip["clip"]}).status_code == 200
            item = AssignmentItem.objects.select_related("trap", "gold", "comparison").get(
                clip_key=clip["clip"]
            )
            response = rc.post("rate", {"clip": clip["clip"], "score": answer(item)})
            assert response.status_code == 200, response.content
        state = rc.state()
        if state["stage"] == "rating" and all(c["rated"] for c in state["clips"]):
            state = rc.post("finish").json()
    return state
