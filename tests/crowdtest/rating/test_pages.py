"""The entry URL of each platform, and the signed, opaque audio URLs."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.http import StreamingHttpResponse
from django.test import Client

from crowdtest.rating.clip_urls import clip_url
from crowdtest.rating.identity import link_token, read_rater_token
from crowdtest.rating.models import AssignmentItem
from tests.crowdtest.rating.designs import Built, RaterClient, make_design, take_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def built() -> Built:
    return make_design()


def token_in(response: Any) -> Any:
    found = re.search(rb'data-token="([^"]+)"', response.content)
    assert found, response.content[:500]
    return read_rater_token(found.group(1).decode())


def test_mturk_parameters_become_a_signed_identity(client: Client, built: Built) -> None:
    response = client.get(
        f"/take/{built.experiment.slug}/",
        {
            "workerId": "A2W",
            "assignmentId": "3AS",
            "hitId": "3HI",
            "turkSubmitTo": "https://www.mturk.com",
        },
    )
    assert response.status_code == 200
    identity = token_in(response)
    assert (identity.platform, identity.external_id, identity.assignment_id) == (
        "mturk",
        "A2W",
        "3AS",
    )
    assert identity.batch_id == "3HI" and identity.return_url == "https://www.mturk.com"
    # MTurk frames the page: no DENY, but only MTurk may frame it.
    assert "X-Frame-Options" not in response
    assert "https://www.mturk.com" in response["Content-Security-Policy"]
    assert "Set-Cookie" not in response


def test_prolific_parameters_become_a_signed_identity(client: Client, built: Built) -> None:
    response = client.get(
        f"/take/{built.experiment.slug}/",
        {"PROLIFIC_PID": "5f3a", "STUDY_ID": "st1", "SESSION_ID": "se1"},
    )
    identity = token_in(response)
    assert (identity.platform, identity.external_id, identity.assignment_id) == (
        "prolific",
        "5f3a",
        "se1",
    )


def test_a_participant_link_and_the_open_link(client: Client, built: Built) -> None:
    experiment = built.experiment
    response = client.get(f"/take/{experiment.slug}/?t={link_token(experiment.pk, 'p-1')}")
    assert token_in(response).external_id == "p-1"
    open_link = f"/take/{experiment.slug}/?t={link_token(experiment.pk, '')}"
    opened = client.get(open_link)
    assert opened.status_code == 302
    visitor = token_in(client.get(opened["Location"]))
    again = token_in(client.get(client.get(open_link)["Location"]))
    assert visitor.platform == "link" and visitor.external_id.startswith("o-")
    assert again.external_id == visitor.external_id  # the same browser: the same rater
    other = Client()
    stranger = token_in(other.get(other.get(open_link)["Location"]))
    assert stranger.external_id != visitor.external_id  # each new browser is somebody new
    client.cookies[f"crowdtest-open-{experiment.pk}"] = "p-1:forged"
    forged = token_in(client.get(client.get(open_link)["Location"]))
    assert forged.external_id.startswith("o-")  # a cookie not signed by us is ignored


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?workerId=A1&assignmentId=3A&hitId=3H&turkSubmitTo=https://evil.example",
        "?workerId=A1&assignmentId=3A&turkSubmitTo=https://www.mturk.com",
        "?workerId=A%20B&assignmentId=3A&hitId=3H&turkSubmitTo=https://www.mturk.com",
        "?PROLIFIC_PID=x&STUDY_ID=y",
        "?t=forged",
    ],
)
def test_an_incomplete_or_forged_entry_url_is_refused(
    client: Client, built: Built, query: str
) -> None:
    response = client.get(f"/take/{built.experiment.slug}/{query}")
    assert response.status_code == 400
    assert b"data-token" not in response.content


def test_a_link_of_another_experiment_is_refused(client: Client, built: Built) -> None:
    other = make_design().experiment
    response = client.get(f"/take/{built.experiment.slug}/?t={link_token(other.pk, 'p-1')}")
    assert response.status_code == 400


def test_a_clip_streams_without_a_name_and_privately(client: Client, built: Built) -> None:
    rc = RaterClient(client, built.experiment)
    state = rc.post("consent").json()
    for url in (state["setup"]["volume_url"], state["setup"]["digits_url"]):
        response = client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "audio/mp4"
        assert "Content-Disposition" not in response
        assert response["Cache-Control"] == "private, max-age=3600"
        assert isinstance(response, StreamingHttpResponse)
        assert response.getvalue().startswith(b"\x00\x00\x00\x18ftyp")


def test_trap_and_stimulus_urls_look_alike(client: Client, built: Built) -> None:
    rc = RaterClient(client, built.experiment)
    take_session(rc)
    items = AssignmentItem.objects.filter(phase="rating").select_related("trap")
    trap = next(i for i in items if i.trap is not None)
    stimulus = next(i for i in items if i.trap is None)
    shape = [re.sub(r"[A-Za-z0-9_-]", "x", clip_url(item.clip_key)) for item in (trap, stimulus)]
    assert shape[0] == shape[1]
    assert len(trap.clip_key) == len(stimulus.clip_key) == 24
    assert trap.duration_s == stimulus.duration_s


def test_a_bad_or_expired_signature_is_refused(client: Client, built: Built) -> None:
    rc = RaterClient(client, built.experiment)
    url = rc.post("consent").json()["setup"]["volume_url"]
    parts = urlparse(url)
    query = parse_qs(parts.query)
    key = parts.path.rsplit("/", 1)[1]
    assert client.get(f"{parts.path}?x={query['x'][0]}&s={'0' * 64}").status_code == 403
    assert client.get(parts.path).status_code == 403
    past = clip_url(key, now=time.time() - 4 * 3600)
    assert client.get(past).status_code == 403
    assert client.get(clip_url("nobody-has-this-key-0000")).status_code == 404
