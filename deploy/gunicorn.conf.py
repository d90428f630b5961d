"""gunicorn settings of the web process: `gunicorn -c deploy/gunicorn.conf.py`.

The web process runs behind nginx (deploy/nginx/crowdtest.conf.template), which reads
every request body in full and buffers every answer, and sends the clips itself: a rater
on a slow phone link holds an nginx connection, never an app worker. So the workers only
run views: gthread workers, one process per core with a pool of threads each, so a view
waiting on PostgreSQL does not hold up the next. Measured against the alternatives
(sync workers streaming audio, gunicorn's ASGI worker) in docs/benchmarks.md with
bench/load.py.

GUNICORN_WORKER_CLASS=asgi runs crowdtest.asgi under gunicorn's ASGI worker instead, for a
deployment without a buffering proxy: slow clients then hold event-loop sockets rather
than threads, at a cost in throughput.

Everything can be overridden from the environment (GUNICORN_*), and on the command line.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from typing import Any


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
# The ASGI worker runs the ASGI application; the others (gthread, sync) run WSGI.
wsgi_app = "crowdtest.asgi:application" if worker_class == "asgi" else "crowdtest.wsgi:application"
# One process per core: the views are CPU-bound Python; nginx does the waiting on clients.
workers = _env_int("GUNICORN_WORKERS", multiprocessing.cpu_count())
# Threads per worker for the gthread class, each running one request at a time: as many
# as the worker's pooled database connections (DATABASE_POOL_SIZE), so none waits for one.
threads = _env_int("GUNICORN_THREADS", _env_int("DATABASE_POOL_SIZE", 8) or 8)
# Open connections per worker (raters keep theirs alive between clips).
worker_connections = _env_int("GUNICORN_WORKER_CONNECTIONS", 2000)
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Listen queue: a crowd batch opening its links at once must not be refused.
backlog = _env_int("GUNICORN_BACKLOG", 2048)
timeout = _env_int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _env_int("GUNICORN_KEEPALIVE", 75)  # beyond a 10 s clip and a rating
# A worker that died (killed, out of memory) is replaced by a fork of the loaded master.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") != "0"
# Only the proxy in front may say which client and scheme a request came from.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def pre_fork(server: Any, worker: Any) -> None:
    """No database connection (or pool) of the master may be shared by its children. The
    loaded app's objects (Django, the URLconf, the API's schemas: about 200,000) are moved
    out of the garbage collector's sight, so a worker's full collection walks only what
    its requests made (walking them all took about 100 ms, a pause in every request then
    running) and leaves the pages it shares with the master alone."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        connection.close()
        close_pool = getattr(connection, "close_pool", None)
        if close_pool is not None:
            close_pool()
    gc.collect()
    gc.freeze()
