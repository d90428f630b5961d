"""The playback check on the rater's device, before the volume step: what it found goes
with the session; a device that can't play the clips ends the session without using it
up, and the rater may start again (in another browser)."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from crowdtest.design.models import Design, Session
from crowdtest.rating.models import Assignment
from crowdtest.results.exports import verdicts_csv

from .designs import RaterClient, make_design

pytestmark = pytest.mark.django_db


@pytest.fixture
def rc(client: Client) -> RaterClient:
    rater = RaterClient(client, make_design().experiment, "device-check")
    assert rater.post("consent").json()["stage"] == "setup"
    return rater


def test_a_device_that_plays_goes_on_and_its_check_is_kept(rc: RaterClient) -> None:
    body = {"can_play": True, "sample_rate_hz": 48000, "duration_s": 9.98}
    state = rc.post("playback", body).json()
    assert state["stage"] == "setup"
    playback = Assignment.objects.get().playback
    assert playback["ok"] is True and playback["sample_rate_hz"] == 48000
    assert playback["duration_s"] == 9.98


def test_a_device_that_cannot_decode_the_clips_uses_no_session(rc: RaterClient) -> None:
    session = Assignment.objects.get().session
    detail = "the browser does not play AAC in MP4"
    state = rc.post("playback", {"can_play": False, "detail": detail}).json()
    assert state["stage"] == "consent" and "another browser" in state["message"]
    assignment = Assignment.objects.get()
    assert assignment.status == Assignment.Status.NO_PLAYBACK
    assert assignment.playback["detail"] == detail
    assert Session.objects.get(pk=session.pk).status == Session.Status.OPEN  # back in the pool
    assert rc.state()["stage"] == "consent"
    # Another browser: the rater starts again, with a session of their own.
    assert rc.post("consent").json()["stage"] == "setup"
    assert Assignment.objects.filter(status=Assignment.Status.ACTIVE).count() == 1


def test_a_clip_decoded_at_the_wrong_length_fails_the_check(rc: RaterClient) -> None:
    Design.objects.update(volume_duration_s=10.0)
    state = rc.post("playback", {"can_play": True, "duration_s": 4.2}).json()
    assert state["stage"] == "consent"
    assert Assignment.objects.get().playback["detail"] == "decoded at the wrong length"


def test_the_check_is_refused_out_of_turn_and_bad_reports_are_400s(rc: RaterClient) -> None:
    for bad in ({"can_play": "yes"}, {"can_play": True, "sample_rate_hz": 12}, {}):
        assert rc.post("playback", bad).status_code == 400, bad
    rc.post("playback", {"can_play": False})
    response = rc.post("playback", {"can_play": True})  # the session has ended
    assert (response.status_code, response.json()["code"]) == (409, "stage")


def test_the_check_goes_into_the_exports(rc: RaterClient) -> None:
    rc.post("playback", {"can_play": True, "sample_rate_hz": 44100, "duration_s": 10.0})
    columns, rows = verdicts_csv(rc.experiment)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(columns)
    writer.writerows(rows)
    row = next(csv.DictReader(io.StringIO(text.getvalue())))
    assert (row["playback_ok"], row["playback_sample_rate_hz"]) == ("True", "44100")
