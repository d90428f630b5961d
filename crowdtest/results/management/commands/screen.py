from __future__ import annotations

from typing import Any

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.results.services import experiment_screen


class Command(ExperimentCommand):
    help = "Screen every finished session of the experiment and set its votes' validity."

    def handle(self, *args: Any, **opts: Any) -> None:
        report = experiment_screen(experiment=self.experiment(opts["slug"]))
        self.stdout.write(report.summary())
