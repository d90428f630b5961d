from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.results.services import ResultsError, vinylset_import


class Command(ExperimentCommand):
    help = (
        "Import MOS labels from a Vinylset CSV (filename, label, c, mosgroup, CI, std) as "
        "the experiment's imported MOS rows, matching tracks by file name."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("csv_file", type=Path)

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        path: Path = opts["csv_file"]
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Can't read {path}: {exc}") from exc
        try:
            report = vinylset_import(experiment=experiment, text=text)
        except ResultsError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report.summary())
