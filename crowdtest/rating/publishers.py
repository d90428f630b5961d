"""Publishing a test on a crowd platform, one small adapter per platform.

`python manage.py publish <slug> --platform NAME` looks the adapter up here; the platforms
app registers its adapters (direct links, MTurk, Prolific) from its `AppConfig.ready()`:

    from crowdtest.rating.publishers import register_publisher
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
        """Options of this platform (prefix them when they could clash). An option added
        once for several platforms is named in the adapter's `shared_options`; an option
        of another platform is refused by `publish`."""

    def publish(self, *, experiment: Experiment, options: Mapping[str, Any], out: Output) -> None:
        """Publish, and print what the experimenter needs (URLs, ids, costs)."""


PUBLISHERS: dict[str, Publisher] = {}


def register_publisher(publisher: Publisher) -> None:
    PUBLISHERS[publisher.name] = publisher
