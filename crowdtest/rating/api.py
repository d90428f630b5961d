"""The rater's JSON API (described in openapi.py, served at /api/openapi.json).

Every call carries the signed rater token in the `X-Rater-Token` header; bodies are small
JSON objects (at most 4 KB). Errors are 4xx with `{"error": message, "code": name}`,
never a 500 for anything a client sends. The page and the load benchmark use it alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from crowdtest.corpus.models import Experiment

from . import services
from .errors import RatingError
from .identity import RaterIdentity, read_rater_token
from .models import Assignment
from .openapi import SCHEMA
from .selectors import current_assignment, rater_state

MAX_BODY_BYTES = 4096
TOKEN_HEADER = "X-Rater-Token"  # noqa: S105  (a header name)


@dataclass(frozen=True)
class Call:
    """A parsed API call: whose it is and what it sent."""

    experiment: Experiment
    identity: RaterIdentity
    data: dict[str, Any]


Payload = dict[str, Any]
View = Callable[[Call], Payload]


def error(status: int, message: str, code: str, retry_after_s: float | None = None) -> JsonResponse:
    body: dict[str, Any] = {"error": message, "code": code}
    if retry_after_s is not None:
        body["retry_after_s"] = retry_after_s
    response = JsonResponse(body, status=status)
    if retry_after_s is not None:
        response["Retry-After"] = str(max(1, round(retry_after_s)))
    response["Cache-Control"] = "no-store"
    return response


def rater_api(method: str) -> Callable[[View], Callable[[HttpRequest], JsonResponse]]:
    def decorate(view: View) -> Callable[[HttpRequest], JsonResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest) -> JsonResponse:
            if request.method != method:
                return error(405, f"Use {method} for this endpoint.", "method_not_allowed")
            try:
                response = JsonResponse(view(_call(request)))
            except RatingError as exc:
                return error(exc.status, exc.message, exc.code, exc.retry_after_s)
            response["Cache-Control"] = "no-store"
            return response

        return wrapped

    return decorate


def _call(request: HttpRequest) -> Call:
    identity = read_rater_token(request.headers.get(TOKEN_HEADER, ""))
    if identity is None:
        raise RatingError("Missing or invalid rater token.", status=403, code="bad_token")
    experiment = Experiment.objects.filter(pk=identity.experiment_id).first()
    if experiment is None:
        raise RatingError("This test no longer exists.", status=404, code="no_experiment")
    data: dict[str, Any] = {}
    if request.method == "POST":
        data = _body(request)
    return Call(experiment=experiment, identity=identity, data=data)


def _body(request: HttpRequest) -> dict[str, Any]:
    too_big = RatingError(
        f"The request body is larger than {MAX_BODY_BYTES} bytes.", status=413, code="too_large"
    )
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        raise too_big
    try:
        raw = request.body
    except RequestDataTooBig:
        raise too_big from None
    if len(raw) > MAX_BODY_BYTES:
        raise too_big
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RatingError("The body is not valid JSON.", status=400, code="bad_json") from None
    if not isinstance(data, dict):
        raise RatingError("The body must be a JSON object.", status=400, code="bad_json")
    return data


def _invalid(message: str) -> RatingError:
    return RatingError(message, status=400, code="invalid")


def _clip(data: dict[str, Any]) -> str:
    clip = data.get("clip")
    if not isinstance(clip, str) or not 1 <= len(clip) <= 64:
        raise _invalid("'clip' must be the key of a clip.")
    return clip


def _score(data: dict[str, Any]) -> int:
    score = data.get("score")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise _invalid("'score' must be a whole number from 1 (bad) to 5 (excellent).")
    return score


def _yes_no(data: dict[str, Any], name: str) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise _invalid(f"'{name}' must be true or false.")
    return value


def _math(data: dict[str, Any]) -> int:
    value = data.get("math")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 8:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 10_000:
        raise _invalid("'math' must be a whole number.")
    return value


def _digits(data: dict[str, Any]) -> str:
    value = data.get("digits")
    if not isinstance(value, str) or len(value) > 32:
        raise _invalid("'digits' must be the digits you heard.")
    return value


def _assignment(call: Call) -> Assignment:
    assignment = current_assignment(identity=call.identity)
    if assignment is None:
        raise RatingError("No session has started yet; agree to take part first.", code="stage")
    return assignment


def _state(call: Call) -> Payload:
    return rater_state(experiment=call.experiment, identity=call.identity)


# --- Endpoints -------------------------------------------------------------------------


@rater_api("GET")
def state(call: Call) -> Payload:
    return _state(call)


@rater_api("POST")
def consent(call: Call) -> Payload:
    services.assignment_consent(experiment=call.experiment, identity=call.identity)
    return _state(call)


@rater_api("POST")
def setup(call: Call) -> Payload:
    services.setup_answer(
        assignment_id=_assignment(call).pk, clip=_clip(call.data), digits=_digits(call.data)
    )
    return _state(call)


@rater_api("POST")
def questions(call: Call) -> Payload:
    services.questions_answer(
        assignment_id=_assignment(call).pk,
        math=_math(call.data),
        hearing_normal=_yes_no(call.data, "hearing_normal"),
        headphones=_yes_no(call.data, "headphones"),
    )
    return _state(call)


@rater_api("POST")
def play(call: Call) -> Payload:
    item = services.clip_play(assignment_id=_assignment(call).pk, clip=_clip(call.data))
    return {"clip": item.clip_key, "plays": item.plays}


@rater_api("POST")
def rate(call: Call) -> Payload:
    clip, score = _clip(call.data), _score(call.data)
    vote, assignment = services.clip_rate(
        assignment_id=_assignment(call).pk, clip=clip, score=score
    )
    return {"clip": clip, "score": vote.score, "saved": True, "stage": assignment.stage}


@rater_api("POST")
def finish(call: Call) -> Payload:
    services.assignment_finish(assignment_id=_assignment(call).pk)
    return _state(call)


def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(SCHEMA)


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return error(404, "No such API endpoint.", "not_found")
