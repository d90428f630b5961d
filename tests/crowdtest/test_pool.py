"""The connection pool's health check (crowdtest/postgresql/) on a real PostgreSQL: a
connection back from a request moments ago is handed out as it is, one idle for longer is
checked, and a broken one is replaced before any request sees it."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from crowdtest.postgresql import pool as checks
from crowdtest.postgresql.base import DatabaseWrapper
from tests.conftest import require_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    """The backend's own pool, made from the test database's settings with one
    connection (under the suite's DATABASE_URL the tests' connections come from it too)."""
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    settings = {**connection.settings_dict, "OPTIONS": {"pool": {"min_size": 1, "max_size": 1}}}
    wrapper = DatabaseWrapper(settings, alias="pool-test")
    made = wrapper.pool
    made.open(wait=True)
    try:
        yield made
    finally:
        wrapper.close_pool()


def backend_of(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        return int(row[0])


def kill(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


def test_a_connection_back_moments_ago_is_not_checked_again(pool: ConnectionPool) -> None:
    """No round trip before each request: the check is skipped for a connection that was
    working a moment ago (here it was broken since, and the first query finds out)."""
    kill(backend_of(pool))
    with pool.connection() as conn, pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")


def test_a_connection_idle_for_long_is_checked_and_replaced_when_broken(
    pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = backend_of(pool)
    kill(gone)
    monkeypatch.setattr(checks, "IDLE_CHECK_S", 0.0)  # as if it had sat idle past the bound
    assert backend_of(pool) != gone  # a working connection, the broken one dropped
