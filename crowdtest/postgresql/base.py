"""Django's PostgreSQL backend, with two changes for the rater's hot path:

- its psycopg pool checks a connection only when it sat idle (pool.py): Django offers a
  check of every connection handed out or none;
- `prepared_cursor()`, a cursor that binds parameters on the server, so a statement it runs
  is prepared once per connection (with `prepare_threshold` 0 in OPTIONS, as the settings
  give it) and later runs skip parsing and planning. Django's own cursors bind on the
  client and are never prepared."""

from __future__ import annotations

from typing import Any

from django.db import DataError
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base, operations
from django.db.backends.utils import CursorWrapper

from . import pool as checks


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor: Any, sql: str, params: Any) -> str:
        """Django reads the text psycopg sent, which a prepared statement run by name
        lacks: then the statement with its values, as a client-side cursor would send it."""
        found: str | None = super().last_executed_query(cursor, sql, params)
        if found is not None or not sql:
            return found or sql
        try:
            composed: str = self.compose_sql(sql, params)
        except DataError:
            return sql
        return composed


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def prepared_cursor(self) -> CursorWrapper:
        """A cursor whose statements are prepared (see the module's docstring), wrapped as
        Django wraps its own, so query logging and counting see what it runs."""
        import psycopg

        self.ensure_connection()
        with self.wrap_database_errors:
            # Django's hook that wraps a driver's cursor (debug logging, thread checks).
            wrapped: CursorWrapper = self._prepare_cursor(  # type: ignore[attr-defined]
                psycopg.Cursor(self.connection)
            )
        return wrapped

    @property
    def pool(self) -> Any:
        options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not options:
            return None
        # Django's own attributes (not in its type stubs): the pools of every alias, and
        # the callback that sets a new connection up.
        pools: dict[str, Any] = self._connection_pools  # type: ignore[attr-defined]
        if self.alias not in pools:
            from psycopg_pool import ConnectionPool

            made = ConnectionPool(
                kwargs={**self.get_connection_params(), "autocommit": True},
                open=False,  # opened at the first connection, in the process that uses it
                configure=self._configure_connection,  # type: ignore[attr-defined]
                check=checks.check,
                **({} if options is True else options),
            )
            # Threads racing here agree on the first pool stored.
            pools.setdefault(self.alias, made)
        return pools[self.alias]

    def _close(self) -> None:
        """Give the connection back, noting when (the pool's `check` reads it). Not the
        pool's `reset` callback: with one, the pool hands every connection given back to
        its worker thread, a thread switch per request before the next can have it."""
        if self.connection is not None and self.pool is not None:
            checks.returned(self.connection)
        super()._close()  # type: ignore[misc]
