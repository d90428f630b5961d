"""The MTurk gateway against a real boto3 client under botocore's Stubber: the exact
parameters of every call, and what we check that the service model does not."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from crowdtest.platforms.base import PublishSpec, Requirements
from crowdtest.platforms.errors import PlatformError
from crowdtest.platforms.mturk import MTurk, external_question, qualification_requirements

from .helpers import mturk_row

URL = "https://listen.example.org/take/vinyl/"
QUESTION = (
    '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2006-07-14/ExternalQuestion.xsd"><ExternalURL>https://listen.example.org/take/vinyl/'
    "</ExternalURL><FrameHeight>0</FrameHeight></ExternalQuestion>"
)
REQUIREMENTS = [
    {
        "QualificationTypeId": "00000000000000000071",
        "Comparator": "In",
        "LocaleValues": [{"Country": "US"}, {"Country": "GB"}],
        "ActionsGuarded": "Accept",
    },
    {
        "QualificationTypeId": "000000000000000000L0",
        "Comparator": "GreaterThanOrEqualTo",
        "IntegerValues": [98],
        "ActionsGuarded": "Accept",
    },
    {
        "QualificationTypeId": "00000000000000000040",
        "Comparator": "GreaterThanOrEqualTo",
        "IntegerValues": [500],
        "ActionsGuarded": "Accept",
    },
    {
        "QualificationTypeId": "3CAPQUAL",
        "Comparator": "DoesNotExist",
        "ActionsGuarded": "DiscoverPreviewAndAccept",
    },
]


def spec(**changes: Any) -> PublishSpec:
    values: dict[str, Any] = {
        "title": "Rate music",
        "description": "Listen and rate.",
        "keywords": "audio, music",
        "url": URL,
        "reward": "0.50",
        "places": 11,
        "duration_s": 5400,
        "minutes": 11,
        "annotation": "crowdtest:vinyl:1",
        "token": "ct1-abc",
        "requirements": Requirements(locales=("US", "GB")),
        "cap_list_id": "3CAPQUAL",
    }
    return PublishSpec(**{**values, **changes})


def hit(hit_id: str, size: int) -> dict[str, Any]:
    return {
        "HIT": {
            "HITId": hit_id,
            "HITTypeId": "3TYPE",
            "HITGroupId": "3GROUP",
            "MaxAssignments": size,
        }
    }


def test_publish_makes_a_hit_type_then_hits_of_at_most_9(mturk_client: Any, stub: Stubber) -> None:
    stub.add_response(
        "create_hit_type",
        {"HITTypeId": "3TYPE"},
        {
            "AutoApprovalDelayInSeconds": 259200,
            "AssignmentDurationInSeconds": 5400,
            "Reward": "0.50",
            "Title": "Rate music",
            "Keywords": "audio, music",
            "Description": "Listen and rate.",
            "QualificationRequirements": REQUIREMENTS,
        },
    )
    for index, (hit_id, size) in enumerate((("3HITA", 9), ("3HITB", 2))):
        stub.add_response(
            "create_hit_with_hit_type",
            hit(hit_id, size),
            {
                "HITTypeId": "3TYPE",
                "MaxAssignments": size,
                "LifetimeInSeconds": 604800,
                "Question": QUESTION,
                "RequesterAnnotation": "crowdtest:vinyl:1",
                "UniqueRequestToken": f"ct1-abc-{index}",
            },
        )
    seen: list[Any] = []
    published = MTurk(mturk_client, sandbox=True).publish(spec(), on_batch=seen.append)
    assert published.type_id == "3TYPE"
    assert [(b.external_id, b.places) for b in published.batches] == [("3HITA", 9), ("3HITB", 2)]
    assert seen == published.batches
    assert published.batches[0].url == (
        "https://workersandbox.mturk.com/mturk/preview?groupId=3GROUP"
    )


@pytest.mark.parametrize("reward", ["0.5", "0", "1.", ""])
def test_a_reward_the_service_model_would_accept_is_refused_before_any_call(
    mturk_client: Any, stub: Stubber, reward: str
) -> None:
    with pytest.raises(PlatformError, match="two decimals"):
        MTurk(mturk_client, sandbox=True).publish(spec(reward=reward))


def test_the_external_question_needs_https() -> None:
    assert external_question(URL) == QUESTION
    with pytest.raises(PlatformError, match="HTTPS"):
        external_question("http://listen.example.org/take/vinyl/")
    assert "&amp;" in external_question(URL + "?a=1&b=2")


def test_no_cap_list_no_cap_requirement() -> None:
    rows = qualification_requirements(Requirements(locales=()), "")
    assert [r["QualificationTypeId"] for r in rows] == [
        "000000000000000000L0",
        "00000000000000000040",
    ]


def test_assignments_are_listed_page_by_page(mturk_client: Any, stub: Stubber) -> None:
    stub.add_response(
        "list_assignments_for_hit",
        {
            "NextToken": "page-2",
            "NumResults": 2,
            "Assignments": [
                mturk_row("3A1", "AW1", "3HIT"),
                mturk_row("3A2", "AW2", "3HIT", "Approved"),
            ],
        },
        {"HITId": "3HIT", "MaxResults": 100},
    )
    stub.add_response(
        "list_assignments_for_hit",
        {"NumResults": 1, "Assignments": [mturk_row("3A3", "AW3", "3HIT", "Rejected")]},
        {"HITId": "3HIT", "MaxResults": 100, "NextToken": "page-2"},
    )
    rows = list(MTurk(mturk_client, sandbox=True).submissions(batch_id="3HIT"))
    assert [(r.external_id, r.worker_id, r.status) for r in rows] == [
        ("3A1", "AW1", "Submitted"),
        ("3A2", "AW2", "Approved"),
        ("3A3", "AW3", "Rejected"),
    ]


@pytest.mark.parametrize("max_results", [0, 101, 1000])
def test_max_results_over_100_is_refused_before_any_call(
    mturk_client: Any, stub: Stubber, max_results: int
) -> None:
    with pytest.raises(PlatformError, match="MaxResults must be from 1 to 100"):
        MTurk(mturk_client, sandbox=True).assignments_page(hit_id="3HIT", max_results=max_results)


def test_throttling_is_retried_with_backoff_then_succeeds(
    mturk_client: Any, stub: Stubber, sleeps: list[float]
) -> None:
    stub.add_client_error("approve_assignment", "ThrottlingException", "Rate exceeded", 400)
    stub.add_client_error("approve_assignment", "ServiceUnavailable", "Try later", 503)
    stub.add_response(
        "approve_assignment", {}, {"AssignmentId": "3A1", "RequesterFeedback": "Thanks"}
    )
    MTurk(mturk_client, sandbox=True).approve(submission_id="3A1", feedback="Thanks")
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] / 2  # exponential, with jitter


def test_retries_are_bounded(mturk_client: Any, stub: Stubber, sleeps: list[float]) -> None:
    for _ in range(5):
        stub.add_client_error("get_assignment", "ServiceFault", "Internal", 500)
    with pytest.raises(PlatformError) as caught:
        MTurk(mturk_client, sandbox=True).decision(submission_id="3A1")
    assert caught.value.outcome_unknown and len(sleeps) == 4


def test_a_refusal_is_not_retried(mturk_client: Any, stub: Stubber, sleeps: list[float]) -> None:
    stub.add_client_error(
        "reject_assignment",
        "RequestError",
        "This operation can be called with a status of: Submitted",
        400,
    )
    with pytest.raises(PlatformError, match="status of: Submitted") as caught:
        MTurk(mturk_client, sandbox=True).reject(submission_id="3A1", feedback="Wrong math")
    assert not caught.value.outcome_unknown and sleeps == []


def test_a_rejection_needs_feedback(mturk_client: Any, stub: Stubber) -> None:
    with pytest.raises(PlatformError, match="feedback"):
        MTurk(mturk_client, sandbox=True).reject(submission_id="3A1", feedback="  ")


def test_messages_go_100_workers_a_call(mturk_client: Any, stub: Stubber) -> None:
    workers = [f"AW{i:03d}" for i in range(150)]
    stub.add_response(
        "notify_workers",
        {"NotifyWorkersFailureStatuses": []},
        {"Subject": "New sessions", "MessageText": "More to rate.", "WorkerIds": workers[:100]},
    )
    stub.add_response(
        "notify_workers",
        {
            "NotifyWorkersFailureStatuses": [
                {
                    "NotifyWorkersFailureCode": "HardFailure",
                    "NotifyWorkersFailureMessage": "gone",
                    "WorkerId": "AW149",
                }
            ]
        },
        {"Subject": "New sessions", "MessageText": "More to rate.", "WorkerIds": workers[100:]},
    )
    gateway = MTurk(mturk_client, sandbox=True)
    assert gateway.message(worker_ids=workers, subject="New sessions", text="More to rate.") == [
        "AW149"
    ]
    with pytest.raises(PlatformError, match="1 to 100 worker ids"):
        gateway.notify(worker_ids=workers[:101], subject="s", text="t")


def test_a_bonus_amount_is_checked_and_sent_with_its_token(
    mturk_client: Any, stub: Stubber
) -> None:
    gateway = MTurk(mturk_client, sandbox=True)
    with pytest.raises(PlatformError, match="two decimals"):
        gateway.bonus_pay(
            ref="t", worker_id="AW1", submission_id="3A1", amount="0.1", reason="r", token="t"
        )
    stub.add_response(
        "send_bonus",
        {},
        {
            "WorkerId": "AW1",
            "BonusAmount": "0.10",
            "AssignmentId": "3A1",
            "Reason": "Thanks",
            "UniqueRequestToken": "ctb-1",
        },
    )
    gateway.bonus_pay(
        ref="ctb-1",
        worker_id="AW1",
        submission_id="3A1",
        amount="0.10",
        reason="Thanks",
        token="ctb-1",
    )
