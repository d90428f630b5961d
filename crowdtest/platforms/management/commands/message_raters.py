from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.platforms.services import PlatformError, raters_message


class Command(ExperimentCommand):
    help = "Message raters through their platform (default: everyone who submitted work)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--platform", choices=("mturk", "prolific"), required=True)
        parser.add_argument("--subject", required=True)
        parser.add_argument("--text", required=True)
        parser.add_argument("--worker", action="append", dest="workers", metavar="ID")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            report = raters_message(
                experiment=self.experiment(opts["slug"]),
                platform=opts["platform"],
                subject=opts["subject"],
                text=opts["text"],
                worker_ids=opts["workers"],
            )
        except PlatformError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(report.summary())
