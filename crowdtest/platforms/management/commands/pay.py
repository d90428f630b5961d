from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.platforms.selectors import payment_plan
from crowdtest.platforms.services import PlatformError, payments_execute, platform_sync


class Command(ExperimentCommand):
    help = (
        "Approvals, rejections (from the screening verdicts) and bonuses (the paper's: "
        "raters with more than `bonus_after_sessions` sessions). A dry run unless "
        "--execute; --execute can be run again after a crash: nobody is paid twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--execute", action="store_true", help="send them")
        parser.add_argument("--sync", action="store_true", help="sync the platforms first")
        parser.add_argument(
            "--retry-failed", action="store_true", help="send payments the platform refused again"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        try:
            if opts["sync"]:
                self.stdout.write(platform_sync(experiment=experiment).summary())
            if opts["execute"]:
                report = payments_execute(
                    experiment=experiment,
                    retry_failed=opts["retry_failed"],
                    say=self.stdout.write,
                )
                self.stdout.write(report.summary())
                return
        except PlatformError as exc:
            raise CommandError(exc.message) from exc
        plan = payment_plan(experiment=experiment)
        self.stdout.write("Dry run: nothing is sent (add --execute).")
        for row in plan.unfinished:
            self.stdout.write(
                f"RESUME  {row.kind} {row.worker_id} ${row.amount_usd} ({row.status})"
            )
        for item in plan.items:
            self.stdout.write(item.line())
        for row in plan.failed:
            self.stdout.write(f"FAILED  {row.kind} {row.worker_id}: {row.error}")
        for note in plan.waiting:
            self.stdout.write(f"WAITING {note}")
        self.stdout.write(f"Total: {plan.summary()}")
