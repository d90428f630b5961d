from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.platforms.services import PlatformError, amt_results_import


def _math_key(text: str) -> tuple[str, int]:
    name, _, answer = text.partition("=")
    if not name or not answer.strip().lstrip("-").isdigit():
        raise ValueError(text)
    return name.strip().lower(), int(answer)


class Command(ExperimentCommand):
    help = (
        "Import a historical AMT batch-results CSV (the requester site's Download CSV) into "
        "the experiment's votes; see docs/platforms.md for the columns. Importing again "
        "adds nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("csv_file", type=Path)
        parser.add_argument(
            "--math-key",
            type=_math_key,
            action="append",
            default=[],
            metavar="CLIP=ANSWER",
            help="the answer of a math clip (e.g. math1.wav=3), when the CSV has no math_ans",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        path: Path = opts["csv_file"]
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Can't read {path}: {exc}") from exc
        try:
            report = amt_results_import(
                experiment=experiment, text=text, source=path.name, math_key=dict(opts["math_key"])
            )
        except PlatformError as exc:
            raise CommandError(exc.message) from exc
        for line, message in report.errors:
            self.stderr.write(f"line {line}: {message}")
        self.stdout.write(report.summary())
