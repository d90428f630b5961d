"""`publish --platform link` prints URLs that take the test, with no platform at all."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from crowdtest.corpus.models import Experiment
from crowdtest.rating.models import DirectLink
from crowdtest.rating.publishers import PUBLISHERS
from tests.crowdtest.rating.designs import make_design
from tests.factories import ExperimentFactory

pytestmark = pytest.mark.django_db


def publish(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("publish", *args, stdout=out)
    return re.findall(r"http\S+", out.getvalue())


def test_the_open_link_is_printed_and_stays_the_same(client: Client) -> None:
    experiment = make_design().experiment
    [url] = publish(experiment.slug, "--platform", "link")
    assert publish(experiment.slug) == [url]  # the experiment's platform setting: link
    assert url.startswith(f"http://127.0.0.1:8000/take/{experiment.slug}/?t=")
    page = client.get(url.removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 302  # the visitor gets an identity of their own
    assert b"data-token" in client.get(page["Location"]).content
    assert DirectLink.objects.filter(experiment=experiment, participant="").count() == 1


def test_participant_links_are_one_per_person(client: Client) -> None:
    experiment = make_design().experiment
    urls = publish(experiment.slug, "--platform", "link", "--participants", "3")
    assert len(set(urls)) == 3
    for url in urls:
        response = client.get(url.removeprefix("http://127.0.0.1:8000"))
        assert response.status_code == 200 and b"data-token" in response.content
    assert DirectLink.objects.filter(experiment=experiment).exclude(participant="").count() == 3


def test_publishing_needs_sessions_and_a_known_platform() -> None:
    experiment: Experiment = ExperimentFactory()
    with pytest.raises(CommandError, match="Build the sessions first"):
        publish(experiment.slug, "--platform", "link")
    experiment.settings = {**experiment.settings, "platform": "prolific"}
    experiment.save()
    if "prolific" not in PUBLISHERS:
        with pytest.raises(CommandError, match="No publisher for the platform 'prolific'"):
            publish(experiment.slug)


def test_an_option_of_another_platform_is_refused_not_ignored() -> None:
    experiment = make_design().experiment
    with pytest.raises(CommandError, match=r"--dry-run, --sandbox do\(es\) not apply to"):
        publish(experiment.slug, "--platform", "link", "--sandbox", "--dry-run")
    assert not DirectLink.objects.filter(experiment=experiment).exists()  # nothing published


def test_the_open_link_remembers_a_browser_so_the_cap_holds(client: Client) -> None:
    experiment = make_design().experiment
    [url] = publish(experiment.slug, "--platform", "link")
    path = url.removeprefix("http://127.0.0.1:8000")
    first = client.get(path)["Location"]
    assert client.get(path)["Location"] == first  # the same browser: the same rater
    assert Client().get(path)["Location"] != first  # another browser: a new rater


def test_one_off_links_allow_one_session_each() -> None:
    from crowdtest.rating.assigning import rater_may_start
    from crowdtest.rating.errors import RatingError
    from crowdtest.rating.models import Rater
    from tests.factories import AssignmentFactory

    experiment = make_design().experiment
    urls = publish(
        experiment.slug, "--platform", "link", "--participants", "2", "--max-sessions", "1"
    )
    assert len(urls) == 2
    links = list(DirectLink.objects.filter(experiment=experiment).exclude(participant=""))
    assert {link.max_sessions for link in links} == {1}
    rater = Rater.objects.create(
        experiment=experiment, platform="link", external_id=links[0].participant
    )
    rater_may_start(rater=rater, experiment=experiment)  # nothing done yet
    AssignmentFactory(rater=rater, session=experiment.sessions.filter(kind="rating").first())
    with pytest.raises(RatingError, match=r"the most sessions allowed \(1\)"):
        rater_may_start(rater=rater, experiment=experiment)
    with pytest.raises(CommandError, match="A session limit is for participant links"):
        publish(experiment.slug, "--platform", "link", "--max-sessions", "1")
    with pytest.raises(CommandError, match=r"from 1 to the experiment's cap \(20\)"):
        publish(
            experiment.slug, "--platform", "link", "--participants", "1", "--max-sessions", "50"
        )
