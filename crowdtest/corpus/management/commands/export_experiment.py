from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.exports import export_experiment


class Command(ExperimentCommand):
    help = "Write the experiment's CSV files and export.json (settings, code version) to DIR."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("out_dir", type=Path)

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        for path in export_experiment(experiment, opts["out_dir"]):
            self.stdout.write(f"  wrote {path}")
