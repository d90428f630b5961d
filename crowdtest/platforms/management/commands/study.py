from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.platforms.models import Publication
from crowdtest.platforms.services import PlatformError
from crowdtest.platforms.services.control import (
    ACTIONS,
    publication_control,
    publication_control_plan,
)


class Command(ExperimentCommand):
    help = (
        "Study control after publishing: add sessions to a publication, pause, resume or "
        "close it on its platform. Says what it would do (and cost) unless --execute."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("publication", type=int, help="the publication's number")
        parser.add_argument("action", choices=sorted(ACTIONS))
        parser.add_argument("--sessions", type=int, help="sessions to add (with 'add')")
        parser.add_argument("--execute", action="store_true", help="do it")

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        publication = Publication.objects.filter(experiment=experiment, pk=opts["publication"])
        if not (found := publication.first()):
            raise CommandError(f"{experiment.slug} has no publication {opts['publication']}.")
        try:
            plan = publication_control_plan(
                publication=found, action=opts["action"], sessions=opts["sessions"]
            )
            where = f"{found.platform}{' sandbox' if found.sandbox else ''}"
            what = f"{opts['action']} publication {found.pk} on {where}"
            if plan.estimate is not None:
                what += f": {plan.sessions} sessions for at most ${plan.estimate.total}"
            for warning in plan.warnings:
                self.stderr.write(f"Warning: {warning}")
            if not opts["execute"]:
                self.stdout.write(f"Dry run: would {what} (add --execute).")
                return
            publication_control(
                publication=found,
                action=opts["action"],
                sessions=opts["sessions"],
                fingerprint=plan.fingerprint,
            )
        except PlatformError as exc:
            raise CommandError(exc.message) from exc
        found.refresh_from_db()
        self.stdout.write(f"Done: {what}. It is {found.status}, offering {found.sessions}.")
