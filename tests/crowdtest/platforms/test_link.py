"""Direct links behind the same interface: `publish --platform link` records a
publication, costs nothing through crowdtest, and is left out of sync and payments."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from crowdtest.platforms.models import Publication
from crowdtest.platforms.selectors import estimate_for, payment_plan
from crowdtest.platforms.services import PlatformError, platform_sync, raters_message
from tests.crowdtest.rating.designs import make_design

pytestmark = pytest.mark.django_db


def test_links_are_a_publication_with_no_platform_to_pay() -> None:
    experiment = make_design().experiment
    out = io.StringIO()
    call_command(
        "publish", experiment.slug, "--platform", "link", "--participants", "2", stdout=out
    )
    publication = Publication.objects.get()
    assert (publication.platform, publication.sessions) == ("link", 2)
    urls = [b.url for b in publication.batches.all()]
    assert all(url in out.getvalue() for url in urls) and len(set(urls)) == 2
    assert estimate_for(experiment=experiment, platform="link").total == 0
    assert platform_sync(experiment=experiment).submissions == 0
    assert payment_plan(experiment=experiment).items == []
    with pytest.raises(PlatformError, match="Direct links have no platform"):
        raters_message(experiment=experiment, platform="link", subject="s", text="t")
