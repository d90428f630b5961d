"""Debian's Chromium, driven by Playwright, opens the app and logs in as staff."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_logs_in(page: Page, live_server: LiveServer, staff_user: User) -> None:
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    page.fill("#id_username", "experimenter")
    page.fill("#id_password", "listen-carefully-42")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("text=Log out experimenter")
    assert "/login/" not in page.url


def test_wrong_password_is_refused(page: Page, live_server: LiveServer, staff_user: User) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "experimenter")
    page.fill("#id_password", "not-the-password")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector(".error")
    assert "/login/" in page.url
