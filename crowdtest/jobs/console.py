"""Follow a job from a management command with a progress bar."""

from __future__ import annotations

import time
from typing import TextIO

from tqdm import tqdm

from .models import Job


def follow_job(
    job_id: int, *, stream: TextIO, poll_seconds: float = 0.5, label: str | None = None
) -> Job:
    """Block until the job finishes, drawing its progress under `label` (what the job
    works on, where a command follows several); returns the finished job."""
    job = Job.objects.get(pk=job_id)
    with tqdm(
        total=job.total or None, desc=label, file=stream, unit="item", dynamic_ncols=True
    ) as bar:
        while True:
            job.refresh_from_db()
            if job.total and bar.total != job.total:
                bar.total = job.total
            bar.n = job.done + job.failed
            bar.set_postfix_str(job.message[:120], refresh=False)
            bar.refresh()
            if job.is_finished:
                return job
            time.sleep(poll_seconds)
