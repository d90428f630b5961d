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
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import subprocess

    from celery import Celery
    from django.contrib.auth.models import User
    from django.test import Client
    from playwright.sync_api import Browser, Page

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
def staff_user(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(
        username="experimenter", password="listen-carefully-42", is_staff=True
    )


@pytest.fixture
def admin_user_account(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_superuser(
        username="admin", password="admin-pass-1234", email="admin@example.org"
    )


@pytest.fixture
def staff_client(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    return client


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Chromium for one test module. Not for the whole session: processes forked later
    (data loader workers) would inherit the Playwright driver's pipes and keep it from
    shutting down."""
    require_service(
        "Chromium", shutil.which(CHROMIUM) is not None, f"install Debian's chromium ({CHROMIUM})"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def database_url_for_subprocess() -> str:
    """The URL of the database the tests use (the test database), for child processes."""
    from django.db import connection

    cfg = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{cfg['NAME']}"
    user = cfg.get("USER") or ""
    password = f":{cfg['PASSWORD']}" if cfg.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return (
        f"postgres://{auth}{cfg.get('HOST') or '127.0.0.1'}:{cfg.get('PORT') or 5432}/{cfg['NAME']}"
    )


@pytest.fixture
def broker_url() -> str:
    from django.conf import settings

    url: str = settings.TEST_BROKER_URL
    from urllib.parse import urlparse

    parsed = urlparse(url)
    require_service(
        "Redis",
        port_open(parsed.hostname or "127.0.0.1", parsed.port or 6379),
        f"nothing answers at {url}",
    )
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


def _worker_env(broker_url: str) -> dict[str, str]:
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "crowdtest.settings",
            "CROWDTEST_INSECURE_DEFAULTS": "1",
            "DEBUG": "1",
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": broker_url,
            "DATABASE_URL": database_url_for_subprocess(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        }
    )
    return env


def _start_workers(
    broker_url: str, tmp_path: Path, count: int, pool: list[str]
) -> Iterator[tuple[Celery, list[subprocess.Popen[bytes]]]]:
    """`count` real `celery worker` processes on every queue, each with its own log;
    yields a Celery client on the same broker and the processes."""
    import subprocess
    import sys
    import time

    from celery import Celery

    root = Path(__file__).resolve().parent.parent
    env = _worker_env(broker_url)
    logs = [tmp_path / f"worker{i}.log" for i in range(count)]
    procs = []
    for i, log in enumerate(logs):
        with log.open("w") as out:
            command = [sys.executable, "-m", "celery", "-A", "crowdtest", "worker"]
            command += ["-Q", "default,audio,gpu", *pool, "--loglevel", "INFO"]
            command += ["-n", f"test-{os.getpid()}-{i}@%h"]
            procs.append(
                subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
    client = Celery("crowdtest-test-client", broker=broker_url, backend=broker_url)
    client.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")

    def logs_text() -> str:
        return "\n".join(log.read_text() for log in logs)

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError(logs_text())
            replies = client.control.ping(timeout=1.0)
            assert replies is not None  # a ping waits for its replies
            if len(replies) >= count:
                break
        else:
            raise RuntimeError(f"{count} workers did not answer within 60 s:\n{logs_text()}")
        yield client, procs
    finally:
        client.close()  # its broker connections must not outlive the test
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def celery_worker_process(
    broker_url: str, transactional_db: None, tmp_path: Path
) -> Iterator[Celery]:
    """A real `celery worker` process on Redis, using the test database and media folder.
    Yields a Celery client bound to the same broker."""
    for client, _ in _start_workers(broker_url, tmp_path, 1, ["--pool", "solo"]):
        yield client


@pytest.fixture
def celery_worker_pair(
    broker_url: str, transactional_db: None, tmp_path: Path
) -> Iterator[tuple[Celery, list[subprocess.Popen[bytes]]]]:
    """Two real worker processes, each with one prefork pool process (which can be
    killed on its own, as the out-of-memory killer would), on the test database."""
    pool = ["--pool", "prefork", "--concurrency", "1"]
    yield from _start_workers(broker_url, tmp_path, 2, pool)
