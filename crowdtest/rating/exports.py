"""The rating app's file in an experiment export: votes.csv, every score as given."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from crowdtest.exports import export_file

from .models import Vote

VOTE_COLUMNS = (
    "vote_id",
    "rater_platform",
    "rater",
    "assignment",
    "session",
    "phase",
    "position",
    "item",
    "stimulus_id",
    "track_id",
    "trap_id",
    "gold_clip_id",
    "expected_answer",
    "score",
    "play_started_at",
    "submitted_at",
    "listened_s",
    "hidden_s",
    "plays",
    "assignment_status",
    "valid",
    "comparison_id",
    "first_stimulus_id",
    "second_stimulus_id",
    "reference_first",
)


@export_file(
    "votes.csv",
    "Every score given, with its rater, session, stimulus, trap or gold clip, playback start, "
    "answer "
    "time, seconds listened, seconds the page was hidden meanwhile, and screening verdict; "
    "for a pair of versions (DCR, CCR, pairwise), the two versions in the order played and "
    "whether the reference played first",
)
def votes_csv(experiment: Any) -> tuple[Sequence[str], Iterator[Sequence[Any]]]:
    votes = (
        Vote.objects.crowd()
        .filter(experiment=experiment)
        .select_related(
            "rater", "assignment__session", "item", "stimulus", "trap", "gold", "comparison"
        )
        .order_by("submitted_at", "pk")
    )

    def row(vote: Vote) -> Sequence[Any]:
        check = vote.trap or vote.gold
        return (
            vote.pk,
            vote.rater.platform,
            vote.rater.external_id,
            vote.assignment_id,
            vote.assignment.session.index,
            vote.phase,
            vote.item.position,
            _clip_kind(vote),
            vote.stimulus_id,
            vote.stimulus.track_id if vote.stimulus is not None else None,
            vote.trap_id,
            vote.gold_id,
            check.answer if check is not None else None,
            vote.score,
            vote.play_started_at.isoformat(),
            vote.submitted_at.isoformat(),
            vote.listened_s,
            vote.hidden_s,
            vote.item.plays,
            vote.assignment.status,
            vote.valid,
            vote.comparison_id,
            vote.comparison.first_id if vote.comparison is not None else None,
            vote.comparison.second_id if vote.comparison is not None else None,
            vote.comparison.reference_first if vote.comparison is not None else None,
        )

    return VOTE_COLUMNS, (row(v) for v in votes.iterator(chunk_size=2000))


def _clip_kind(vote: Vote) -> str:
    if vote.trap_id is not None:
        return "trap"
    if vote.gold_id is not None:
        return "gold"
    return "comparison" if vote.comparison_id is not None else "stimulus"
