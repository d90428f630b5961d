from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.design.gold import GoldError, gold_clear, gold_mark, gold_rows_read


class Command(ExperimentCommand):
    help = (
        "Mark gold stimuli (known quality, P.808 toolkit) from a CSV with a 'file' (or "
        "'track_id') and a 'score' column (1..5 or bad..excellent). Gold stimuli must be "
        "prepared and not among the stimuli to rate; the marks are used from the next "
        "build_sessions on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("csv", nargs="?", type=Path, help="the gold CSV")
        parser.add_argument(
            "--replace", action="store_true", help="clear the marks of stimuli not in the file"
        )
        parser.add_argument("--clear", action="store_true", help="remove every gold mark")

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        if opts["clear"]:
            if opts["csv"] is not None:
                raise CommandError("--clear takes no file.")
            self.stdout.write(f"{gold_clear(experiment=experiment)} gold marks cleared.")
            return
        if opts["csv"] is None:
            raise CommandError("Give a gold CSV, or --clear.")
        try:
            rows = gold_rows_read(opts["csv"])
        except GoldError as exc:
            raise CommandError(str(exc)) from exc
        report = gold_mark(experiment=experiment, rows=rows, replace=opts["replace"])
        for line, message in report.errors:
            self.stderr.write(self.style.ERROR(f"  line {line}: {message}"))
        if opts["replace"] and report.errors:
            raise CommandError("--replace needs every row to be usable; nothing was changed.")
        style = self.style.WARNING if report.errors else self.style.SUCCESS
        self.stdout.write(style(report.summary() + ". Rebuild the sessions to use them."))
        if report.errors and not report.marked and not report.unchanged:
            raise CommandError("No row could be used.")
