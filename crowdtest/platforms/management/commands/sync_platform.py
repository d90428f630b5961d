from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.platforms.services import PlatformError, platform_sync


class Command(ExperimentCommand):
    help = (
        "Fetch the submissions of the experiment's HITs and studies, match them to its "
        "sessions, flag sessions the platform does not know, and catch up on the cap lists."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            report = platform_sync(experiment=self.experiment(opts["slug"]))
        except PlatformError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(report.summary())
        for line in report.forged:
            self.stdout.write(f"  forged: {line}")
