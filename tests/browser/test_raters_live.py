"""The live raters view, in Chromium: while a rater takes a session the row appears with
its stage, follows it, and shows the screening verdict once the session is finished."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from tests.crowdtest.rating.designs import RaterClient, make_design, take_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_view_follows_a_session_as_it_is_taken(
    page: Page, live_server: LiveServer, staff_user: User
) -> None:
    experiment = make_design().experiment
    page.goto(f"{live_server.url}/login/?next=/experiments/{experiment.slug}/results/raters/")
    page.fill("#id_username", "experimenter")
    page.fill("#id_password", "listen-carefully-42")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#raters-live tr.empty")

    rater = RaterClient(
        Client(),
        experiment,
        "W-live",
        platform="mturk",
        assignment_id="3ALIVE",
        batch_id="3HITLIVE",
        return_url="https://workersandbox.mturk.com",
    )
    state = rater.post("consent").json()
    row = "#raters-live tbody tr[data-assignment]"
    page.wait_for_selector(f"{row} td.stage:has-text('{state['stage']}')")
    assert "mturk:W-live" in (page.text_content(row) or "")
    assert "3ALIVE / 3HITLIVE" in (page.text_content(row) or "")

    assert take_session(rater)["stage"] == "finished"
    page.wait_for_selector(f"{row} td.stage:has-text('completed')")
    page.wait_for_selector(f"{row} td.verdict span.ok, {row} td.verdict span.error")
    # Every clip scored 4: the variance rule screens the session out, and says so.
    assert "invalid" in (page.text_content(f"{row} td.verdict") or "")
    assert "low_variance" in (page.text_content(f"{row} td.verdict") or "")
