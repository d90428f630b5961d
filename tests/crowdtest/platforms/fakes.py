"""The outside world at its boundary: a real boto3 `mturk` client under botocore's
Stubber, and Prolific's HTTP API as a `requests` transport adapter that checks every
request (method, URL, headers, JSON body) and answers with Prolific's JSON shapes."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import BaseAdapter

API = "https://api.prolific.com/api/v1/"
TOKEN = "test-prolific-token"
ANY_BODY = object()  # a JSON body the test checks afterwards (it holds a generated value)


@dataclass
class Exchange:
    method: str
    url: str
    body: Any = None  # the JSON body expected; None: no body
    status: int = 200
    answer: Any = field(default_factory=dict)


class ProlificAPI(BaseAdapter):
    """Answers the expected exchanges in order; anything else fails the test."""

    def __init__(self) -> None:
        super().__init__()
        self.expected: deque[Exchange] = deque()
        self.seen: list[requests.PreparedRequest] = []

    def expect(self, method: str, path: str, body: Any = None, **answer: Any) -> None:
        url = path if path.startswith("https://") else API + path
        self.expected.append(Exchange(method, url, body, **answer))

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        self.seen.append(request)
        assert self.expected, f"unexpected request {request.method} {request.url}"
        exchange = self.expected.popleft()
        assert (request.method, request.url) == (exchange.method, exchange.url)
        assert request.headers["Authorization"] == f"Token {TOKEN}"
        if exchange.body is None:
            assert not request.body, request.body
        elif exchange.body is ANY_BODY:
            assert request.headers["Content-Type"] == "application/json"
        else:
            assert request.headers["Content-Type"] == "application/json"
            assert json.loads(request.body or b"") == exchange.body
        response = requests.Response()
        response.status_code = exchange.status
        response._content = b"" if exchange.answer is None else json.dumps(exchange.answer).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass

    def body(self, index: int) -> Any:
        """The JSON body of the index-th request seen."""
        return json.loads(self.seen[index].body or b"")

    def assert_done(self) -> None:
        assert not self.expected, f"requests never made: {list(self.expected)}"


def submission(
    sid: str, pid: str, status: str = "AWAITING REVIEW", study: str = ""
) -> dict[str, Any]:
    """A submission as Prolific's list endpoint returns it."""
    return {
        "id": sid,
        "participant_id": pid,
        "status": status,
        "study_id": study,
        "started_at": "2026-11-20T10:00:00.000000Z",
        "completed_at": "2026-11-20T10:12:00.000000Z",
        "study_code": "ABC123",
    }


def page(results: list[dict[str, Any]], next_href: str | None = None) -> dict[str, Any]:
    return {
        "results": results,
        "_links": {
            "self": {"href": None, "title": "Current"},
            "next": {"href": next_href, "title": "Next"},
            "previous": {"href": None, "title": "Previous"},
        },
        "meta": {"count": len(results)},
    }
