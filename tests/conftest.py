"""Fixtures shared by the whole suite.

Tests that need a real service (PostgreSQL, Redis, a Celery worker, Chromium) call
`require_service`: on a laptop without the service they skip with the reason; in CI
(`CI=true`) a missing service fails the test instead.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def require_service(name: str, available: bool, how: str = "") -> None:
    if available:
        return
    reason = f"{name} is not available{': ' + how if how else ''}"
    if IN_CI:
        pytest.fail(f"CI requires {reason}", pytrace=False)
    pytest.skip(reason)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture
def staff_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(
        username="experimenter", password="listen-carefully-42", is_staff=True
    )


@pytest.fixture
def admin_user_account(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser(
        username="admin", password="admin-pass-1234", email="admin@example.org"
    )


@pytest.fixture
def staff_client(client: Any, staff_user: Any) -> Any:
    client.force_login(staff_user)
    return client


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    require_service(
        "Chromium", shutil.which(CHROMIUM) is not None, f"install Debian's chromium ({CHROMIUM})"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
