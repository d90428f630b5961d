"""Rater tokens live as long as a silent session is kept (session_timeout_minutes); a page
in use is handed a renewed one, so only an abandoned page's token runs out."""

from __future__ import annotations

import time

import pytest
from django.core import signing
from django.test import Client

from crowdtest.rating.identity import RATER_SALT, rater_token, read_rater_token, token_age_s

from .designs import RaterClient, make_design

pytestmark = pytest.mark.django_db


@pytest.fixture
def rc(client: Client) -> RaterClient:
    return RaterClient(client, make_design().experiment, "tab-left-open")


def aged(rc: RaterClient, seconds: float) -> RaterClient:
    rc.token = rater_token(rc.identity, issued_at=time.time() - seconds)
    return rc


def test_a_token_older_than_the_session_timeout_is_refused(rc: RaterClient) -> None:
    timeout_s = rc.experiment.config.session_timeout_minutes * 60
    assert aged(rc, timeout_s - 30).get("state").status_code == 200
    expired = aged(rc, timeout_s + 30).get("state")
    assert expired.status_code == 403
    assert expired.json()["code"] == "token_expired"
    assert "reload" in expired.json()["error"]
    assert aged(rc, timeout_s + 30).post("consent").status_code == 403


def test_a_token_without_its_issue_time_is_refused(rc: RaterClient) -> None:
    payload = signing.loads(rc.token, salt=RATER_SALT)
    del payload["t"]
    rc.token = signing.dumps(payload, salt=RATER_SALT, compress=True)
    assert read_rater_token(rc.token) == rc.identity  # genuine, but of unknown age
    assert rc.get("state").json()["code"] == "token_expired"


def test_a_page_in_use_gets_a_renewed_token(rc: RaterClient) -> None:
    fresh = rc.get("state")
    assert "X-Rater-Token" not in fresh.headers  # young tokens are not reissued
    response = aged(rc, 600).get("state")
    renewed = response.headers["X-Rater-Token"]
    assert read_rater_token(renewed) == rc.identity
    assert token_age_s(renewed) < 5
    rc.token = renewed
    assert rc.post("consent").status_code == 200


def test_forged_and_malformed_tokens_have_no_age() -> None:
    assert token_age_s("nonsense") == float("inf")
    assert token_age_s("") == float("inf")
