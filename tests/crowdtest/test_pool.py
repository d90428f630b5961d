"""The connection pool's health check (crowdtest/postgresql/) on a real PostgreSQL: a
connection back from a request moments ago is handed out as it is, one idle for longer is
checked, and a broken one is replaced before any request sees it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection
from psycopg_pool import ConnectionPool

from crowdtest.postgresql import pool as checks
from crowdtest.postgresql.base import DatabaseWrapper
from tests.conftest import require_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def backend() -> Iterator[DatabaseWrapper]:
    """The backend with its own pool of one connection, made from the test database's
    settings (under the suite's DATABASE_URL the tests' connections come from it too)."""
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    settings = {**connection.settings_dict, "OPTIONS": {"pool": {"min_size": 1, "max_size": 1}}}
    wrapper = DatabaseWrapper(settings, alias="pool-test")
    wrapper.pool.open(wait=True)
    try:
        yield wrapper
    finally:
        wrapper.close()
        wrapper.close_pool()


def backend_of(wrapper: DatabaseWrapper) -> int:
    """The server process of the connection a request gets, given back after it."""
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            row = cursor.fetchone()
    finally:
        wrapper.close()
    assert row is not None
    return int(row[0])


def kill(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


def test_a_connection_back_moments_ago_is_not_checked_again(backend: DatabaseWrapper) -> None:
    """No round trip before each request: the check is skipped for a connection that was
    working a moment ago (here it was broken since, and the first query finds out)."""
    kill(backend_of(backend))
    with pytest.raises(OperationalError):
        backend_of(backend)


def test_a_connection_idle_for_long_is_checked_and_replaced_when_broken(
    backend: DatabaseWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = backend_of(backend)
    kill(gone)
    monkeypatch.setattr(checks, "IDLE_CHECK_S", 0.0)  # as if it had sat idle past the bound
    assert backend_of(backend) != gone  # a working connection, the broken one dropped


def test_a_connection_given_back_is_in_the_pool_at_once(backend: DatabaseWrapper) -> None:
    """Given back by the request's own thread, not queued for the pool's worker thread
    (a thread switch per request before the next could have it)."""
    pool: ConnectionPool = backend.pool
    for _ in range(20):
        backend_of(backend)
        assert pool.get_stats()["pool_available"] == 1
