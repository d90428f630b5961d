from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.exports import AUDIO_FOLDER, stimuli_audio_export
from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.exports import export_experiment


class Command(ExperimentCommand):
    help = (
        "Write the experiment's CSV files and export.json (settings, code version) to DIR; "
        "with --audio, the stimuli's masters and delivery files too, under the names "
        "stimuli.csv gives them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("out_dir", type=Path)
        parser.add_argument(
            "--audio",
            action="store_true",
            help="also copy each stimulus's master and delivery file (under audio/, named "
            "after its track)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        out_dir: Path = opts["out_dir"]
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandError(f"{out_dir} is a file, not a folder to write the export into.")
        try:
            written = export_experiment(experiment, out_dir)
            if opts["audio"]:
                audio = stimuli_audio_export(experiment, out_dir)
                self.stdout.write(f"  {len(audio)} audio files under {out_dir / AUDIO_FOLDER}")
        except OSError as exc:
            raise CommandError(f"Can't write the export to {out_dir}: {exc}") from exc
        for path in written:
            self.stdout.write(f"  wrote {path}")
