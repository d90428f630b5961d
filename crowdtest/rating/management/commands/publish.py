from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.rating.publishing import PUBLISHERS, PublishError


class Command(ExperimentCommand):
    help = (
        "Publish the test: --platform link prints a URL to take it (the default platform is "
        "the experiment's `platform` setting)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--platform",
            choices=sorted(PUBLISHERS),
            default=None,
            help="; ".join(f"{p.name}: {p.help}" for p in PUBLISHERS.values()),
        )
        for publisher in PUBLISHERS.values():
            publisher.add_arguments(parser.add_argument_group(f"--platform {publisher.name}"))

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        name = opts["platform"] or experiment.config.platform
        publisher = PUBLISHERS.get(name)
        if publisher is None:
            known = ", ".join(sorted(PUBLISHERS))
            raise CommandError(f"No publisher for the platform '{name}' (available: {known}).")
        try:
            publisher.publish(experiment=experiment, options=opts, out=self.stdout)
        except PublishError as exc:
            raise CommandError(str(exc)) from exc
