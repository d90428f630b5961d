from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.corpus.services import CorpusError, tracks_import


class Command(ExperimentCommand):
    help = "Import tracks from a folder, a CSV manifest or an s3://bucket/prefix."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("source", help="folder | manifest.csv | s3://bucket/prefix")

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        bar = tqdm(total=0, unit="file", file=sys.stderr, dynamic_ncols=True)

        def progress(done: int, total: int, name: str) -> None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(name[-40:], refresh=True)

        try:
            report = tracks_import(experiment=experiment, source=opts["source"], progress=progress)
        except CorpusError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        for name, error in report.errors:
            self.stdout.write(self.style.ERROR(f"  {name}: {error}"))
        for name in report.duplicates:
            self.stdout.write(f"  {name}: already imported (same content)")
        self.stdout.write(self.style.SUCCESS(report.summary()))
