"""sessions.csv: the plan item by item, with the answer each trap asks for."""

from __future__ import annotations

import csv
import io

import pytest

from crowdtest.design.models import SessionItem
from crowdtest.exports import export_one
from tests.crowdtest.rating.designs import make_design

pytestmark = pytest.mark.django_db


def test_sessions_csv_lists_every_item_with_its_expected_answer() -> None:
    built = make_design()
    rows = list(csv.DictReader(io.StringIO(export_one(built.experiment, "sessions.csv"))))
    assert len(rows) == SessionItem.objects.filter(session__experiment=built.experiment).count()
    training = [r for r in rows if r["kind"] == "training"]
    rating = [r for r in rows if r["kind"] == "rating"]
    assert len(training) == 3 and len(rating) == 6 * 7
    traps = [r for r in rows if r["item"] == "trap"]
    assert len(traps) == 6
    for row in traps:
        assert row["expected_answer"] in {"1", "2", "3", "4", "5"}
        assert row["expected_label"] in {"bad", "poor", "fair", "good", "excellent"}
        assert row["trap_source_stimulus_id"] == str(built.sources[0].pk)
        assert not row["stimulus_id"]
    stimuli = [r for r in rows if r["item"] == "stimulus"]
    assert all(r["stimulus_id"] and r["track_id"] and r["file"] and r["cluster"] for r in stimuli)
    assert not any(r["expected_answer"] for r in stimuli)
    assert [r["position"] for r in rating[:7]] == [str(p) for p in range(7)]
