"""Bounded retries with exponential backoff for calls to a crowd platform.

Only answers that say "try again later" are retried (throttling, 5xx, a dropped
connection); everything else is raised at once. The number of attempts is bounded, so a
platform that stays down fails the action with a clear error instead of hanging.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """`attempts` calls at most; the nth wait is base * 2^(n-1) seconds, capped, with
    jitter (half to all of it) so that many clients do not retry in step."""

    attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay(self, attempt: int) -> float:
        return float(min(self.cap_s, self.base_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0))


DEFAULT_BACKOFF = Backoff()


def with_backoff(
    call: Callable[[], T],
    *,
    retryable: Callable[[Exception], bool],
    backoff: Backoff,
    what: str,
) -> T:
    """`call()`, again after a wait while it fails with a retryable error, at most
    `backoff.attempts` times; the last error is raised."""
    attempt = 1
    while True:
        try:
            return call()
        except Exception as exc:
            if not retryable(exc) or attempt >= backoff.attempts:
                raise
            delay = backoff.delay(attempt)
            logger.warning(
                "%s failed (%s); retry %d of %d in %.1f s",
                what,
                exc.__class__.__name__,
                attempt,
                backoff.attempts - 1,
                delay,
            )
            backoff.sleep(delay)
            attempt += 1
