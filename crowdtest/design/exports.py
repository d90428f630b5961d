"""The design's file in an experiment export: sessions.csv, with the answer keys."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.utils import translation

from crowdtest.exports import export_file

from .clips import SCALE_WORDS
from .models import SessionItem

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
    "gold_clip_id",
    "trap_source_stimulus_id",
    "expected_answer",
    "expected_label",
    "comparison_id",
    "second_stimulus_id",
    "reference_first",
)


@export_file(
    "sessions.csv",
    "Every planned session (training and rating) item by item: stimulus, trap or gold clip "
    "(with the stimulus it was made from), and the answer a trap asks for or a gold clip's "
    "known score; a pair of versions "
    "(DCR, CCR, pairwise) as its first and second version and whether the reference "
    "plays first",
)
def sessions_csv(experiment: Any) -> tuple[Sequence[str], Iterator[Sequence[Any]]]:
    items = (
        SessionItem.objects.filter(session__experiment=experiment)
        .select_related("session", "stimulus__track", "trap", "gold", "comparison__first__track")
        .order_by("session__kind", "session__index", "position")
    )

    # The labels in English, whatever language the request is in; a gold clip's known
    # score is on the ACR scale, a comparison test's gold pair's on the method's.
    with translation.override("en"):
        labels, acr = (
            {answer: word().lower() for answer, word in SCALE_WORDS[method].items()}
            for method in (experiment.config.test_method, "acr")
        )

    comparison = experiment.config.test_method != "acr"

    def row(item: SessionItem) -> Sequence[Any]:
        session = item.session
        head = (session.index, session.kind, session.status, item.position)
        check = item.trap or item.gold
        if check is not None:
            gold = item.gold is not None
            return (
                *head,
                "gold" if gold else "trap",
                None,
                None,
                None,
                None,
                None if gold else check.pk,
                check.pk if gold else None,
                check.source_id,
                check.answer,
                (acr if gold and not comparison else labels)[check.answer],
                None,
                None,
                None,
            )
        if item.comparison is not None:
            pair = item.comparison
            return (
                *head,
                "comparison",
                pair.first_id,
                pair.first.track_id,
                pair.first.track.original_name,
                pair.first.cluster,
                None,
                None,
                None,
                None,
                None,
                pair.pk,
                pair.second_id,
                pair.reference_first,
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
            *[None] * 8,
        )

    return SESSION_COLUMNS, (row(item) for item in items.iterator(chunk_size=2000))
