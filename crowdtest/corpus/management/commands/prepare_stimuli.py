from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.corpus.selectors import corpus_counts, problem_tracks
from crowdtest.corpus.services import stimuli_prepare
from crowdtest.jobs.dispatch import uses_workers


class Command(ExperimentCommand):
    help = (
        "Cut, normalise and encode a stimulus per track (audio queue tasks). Only what is "
        "missing is done; --retry-failed also retries failed ones."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--retry-failed", action="store_true")
        parser.add_argument(
            "--deliver-all",
            action="store_true",
            help="also encode every delivery file now (by default only the stimuli kept "
            "after clustering are encoded, when clustering selects them)",
        )
        parser.add_argument(
            "--no-wait", action="store_true", help="queue the tasks and return (workers only)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        job = stimuli_prepare(
            experiment=experiment,
            retry_failed=opts["retry_failed"],
            deliver_all=opts["deliver_all"],
        )
        if job is None:
            self.stdout.write("Nothing to prepare: every usable track has its stimulus.")
        elif opts["no_wait"] and uses_workers():
            self.stdout.write(f"Queued job {job.pk} ({job.total} stimuli).")
            return
        else:
            self.follow(job.pk)
        for row in problem_tracks(experiment=experiment):
            self.stdout.write(
                self.style.ERROR(
                    f"  {row['original_name']}: {row['error'] or row['stimulus__error']}"
                )
            )
        counts = corpus_counts(experiment=experiment)
        self.stdout.write(
            self.style.SUCCESS(
                f"{counts['ready']} stimuli ready, {counts['failed']} failed, "
                f"{counts['pending']} pending, {counts['track_errors']} tracks unusable."
            )
        )
