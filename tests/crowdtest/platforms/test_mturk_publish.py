"""`publish --platform mturk`: the cost first, then the HIT type and HITs with the exact
parameters, the cap qualification made once, ids and URLs printed; and the refusals."""

from __future__ import annotations

import io

import pytest
from botocore.stub import ANY, Stubber
from django.core.management import CommandError, call_command
from pytest_django import Settings

from crowdtest.corpus.models import Experiment
from crowdtest.platforms.models import Batch, CapList, Publication
from tests.crowdtest.rating.designs import make_design

pytestmark = pytest.mark.django_db


def publish(*args: str) -> str:
    out = io.StringIO()
    call_command("publish", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def experiment() -> Experiment:
    return make_design().experiment  # 6 open rating sessions of 6 stimuli and a trap


def test_a_dry_run_prints_the_cost_and_calls_nothing(experiment: Experiment, https: str) -> None:
    out = publish(experiment.slug, "--platform", "mturk", "--dry-run", "--sessions", "10")
    assert "Rewards: 10 x $0.50 = $5.00" in out
    assert "MTurk fee 20% (1 HIT(s) of 9 assignments): 9 x $0.10 = $0.90" in out
    assert "MTurk fee 20% (1 HIT(s) of 1 assignments): 1 x $0.10 = $0.10" in out
    assert "40% on HITs with 10 or more assignments" in out
    assert "closes permanently on 30 September 2026" in out
    assert "Dry run: nothing was published." in out
    assert not Publication.objects.exists()


def test_ten_assignments_a_hit_show_the_40_percent_fee(experiment: Experiment, https: str) -> None:
    out = publish(
        experiment.slug,
        "--platform",
        "mturk",
        "--dry-run",
        "--sessions",
        "10",
        "--assignments-per-hit",
        "10",
    )
    assert "MTurk fee 40% (1 HIT(s) of 10 assignments): 10 x $0.20 = $2.00" in out


def test_publish_on_the_sandbox(experiment: Experiment, https: str, stub: Stubber) -> None:
    stub.add_response(
        "create_qualification_type",
        {"QualificationType": {"QualificationTypeId": "3CAPQUAL", "Name": "cap"}},
        {
            "Name": f"crowdtest {experiment.slug}: 20 sessions taken (sandbox)",
            "Keywords": "crowdtest, session cap",
            "Description": (
                f"Workers who took the most sessions (20) of the listening test "
                f"'{experiment.name}' allowed to one person."
            ),
            "QualificationTypeStatus": "Active",
            "AutoGranted": False,
        },
    )
    stub.add_response(
        "create_hit_type",
        {"HITTypeId": "3TYPE"},
        {
            "AutoApprovalDelayInSeconds": 259200,
            "AssignmentDurationInSeconds": 5400,
            "Reward": "0.50",
            "Title": "Rate the audio quality of music recordings (headphones needed)",
            "Keywords": "audio, music, listening, quality, rating, headphones",
            "Description": (
                "Listen to 6 short music excerpts with headphones and rate the audio quality "
                "of each, from bad to excellent. About 5 minutes."
            ),
            "QualificationRequirements": [
                {
                    "QualificationTypeId": "00000000000000000071",
                    "Comparator": "In",
                    "LocaleValues": [{"Country": "US"}, {"Country": "GB"}],
                    "ActionsGuarded": "Accept",
                },
                {
                    "QualificationTypeId": "000000000000000000L0",
                    "Comparator": "GreaterThanOrEqualTo",
                    "IntegerValues": [95],
                    "ActionsGuarded": "Accept",
                },
                {
                    "QualificationTypeId": "00000000000000000040",
                    "Comparator": "GreaterThanOrEqualTo",
                    "IntegerValues": [100],
                    "ActionsGuarded": "Accept",
                },
                {
                    "QualificationTypeId": "3CAPQUAL",
                    "Comparator": "DoesNotExist",
                    "ActionsGuarded": "DiscoverPreviewAndAccept",
                },
            ],
        },
    )
    question = (
        '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/'
        'AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd">'
        f"<ExternalURL>https://listen.example.org/take/{experiment.slug}/</ExternalURL>"
        "<FrameHeight>0</FrameHeight></ExternalQuestion>"
    )
    for hit_id, size in (("3HITA", 4), ("3HITB", 2)):
        stub.add_response(
            "create_hit_with_hit_type",
            {"HIT": {"HITId": hit_id, "HITGroupId": "3GROUP", "MaxAssignments": size}},
            {
                "HITTypeId": "3TYPE",
                "MaxAssignments": size,
                "LifetimeInSeconds": 3 * 24 * 3600,
                "Question": question,
                "RequesterAnnotation": ANY,
                "UniqueRequestToken": ANY,
            },
        )
    out = publish(
        experiment.slug,
        "--platform",
        "mturk",
        "--sandbox",
        "--assignments-per-hit",
        "4",
        "--locales",
        "us,gb",
        "--min-approval-rate",
        "95",
        "--min-approved-hits",
        "100",
        "--lifetime-days",
        "3",
    )
    publication = Publication.objects.get()
    assert (publication.status, publication.type_id, publication.sandbox) == (
        "published",
        "3TYPE",
        True,
    )
    assert publication.sessions == 6 and publication.estimate["total"] == "3.60"
    assert "Rewards: 6 x $0.50 = $3.00" in out
    assert f"Published publication {publication.pk} on mturk sandbox." in out
    assert "3HITA (4 places): https://workersandbox.mturk.com/mturk/preview?groupId=3GROUP" in out
    assert list(Batch.objects.values_list("external_id", flat=True)) == ["3HITA", "3HITB"]
    assert CapList.objects.get().external_id == "3CAPQUAL"


def test_a_hit_that_fails_leaves_the_others_recorded(
    experiment: Experiment, https: str, stub: Stubber
) -> None:
    CapList.objects.create(experiment=experiment, platform="mturk", sandbox=True, external_id="3Q")
    stub.add_response("create_hit_type", {"HITTypeId": "3TYPE"}, None)
    stub.add_response("create_hit_with_hit_type", {"HIT": {"HITId": "3HITA", "HITGroupId": "G"}})
    stub.add_client_error("create_hit_with_hit_type", "RequestError", "Insufficient funds", 400)
    with pytest.raises(CommandError, match=r"Insufficient funds.*1 batch"):
        publish(experiment.slug, "--platform", "mturk", "--sandbox", "--assignments-per-hit", "3")
    publication = Publication.objects.get()
    assert publication.status == "failed" and "Insufficient funds" in publication.error
    assert list(publication.batches.values_list("external_id", flat=True)) == ["3HITA"]


def test_publishing_needs_https(experiment: Experiment, settings: Settings) -> None:
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    with pytest.raises(CommandError, match="HTTPS address"):
        publish(experiment.slug, "--platform", "mturk", "--sandbox")


def test_publishing_needs_a_well_formed_reward(experiment: Experiment, https: str) -> None:
    experiment.settings = {**experiment.settings, "reward_usd": "0.5"}
    experiment.save()
    with pytest.raises(CommandError, match="reward must be a positive dollar amount"):
        publish(experiment.slug, "--platform", "mturk", "--sandbox")


def test_publishing_needs_credentials(
    experiment: Experiment, https: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CommandError, match="No AWS credentials"):
        publish(experiment.slug, "--platform", "mturk", "--sandbox")
