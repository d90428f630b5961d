"""The design's file in an experiment export: sessions.csv, with the answer keys."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from crowdtest.exports import export_file

from .models import ACR_LABELS, SessionItem

SESSION_COLUMNS = (
    "session",
    "kind",
    "status",
    "position",
    "item",
    "stimulus_id",
    "track_id",
    "file",
    "cluster",
    "trap_id",
    "trap_source_stimulus_id",
    "expected_answer",
    "expected_label",
)


@export_file(
    "sessions.csv",
    "Every planned session (training and rating) item by item: stimulus, trap or gold clip, "
    "and the answer a trap asks for or a gold clip's known score",
)
def sessions_csv(experiment: Any) -> tuple[Sequence[str], Iterator[Sequence[Any]]]:
    items = (
        SessionItem.objects.filter(session__experiment=experiment)
        .select_related("session", "stimulus__track", "trap")
        .order_by("session__kind", "session__index", "position")
    )

    def row(item: SessionItem) -> Sequence[Any]:
        session = item.session
        head = (session.index, session.kind, session.status, item.position)
        if item.trap is not None:
            trap = item.trap
            return (
                *head,
                trap.kind,
                None,
                None,
                None,
                None,
                trap.pk,
                trap.source_id,
                trap.answer,
                ACR_LABELS[trap.answer],
            )
        stimulus = item.stimulus
        assert stimulus is not None
        return (
            *head,
            "stimulus",
            stimulus.pk,
            stimulus.track_id,
            stimulus.track.original_name,
            stimulus.cluster,
            None,
            None,
            None,
            None,
        )

    return SESSION_COLUMNS, (row(item) for item in items.iterator(chunk_size=2000))
