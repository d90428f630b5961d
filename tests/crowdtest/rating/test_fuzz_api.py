"""schemathesis against the live rater API (a real server thread on the test database),
with a rater's token at each stage of a session: valid and invalid requests generated
from the OpenAPI document must get no server error, a status code and content type the
document lists, a body that fits its schema, and invalid ones must be refused."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_django.live_server_helper import LiveServer
from schemathesis import GenerationMode
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi import checks

from crowdtest.corpus.models import Experiment
from crowdtest.rating.api import api

from .designs import RaterClient, assignment_of, digits_of, make_design, take_session

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

T = TypeVar("T")


def ok(result: Ok[T] | Err[InvalidSchema]) -> T:
    """What the schema gave, or the schema's error raised."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


DOCUMENT = json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/")))
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
# Every operation gets its own cases, valid and invalid, so each is reached whatever
# the number of operations.
OPERATIONS = {
    operation.label: st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    for operation in (ok(result) for result in SCHEMA.get_all_operations())
}
CHECKS = [
    schemathesis.checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]
EXAMPLES = 8  # per operation and stage


def rater_at(client: Client, experiment: Experiment, stage: str) -> RaterClient:
    """A rater whose session has reached `stage`."""
    rc = RaterClient(client, experiment, f"fuzz-{stage}")
    state = rc.state()
    if stage == "consent":
        return rc
    state = rc.post("consent").json()
    if stage == "setup":
        return rc
    digits = digits_of(rc)
    state = rc.post("setup", {"clip": state["setup"]["clip"], "digits": digits}).json()
    if stage == "questions":
        return rc
    body = {"math": assignment_of(rc).math_answer, "hearing_normal": True, "headphones": True}
    state = rc.post("questions", body).json()
    if stage == "training":
        return rc
    if stage == "finished":
        take_session(rc)
        return rc
    clips = state["clips"]
    for clip in clips:  # training done
        rc.post("play", {"clip": clip["clip"]})
        rc.post("rate", {"clip": clip["clip"], "score": 3})
    assert rc.state()["stage"] == stage
    return rc


@pytest.mark.parametrize(
    "stage", ["consent", "setup", "questions", "training", "rating", "finished"]
)
def test_the_live_api_keeps_its_contract_under_fuzzing(
    client: Client, live_server: LiveServer, stage: str
) -> None:
    built = make_design(votes=4)
    rc = rater_at(client, built.experiment, stage)
    http = requests.Session()
    headers = {"X-Rater-Token": rc.token}
    reached: set[tuple[str, str]] = set()
    http.hooks["response"].append(
        lambda r, *_, **__: reached.add((r.request.method, urlsplit(r.request.url).path))
    )

    for cases in OPERATIONS.values():

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        @given(case=cases)
        def fuzz(case: Any) -> None:
            case.call_and_validate(
                base_url=live_server.url, session=http, headers=headers, checks=CHECKS
            )

        fuzz()
    never = [
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
        and not any(
            sent == method.upper() and re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", path), where)
            for sent, where in reached
        )
    ]
    assert not never, f"never called: {never}"
