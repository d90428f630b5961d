from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.design.selectors import design_of, design_summary
from crowdtest.design.services import DIGITS_POOL, DesignError, design_build_start, session_shape
from crowdtest.jobs.dispatch import uses_workers


class Command(ExperimentCommand):
    help = (
        "Build the P.808 test: spoken prompts, traps, setup digits, the training session and "
        "balanced rating sessions (paper section 2). Allowed again until the first vote."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--votes-per-stimulus", type=int, default=None, help="default: the experiment's (15)"
        )
        parser.add_argument("--seed", type=int, default=None, help="default: the experiment's")
        parser.add_argument(
            "--digits-clips",
            type=int,
            default=DIGITS_POOL,
            help=f"setup clips of 2 or 3 digits to make (default {DIGITS_POOL})",
        )
        parser.add_argument(
            "--no-wait", action="store_true", help="queue the build and return (workers only)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        try:
            job = design_build_start(
                experiment=experiment,
                votes_per_stimulus=opts["votes_per_stimulus"],
                seed=opts["seed"],
                digits_pool=opts["digits_clips"],
            )
        except DesignError as exc:
            raise CommandError(str(exc)) from exc
        if opts["no_wait"] and uses_workers():
            self.stdout.write(f"Queued job {job.pk}.")
            return
        self.follow(job.pk)
        job.refresh_from_db()
        if job.status != job.Status.SUCCEEDED:
            raise CommandError(f"Job {job.pk} ended {job.status}: {job.error or job.message}")
        summary = design_summary(experiment=experiment)
        design = design_of(experiment=experiment)
        assert design is not None
        for warning in design.warnings:
            self.stdout.write(self.style.WARNING(f"  {warning}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"{design.n_rating_sessions} rating sessions of {session_shape(design)} "
                f"(+ traps), {summary['traps']} traps from "
                f"{summary['trap_sources']} sources, {len(summary['training'])} training "
                f"stimuli, {summary['digit_clips']} digits clips; seed {design.seed}, "
                f"{design.votes_per_stimulus} votes per stimulus."
            )
        )
