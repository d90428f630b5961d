"""What every experiment command shares: finding the experiment, following a job."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crowdtest.corpus.models import Experiment
from crowdtest.jobs.models import Job


class ExperimentCommand(BaseCommand):
    """A command whose first argument is an experiment's slug."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the experiment's slug")

    def experiment(self, slug: str) -> Experiment:
        try:
            return Experiment.objects.get(slug=slug)
        except Experiment.DoesNotExist:
            known = ", ".join(Experiment.objects.values_list("slug", flat=True)[:20]) or "none"
            raise CommandError(f"No experiment '{slug}' (known: {known}).") from None

    def follow(self, job_id: int, label: str | None = None) -> Job:
        """Show a job's progress until it ends; fail the command if the job failed."""
        from crowdtest.jobs.console import follow_job

        job = follow_job(job_id, stream=sys.stderr, label=label)
        if job.status == job.Status.FAILED:
            raise CommandError(f"Job {job.pk} failed: {job.error}")
        return job
