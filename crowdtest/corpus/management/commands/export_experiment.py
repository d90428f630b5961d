from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.exports import export_experiment


class Command(ExperimentCommand):
    help = "Write the experiment's CSV files and export.json (settings, code version) to DIR."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("out_dir", type=Path)

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        out_dir: Path = opts["out_dir"]
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandError(f"{out_dir} is a file, not a folder to write the export into.")
        try:
            written = export_experiment(experiment, out_dir)
        except OSError as exc:
            raise CommandError(f"Can't write the export to {out_dir}: {exc}") from exc
        for path in written:
            self.stdout.write(f"  wrote {path}")
