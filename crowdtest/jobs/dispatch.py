"""Send a Celery task once the current transaction commits.

With a broker the task goes to its queue. Without one (the embedded default) it runs in
this process: in a background thread for the web server (`TASKS_IN_PROCESS=thread`), or
inline for tests and commands (`sync`), so that rows a request just wrote are visible to
the task either way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Task, group
from django.conf import settings
from django.db import close_old_connections, transaction

logger = logging.getLogger(__name__)
_executor: ThreadPoolExecutor | None = None


def _in_thread(task: Task[Any, Any], kwargs: dict[str, Any]) -> None:
    try:
        task.apply(kwargs=kwargs, throw=False)
    except Exception:  # the task records its own failure on its job
        logger.exception("in-process task %s failed", task.name)
    finally:
        close_old_connections()


def _send(task: Task[Any, Any], kwargs: dict[str, Any], mode: str) -> None:
    global _executor
    if mode == "sync":
        task.apply(kwargs=kwargs, throw=True)
    elif mode == "thread":
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crowdtest-task")
        _executor.submit(_in_thread, task, kwargs)
    else:
        task.apply_async(kwargs=kwargs)


def enqueue(task: Task[Any, Any], **kwargs: Any) -> None:
    """Queue `task(**kwargs)` once the current transaction commits."""
    mode = "" if settings.CELERY_BROKER_URL else settings.TASKS_IN_PROCESS
    transaction.on_commit(lambda: _send(task, kwargs, mode))


#: Signatures built and sent at once by `enqueue_group`: a sender's memory stays flat
#: however many tasks a group has.
GROUP_SLICE = 20


def enqueue_group(task: Task[Any, Any], calls: Sequence[dict[str, Any]]) -> None:
    """Queue `task` once per keyword set in `calls` as a Celery group (sent in slices of
    `GROUP_SLICE`) once the current transaction commits: every worker on the task's
    queue takes its share. Without a broker they run one after another in this process."""
    mode = "" if settings.CELERY_BROKER_URL else settings.TASKS_IN_PROCESS
    calls = [dict(kwargs) for kwargs in calls]

    def send() -> None:
        if mode:
            for kwargs in calls:
                _send(task, kwargs, mode)
            return
        for start in range(0, len(calls), GROUP_SLICE):
            part = calls[start : start + GROUP_SLICE]
            group(task.s(**kwargs) for kwargs in part).apply_async()

    transaction.on_commit(send)


def uses_workers() -> bool:
    return bool(settings.CELERY_BROKER_URL)
