from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.rating.publishers import PUBLISHERS, PublishError


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
        # Which platforms each option belongs to, so an option of another platform is
        # refused rather than silently ignored.
        self.owners: dict[str, tuple[set[str], Any, str]] = {}
        for publisher in PUBLISHERS.values():
            group = parser.add_argument_group(f"--platform {publisher.name}")
            publisher.add_arguments(group)
            for action in group._group_actions:
                owners, _, _flag = self.owners.setdefault(
                    action.dest, (set(), action.default, action.option_strings[0])
                )
                owners.add(publisher.name)
        for publisher in PUBLISHERS.values():  # options several platforms share
            for dest in getattr(publisher, "shared_options", ()):
                self.owners[dest][0].add(publisher.name)

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        name = opts["platform"] or experiment.config.platform
        publisher = PUBLISHERS.get(name)
        if publisher is None:
            known = ", ".join(sorted(PUBLISHERS))
            raise CommandError(f"No publisher for the platform '{name}' (available: {known}).")
        foreign = [
            flag
            for dest, (owners, default, flag) in getattr(self, "owners", {}).items()
            if name not in owners and opts.get(dest, default) != default
        ]
        if foreign:
            raise CommandError(
                f"{', '.join(sorted(foreign))} do(es) not apply to --platform {name}; "
                "see publish --help for the options of each platform."
            )
        try:
            publisher.publish(experiment=experiment, options=opts, out=self.stdout)
        except PublishError as exc:
            raise CommandError(str(exc)) from exc
