"""A simulated crowd for the demo experiment, so its dashboard has votes to show.

Simulated raters (`modeling.crowd.SimulatedRater`) take sessions through the same services
the rater API calls, with the server's clock advanced past each clip (they "listen"
instantly). Each hears a stimulus's damage: its quality falls with the fault strength the
demo track was synthesised with, heard through personal bias and noise. Some are careless
(a trap answered wrongly, no headphones, noisier scores), so screening has something to
exclude.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import numpy as np
from django.utils import timezone

from crowdtest.corpus.models import Experiment
from crowdtest.rating.delivery import record_received
from crowdtest.rating.errors import RatingError
from crowdtest.rating.identity import RaterIdentity
from crowdtest.rating.models import Assignment, AssignmentItem
from crowdtest.rating.services import (
    assignment_consent,
    assignment_finish,
    clip_play,
    clip_rate,
    questions_answer,
    setup_answer,
)
from modeling.crowd import SimulatedRater


def simulate_crowd(
    *,
    experiment: Experiment,
    severity_by_name: Mapping[str, float],
    raters: int,
    sessions_per_rater: int = 2,
    careless_share: float = 0.15,
    seed: int = 0,
) -> int:
    """Let `raters` simulated raters take up to `sessions_per_rater` sessions each;
    returns the number of sessions completed."""
    rng = np.random.default_rng(seed)
    completed = 0
    for index in range(raters):
        identity = RaterIdentity(experiment.pk, "link", f"demo-rater-{seed}-{index:03d}")
        careless = bool(rng.random() < careless_share)
        rater = SimulatedRater(
            bias=float(rng.normal(0.0, 0.3)), spread=1.6 if careless else 0.7, careless=careless
        )
        for _ in range(sessions_per_rater):
            try:
                _take_session(identity, experiment, severity_by_name, rng, rater)
            except RatingError:
                break  # no session left for this rater
            completed += 1
    return completed


def _take_session(
    identity: RaterIdentity,
    experiment: Experiment,
    severity_by_name: Mapping[str, float],
    rng: np.random.Generator,
    rater: SimulatedRater,
) -> None:
    now = timezone.now()
    assignment = assignment_consent(experiment=experiment, identity=identity, now=now)
    if assignment.stage == Assignment.Stage.SETUP and assignment.digits_clip is not None:
        assignment = setup_answer(
            assignment_id=assignment.pk,
            clip=assignment.digits_clip_key,
            digits=assignment.digits_clip.digits,
            now=now,
        )
    if assignment.stage == Assignment.Stage.QUESTIONS:
        assignment = questions_answer(
            assignment_id=assignment.pk,
            math=int(assignment.math_answer or 0),
            hearing_normal=True,
            headphones=not (rater.careless and rng.random() < 0.5),
        )
    items = (
        AssignmentItem.objects.filter(assignment=assignment)
        .select_related("stimulus__track", "trap", "gold")
        .order_by("phase", "position")
    )
    phases = sorted(items, key=lambda i: (i.phase != AssignmentItem.Phase.TRAINING, i.position))
    for item in phases:
        now += timedelta(seconds=1)
        record_received(item.pk)  # a simulated player: the whole clip arrived
        clip_play(assignment_id=assignment.pk, clip=item.clip_key, now=now)
        now += timedelta(seconds=item.duration_s + 0.5)
        score = _score(item, severity_by_name, rng, rater)
        clip_rate(assignment_id=assignment.pk, clip=item.clip_key, score=score, now=now)
    assignment_finish(assignment_id=assignment.pk, now=now)


def _score(
    item: AssignmentItem,
    severity_by_name: Mapping[str, float],
    rng: np.random.Generator,
    rater: SimulatedRater,
) -> int:
    check = item.trap or item.gold  # a gold clip is answered as attentively as a trap
    if check is not None:
        return rater.answer_trap(check.answer, rng)
    assert item.stimulus is not None
    severity = severity_by_name.get(item.stimulus.track.original_name, 0.5)
    return rater.rate(4.6 - 2.8 * severity, rng)
