"""`load_demo`, what `make run` serves: the whole pipeline on synthesised vinyl-like
tracks, a simulated crowd, MOS, a staff login and a link to take the test; run again it
only does what is missing."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from pytest_django import Settings

from crowdtest.corpus.models import Experiment
from crowdtest.rating.models import Vote
from crowdtest.results.models import StimulusMOS
from tests.conftest import IN_CI

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("espeak-ng") and shutil.which("ffmpeg")) and not IN_CI,
        reason="needs espeak-ng and ffmpeg",
    ),
]


def test_the_demo_runs_the_whole_pipeline_and_serves_it(
    transactional_db: None, settings: Settings, tmp_path: Path
) -> None:
    settings.IMPORT_ROOTS = [tmp_path.resolve()]
    out = io.StringIO()
    options = ("--tracks", "40", "--seconds", "11", "--raters", "3")
    call_command("load_demo", *options, stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    experiment = Experiment.objects.get(slug="demo-vinyl")
    completed = re.search(r"(\d+) sessions completed", text)
    assert completed is not None and int(completed.group(1)) >= 3  # one or two per rater
    assert StimulusMOS.objects.filter(experiment=experiment).count() > 0
    # The simulated crowd's clock dates its answers: each after its clip started playing.
    votes = Vote.objects.filter(experiment=experiment)
    assert votes.exists() and not votes.filter(submitted_at__lt=F("play_started_at")).exists()
    login = re.search(r"Staff login:\s+(\S+) / (\S+)", text)
    assert login is not None
    link = re.search(r"Take the test:\s+(\S+)", text)
    assert link is not None

    client = Client()
    signed_in = client.post("/login/", {"username": login.group(1), "password": login.group(2)})
    assert signed_in.status_code == 302, "the printed demo login does not work"
    for page in ("", "results/", "sessions/"):
        response = client.get(f"/experiments/demo-vinyl/{page}")
        assert response.status_code == 200, page
    visitor = Client().get(link.group(1).split("8000", 1)[1])
    assert visitor.status_code == 302  # the open link gives the visitor an identity

    tracks = experiment.tracks.count()
    again = io.StringIO()
    call_command("load_demo", *options, stdout=again, stderr=io.StringIO())
    assert "simulated crowd" not in again.getvalue()  # votes exist: not simulated twice
    assert experiment.tracks.count() == tracks
    assert get_user_model().objects.filter(username=login.group(1)).count() == 1
