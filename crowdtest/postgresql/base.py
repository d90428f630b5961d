"""Django's PostgreSQL backend, but its psycopg pool checks a connection only when it sat
idle (pool.py): Django offers a check of every connection handed out or none."""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base

from . import pool as checks


class DatabaseWrapper(base.DatabaseWrapper):
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
                reset=checks.returned,
                **({} if options is True else options),
            )
            # Threads racing here agree on the first pool stored.
            pools.setdefault(self.alias, made)
        return pools[self.alias]
