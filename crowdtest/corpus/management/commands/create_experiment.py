from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crowdtest.corpus.services import CorpusError, experiment_create


class Command(BaseCommand):
    help = "Create an experiment with the paper's default settings (override with --set)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a setting, VALUE parsed as JSON when it can be (e.g. --set n_clusters=4)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        settings: dict[str, Any] = {}
        for item in opts["set"]:
            key, sep, raw = item.partition("=")
            if not sep:
                raise CommandError(f"--set needs KEY=VALUE, got '{item}'")
            try:
                settings[key.strip()] = json.loads(raw)
            except json.JSONDecodeError:
                settings[key.strip()] = raw
        try:
            experiment = experiment_create(
                slug=opts["slug"],
                name=opts["name"],
                description=opts["description"],
                settings=settings,
            )
        except CorpusError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Created experiment '{experiment.slug}'."))
