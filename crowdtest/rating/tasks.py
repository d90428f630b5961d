"""Rating tasks: thin wrappers around one service each."""

from __future__ import annotations

from crowdtest.jobs.durable import durable_task


@durable_task("crowdtest.rating.tasks.release_abandoned", time_limit=120, soft_margin=20)
def release_abandoned_task() -> int:
    """Give the sessions of raters gone silent back to the pool (periodic, idempotent)."""
    from .assigning import assignments_release_abandoned
    from .delivery import sweep_copies

    sweep_copies()  # raters' clip copies no URL can reach any more
    return assignments_release_abandoned()
