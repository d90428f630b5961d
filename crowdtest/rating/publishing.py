"""Publishing a test on a crowd platform, one small adapter per platform.

`python manage.py publish <slug> --platform NAME` looks the adapter up here. The direct
link adapter lives in this app; a platform app adds its own from its `AppConfig.ready()`:

    from crowdtest.rating.publishing import register_publisher
    register_publisher(MTurkPublisher())
"""

from __future__ import annotations

from argparse import _ArgumentGroup
from collections.abc import Mapping
from typing import Any, Protocol

from crowdtest.corpus.models import Experiment


class Output(Protocol):
    def write(self, msg: str) -> Any: ...


class PublishError(Exception):
    """Publishing can't be done as asked; the message says why."""


class Publisher(Protocol):
    name: str  # the --platform value
    help: str

    def add_arguments(self, group: _ArgumentGroup) -> None:
        """Options of this platform (prefix them when they could clash)."""

    def publish(self, *, experiment: Experiment, options: Mapping[str, Any], out: Output) -> None:
        """Publish, and print what the experimenter needs (URLs, ids, costs)."""


PUBLISHERS: dict[str, Publisher] = {}


def register_publisher(publisher: Publisher) -> None:
    PUBLISHERS[publisher.name] = publisher


class LinkPublisher:
    name = "link"
    help = "direct links: one open link, or --participants N links of their own"

    def add_arguments(self, group: _ArgumentGroup) -> None:
        group.add_argument(
            "--participants",
            type=int,
            default=None,
            metavar="N",
            help="make N per-participant links instead of the open link",
        )

    def publish(self, *, experiment: Experiment, options: Mapping[str, Any], out: Output) -> None:
        from .errors import RatingError
        from .links import link_url, links_create

        try:
            links = links_create(experiment=experiment, participants=options.get("participants"))
        except RatingError as exc:
            raise PublishError(exc.message) from exc
        if options.get("participants") is None:
            out.write("Open link (every visitor becomes a new rater):\n")
        else:
            out.write(f"{len(links)} participant links (one per person):\n")
        for link in links:
            out.write(f"{link_url(link)}\n")
