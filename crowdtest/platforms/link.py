"""Direct links (own panels, lab tests) behind the platform interface: the open link, or
one link per participant. The links themselves are the rating app's (`rating.links`);
the session cap is enforced there when a participant starts (`rater_may_start`), and
nobody is paid through crowdtest."""

from __future__ import annotations

from crowdtest.corpus.models import Experiment
from crowdtest.rating.errors import RatingError
from crowdtest.rating.links import link_url, links_create

from .base import Published, RemoteBatch
from .errors import PlatformError

NO_PLATFORM = (
    "Direct links have no platform to pay or message raters through: reach your "
    "participants yourself."
)


class Links:
    name = "link"
    sandbox = False

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment

    def publish_links(
        self, *, participants: int | None, max_sessions: int | None = None
    ) -> Published:
        """The open link (the same one every time), or that many new participant links."""
        try:
            links = links_create(
                experiment=self.experiment, participants=participants, max_sessions=max_sessions
            )
        except RatingError as exc:
            raise PlatformError(exc.message, code=exc.code) from exc
        return Published(
            type_id="",
            batches=[
                RemoteBatch(external_id=link.participant or "open", places=1, url=link_url(link))
                for link in links
            ],
        )
