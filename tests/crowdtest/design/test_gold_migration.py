"""The migrations that give gold clips a model of their own carry every gold clip over,
with the planned items, the rater's items and the votes on it, and leave the traps as they
were; going back restores the gold clips as Trap rows of kind gold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

CORPUS = ("corpus", "0006_stimulus_selected_dropped")
BEFORE = [CORPUS, ("design", "0006_comparisons"), ("rating", "0010_comparison_votes")]
AFTER = [CORPUS, ("design", "0008_trap_kind_dropped"), ("rating", "0011_gold_clips")]


def migrate(target: list[tuple[str, str]]) -> Apps:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    apps: Apps = executor.loader.project_state(target).apps
    return apps


@pytest.fixture(autouse=True)
def _latest_schema_after() -> Iterator[None]:
    """Every app at its latest migration again afterwards, for the tests after this one."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def before_rows(apps: Apps) -> dict[str, Any]:
    """An experiment with a trap and a gold clip (a Trap of kind gold), a session holding
    both, and a rater's finished session with a vote on each."""
    model = apps.get_model
    experiment = model("corpus", "Experiment").objects.create(slug="g", name="g")
    stimuli = []
    for name in ("trap source", "gold source"):
        track = model("corpus", "Track").objects.create(
            experiment=experiment,
            source_kind="path",
            source=name,
            original_name=name,
            checksum=name,
        )
        stimuli.append(
            model("corpus", "Stimulus").objects.create(
                experiment=experiment, track=track, media_key=name[:4], role="trap_source"
            )
        )
    Trap = model("design", "Trap")
    fields = {"experiment": experiment, "duration_s": 10.0}
    trap = Trap.objects.create(
        source=stimuli[0], answer=4, language="en", media_key="t", delivery="traps/t", **fields
    )
    gold = Trap.objects.create(
        kind="gold",
        source=stimuli[1],
        answer=1,
        language="",
        media_key="g",
        delivery="traps/g",
        **fields,
    )
    session = model("design", "Session").objects.create(
        experiment=experiment, kind="rating", index=1
    )
    SessionItem = model("design", "SessionItem")
    for position, clip in enumerate((trap, gold)):
        SessionItem.objects.create(session=session, position=position, trap=clip)
    rater = model("rating", "Rater").objects.create(
        experiment=experiment, platform="link", external_id="r"
    )
    assignment = model("rating", "Assignment").objects.create(
        experiment=experiment, rater=rater, session=session, stage="finished"
    )
    for position, (clip, score) in enumerate(((trap, 4), (gold, 2))):
        item = model("rating", "AssignmentItem").objects.create(
            assignment=assignment, phase="rating", position=position, trap=clip, duration_s=10
        )
        model("rating", "Vote").objects.create(
            item=item,
            experiment=experiment,
            assignment=assignment,
            rater=rater,
            phase="rating",
            trap=clip,
            score=score,
            play_started_at=timezone.now(),
            listened_s=10.0,
        )
    return {"trap": trap.pk, "gold": gold.pk, "experiment": experiment.pk}


def test_gold_clips_move_to_their_own_model_and_back() -> None:
    apps = migrate(BEFORE)
    try:
        made = before_rows(apps)
    finally:
        apps = migrate(AFTER)

    GoldClip = apps.get_model("design", "GoldClip")
    [gold] = GoldClip.objects.all()
    assert (gold.pk, gold.answer, gold.media_key, gold.delivery.name) == (
        made["gold"],
        1,
        "g",
        "traps/g",
    )
    assert list(apps.get_model("design", "Trap").objects.values_list("pk", "answer")) == [
        (made["trap"], 4)
    ]
    for app, name in (("design", "SessionItem"), ("rating", "AssignmentItem"), ("rating", "Vote")):
        rows = set(apps.get_model(app, name).objects.values_list("trap_id", "gold_id"))
        assert rows == {(made["trap"], None), (None, made["gold"])}, name
    votes = apps.get_model("rating", "Vote").objects
    assert votes.get(gold_id=made["gold"]).score == 2
    # A gold clip made now takes an id of its own, after the ones carried over.
    stimulus = apps.get_model("corpus", "Stimulus").objects.first()
    assert stimulus is not None
    later = GoldClip.objects.create(
        experiment_id=made["experiment"], source=stimulus, answer=5, duration_s=1.0
    )
    assert later.pk > made["gold"]
    later.delete()

    apps = migrate(BEFORE)
    Trap = apps.get_model("design", "Trap")
    back = Trap.objects.exclude(pk=made["trap"]).get()
    assert vars(back)["kind"] == "gold"  # a field of the model as it was then
    assert (back.answer, back.media_key, back.source.track.original_name) == (1, "g", "gold source")
    for app, name in (("design", "SessionItem"), ("rating", "AssignmentItem"), ("rating", "Vote")):
        rows = set(apps.get_model(app, name).objects.values_list("trap_id", flat=True))
        assert rows == {made["trap"], back.pk}, name
