"""Health checks for psycopg's connection pool that cost a round trip only when one can
find something: a connection that sat idle in the pool for a while.

Checking every connection as it is handed out (Django's CONN_HEALTH_CHECKS with a pool)
sends an empty query before each request's first one: under a crowd, one round trip to
PostgreSQL in every three or four a rater's call makes. A connection given back to the
pool moments ago was working moments ago; one that has waited longer than IDLE_CHECK_S
(a quiet night, a database restarted meanwhile) is checked before use, so a restarted
database still costs no failed request.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

IDLE_CHECK_S = 2.0

_returned: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def returned(connection: Any) -> None:
    """The connection is going back to the pool, working (the backend's `_close`)."""
    with _lock:
        _returned[connection] = time.monotonic()


def check(connection: Any) -> None:
    """The pool's `check` callback: raise if a connection idle for long is broken (the
    pool then drops it and hands out another)."""
    with _lock:
        back_at = _returned.get(connection)
    if back_at is not None and time.monotonic() - back_at < IDLE_CHECK_S:
        return
    from psycopg_pool import ConnectionPool

    ConnectionPool.check_connection(connection)
