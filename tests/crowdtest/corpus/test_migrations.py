"""The migration that makes `role` the one field for a stimulus's part carries the rows
over: a kept stimulus is rated, a rated one that was not kept is not used."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("corpus", "0003_stimulus_role_training")]
AFTER = [("corpus", "0004_stimulus_role_alone")]


def migrate(target: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.fixture(autouse=True)
def _latest_schema_after() -> Iterator[None]:
    """Every app at its latest migration again afterwards: later migrations (of corpus
    and of the apps depending on it) were rolled back with 0004, and the tests after
    this one need them."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_kept_stimuli_become_rated_and_the_rest_keep_their_part() -> None:
    apps = migrate(BEFORE)
    try:
        experiment = apps.get_model("corpus", "Experiment").objects.create(slug="m", name="m")
        Track = apps.get_model("corpus", "Track")
        Stimulus = apps.get_model("corpus", "Stimulus")
        before = {
            "kept": (True, "rated"),
            "kept, marked unused": (True, "unused"),
            "rated, not kept": (False, "rated"),
            "trap source": (False, "trap_source"),
            "training": (False, "training"),
            "gold": (False, "gold"),
            "unused": (False, "unused"),
        }
        for name, (selected, role) in before.items():
            track = Track.objects.create(
                experiment=experiment,
                source_kind="path",
                source=name,
                original_name=name,
                checksum=name,
            )
            Stimulus.objects.create(
                experiment=experiment,
                track=track,
                media_key=name[:32],
                selected=selected,
                role=role,
            )
    finally:
        apps = migrate(AFTER)

    Stimulus = apps.get_model("corpus", "Stimulus")
    after = dict(Stimulus.objects.values_list("track__original_name", "role"))
    assert after == {
        "kept": "rated",
        "kept, marked unused": "rated",
        "rated, not kept": "unused",
        "trap source": "trap_source",
        "training": "training",
        "gold": "gold",
        "unused": "unused",
    }
    kept_by_name = dict(Stimulus.objects.values_list("track__original_name", "selected"))
    assert {name for name, kept in kept_by_name.items() if kept} == {"kept", "kept, marked unused"}
