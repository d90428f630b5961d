from __future__ import annotations

from typing import Any

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.results.services import results_refresh


class Command(ExperimentCommand):
    help = (
        "Screen the sessions, compute every stimulus's MOS, std, n and 95% CIs from the "
        "valid votes, and retire sessions adaptive collection no longer needs."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        report = results_refresh(experiment=self.experiment(opts["slug"]))
        self.stdout.write(report.screening.summary())
        self.stdout.write(report.mos.summary())
        if report.retirement is not None:
            self.stdout.write(report.retirement.summary())
