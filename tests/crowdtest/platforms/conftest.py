from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from pytest_django import Settings

from crowdtest.platforms import mturk, prolific, retry
from crowdtest.platforms.retry import Backoff

from .fakes import TOKEN, ProlificAPI


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """Backoff waits are recorded, not slept."""
    recorded = Sleeps()
    monkeypatch.setattr(retry, "DEFAULT_BACKOFF", Backoff(sleep=recorded))
    return recorded


@pytest.fixture
def https(settings: Settings) -> str:
    settings.PUBLIC_BASE_URL = "https://listen.example.org"
    return str(settings.PUBLIC_BASE_URL)


@pytest.fixture
def mturk_client() -> Any:
    return boto3.client(
        "mturk",
        region_name="us-east-1",
        endpoint_url=mturk.ENDPOINTS[True],
        aws_access_key_id="AKIATESTTESTTEST",
        aws_secret_access_key="not-a-secret",
    )


@pytest.fixture
def stub(mturk_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """Every MTurk call of the code under test goes to this Stubber."""
    monkeypatch.setattr(mturk, "make_client", lambda *, sandbox: mturk_client)
    with Stubber(mturk_client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def prolific_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProlificAPI]:
    """Prolific's API behind the real session factory (token from the environment)."""
    api = ProlificAPI()
    monkeypatch.setenv("PROLIFIC_TOKEN", TOKEN)
    monkeypatch.setenv("PROLIFIC_WORKSPACE_ID", "ws-1")
    real = prolific.make_session

    def session() -> Any:
        made = real()
        made.mount("https://", api)
        return made

    monkeypatch.setattr(prolific, "make_session", session)
    yield api
    api.assert_done()
