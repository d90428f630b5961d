"""votes.csv: every score with its rater, session, stimulus or trap and timing."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from crowdtest.exports import export_names, export_one
from crowdtest.rating.models import Vote
from tests.crowdtest.rating.designs import RaterClient, make_design, take_session

pytestmark = pytest.mark.django_db


def test_votes_csv_holds_every_vote(client: Client) -> None:
    built = make_design()
    take_session(RaterClient(client, built.experiment, external_id="ann"))
    assert {"votes.csv", "sessions.csv"} <= set(export_names())
    rows = list(csv.DictReader(io.StringIO(export_one(built.experiment, "votes.csv"))))
    votes = Vote.objects.filter(experiment=built.experiment)
    assert len(rows) == votes.count() == 3 + 7  # training, then 6 stimuli and a trap
    assert {r["rater"] for r in rows} == {"ann"} and {r["rater_platform"] for r in rows} == {"link"}
    assert {r["phase"] for r in rows} == {"training", "rating"}
    traps = [r for r in rows if r["trap_id"]]
    assert len(traps) == 1 and traps[0]["score"] == traps[0]["expected_answer"]
    assert not traps[0]["stimulus_id"]
    first = rows[0]
    vote = votes.get(pk=first["vote_id"])
    assert first["score"] == str(vote.score) and first["stimulus_id"] == str(vote.stimulus_id)
    assert first["play_started_at"] == vote.play_started_at.isoformat()
    assert float(first["listened_s"]) == vote.listened_s and first["plays"] == "1"
    assert first["session"] == str(vote.assignment.session.index)
