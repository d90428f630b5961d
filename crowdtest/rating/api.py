"""The rater's JSON API, built with django-ninja on the typed contract in openapi.py (the
document is generated from it and served at /api/openapi.json).

Every call carries the signed rater token in the `X-Rater-Token` header; bodies are small
JSON objects (at most 4 KB). Errors are 4xx with `{"error": message, "code": name}`,
never a 500 for anything a client sends. The page and the load benchmark use it alike.
Each endpoint parses, calls one service in services.py and returns the state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import APIKeyHeader

from crowdtest.corpus.models import Experiment
from crowdtest.corpus.selectors import experiment_recent

from . import openapi as contract
from . import services
from .errors import RatingError
from .identity import RaterIdentity, rater_token, read_rater_token_aged
from .selectors import rater_state

MAX_BODY_BYTES = 4096
TOKEN_HEADER = "X-Rater-Token"  # noqa: S105  (a header name)
RENEW_AFTER_S = 300  # a page in use gets a fresh token this often (at most)


@dataclass(frozen=True)
class Caller:
    """Whose call it is: the token's rater and the test it is for."""

    experiment: Experiment
    identity: RaterIdentity


def error(status: int, message: str, code: str, retry_after_s: float | None = None) -> JsonResponse:
    body: dict[str, Any] = {"error": message, "code": code}
    if retry_after_s is not None:
        body["retry_after_s"] = retry_after_s
    response = JsonResponse(body, status=status)
    if retry_after_s is not None:
        response["Retry-After"] = str(max(1, round(retry_after_s)))
    response["Cache-Control"] = "no-store"
    return response


class RaterToken(APIKeyHeader):
    """The signed rater token; a forged, altered or missing one is a 403 `bad_token`."""

    param_name = TOKEN_HEADER

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller:
        read = read_rater_token_aged(key or "")
        if read is None:
            raise RatingError(_("Missing or invalid rater token."), status=403, code="bad_token")
        identity, age_s = read
        experiment = experiment_recent(experiment_id=identity.experiment_id)
        if experiment is None:
            raise RatingError(_("This test no longer exists."), status=404, code="no_experiment")
        # A token lives as long as a silent session is kept; a page in use is renewed.
        lifetime_s = experiment.config.session_timeout_minutes * 60
        if age_s > lifetime_s:
            raise RatingError(
                _("This page was left unused for too long: reload it to go on."),
                status=403,
                code="token_expired",
            )
        if age_s > min(RENEW_AFTER_S, lifetime_s / 3):
            request.renewed_rater_token = rater_token(identity)  # type: ignore[attr-defined]
        return Caller(experiment=experiment, identity=identity)


class SmallJsonObject(Parser):
    """Bodies are JSON objects of at most MAX_BODY_BYTES; anything else is refused before
    it is parsed any further (a deeply nested array is refused, not recursed into)."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        too_big = RatingError(
            f"The request body is larger than {MAX_BODY_BYTES} bytes.", status=413, code="too_large"
        )
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY_BYTES:
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
        except (ValueError, RecursionError):
            raise RatingError("The body is not valid JSON.", status=400, code="bad_json") from None
        if not isinstance(data, dict):
            raise RatingError("The body must be a JSON object.", status=400, code="bad_json")
        return data


class RaterAPI(NinjaAPI):
    def create_response(
        self,
        request: HttpRequest,
        data: Any,
        *,
        status: int | None = None,
        temporal_response: HttpResponse | None = None,
    ) -> HttpResponse:
        response = super().create_response(
            request, data, status=status, temporal_response=temporal_response
        )
        response["Cache-Control"] = "no-store"
        renewed = getattr(request, "renewed_rater_token", None)
        if renewed:
            response[TOKEN_HEADER] = renewed  # the page sends this one from now on
        return response

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(**kwargs)
        schema["paths"]["/take/clip/{key}"] = contract.CLIP_PATH
        return schema


api = RaterAPI(
    title="crowdtest rater API",
    version="1.0",
    description=(
        "What the rater's page (and the load benchmark) use to take an ITU-T P.808 "
        "session: state, consent, setup digits, questions, playback starts, ACR ratings "
        "and finish. Answers are saved as they arrive; resending one is harmless. No "
        "answer key, and nothing that identifies a clip, is ever returned."
    ),
    auth=RaterToken(),
    parser=SmallJsonObject(),
    urls_namespace="api",
    docs_url=None,
    openapi_url="/openapi.json",
    servers=[{"url": "/"}],
)


@api.exception_handler(RatingError)
def _rating_error(request: HttpRequest, exc: RatingError) -> HttpResponse:
    return error(exc.status, exc.message, exc.code, exc.retry_after_s)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, RatingError):  # the body parser's refusal
        return _rating_error(request, exc.__cause__)
    if isinstance(exc, AuthenticationError):
        return error(403, "Missing or invalid rater token.", "bad_token")
    return error(exc.status_code, exc.message, "invalid" if exc.status_code == 400 else "error")


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    problem = exc.errors[0] if exc.errors else {}
    location = [str(part) for part in problem.get("loc", ())]
    field = next((part for part in location if part in contract.FIELD_MESSAGES), None)
    if field is not None:
        message = contract.FIELD_MESSAGES[field]
    elif problem.get("type") == "missing":
        message = f"'{location[-1]}' is missing."
    else:
        message = "The body must be a JSON object with the fields this endpoint takes."
    return error(400, message, "invalid")


def _caller(request: HttpRequest) -> Caller:
    caller: Caller = request.auth  # type: ignore[attr-defined]
    return caller


def _state(request: HttpRequest) -> dict[str, Any]:
    caller = _caller(request)
    return rater_state(experiment=caller.experiment, identity=caller.identity)


REFUSALS = {
    400: contract.Error,
    403: contract.Error,
    404: contract.Error,
    409: contract.Error,
    413: contract.Error,
    429: contract.Error,
}
# consent and finish take no fields; a body, if sent, must still be a small JSON object.
NO_FIELDS = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Empty"}}},
    }
}


# --- Endpoints -------------------------------------------------------------------------


@api.get("/state", response={200: contract.State, **REFUSALS}, exclude_unset=True)
def state(request: HttpRequest) -> dict[str, Any]:
    """What to show now: the stage, clips (signed URLs) and progress; reloading the page
    resumes from here."""
    return _state(request)


@api.post(
    "/consent",
    response={200: contract.State, **REFUSALS},
    exclude_unset=True,
    openapi_extra=NO_FIELDS,
)
def consent(request: HttpRequest, body: contract.Empty | None = None) -> dict[str, Any]:
    """Agree to take part: starts (allocates) a rating session, or returns the unfinished
    one."""
    caller = _caller(request)
    services.assignment_consent(
        experiment=caller.experiment, identity=caller.identity, language=get_language()
    )
    return _state(request)


@api.post("/setup", response={200: contract.State, **REFUSALS}, exclude_unset=True)
def setup(request: HttpRequest, body: contract.SetupAnswer) -> dict[str, Any]:
    """The digits heard in the digits clip `clip`. A wrong answer gets a new clip; the
    third wrong answer stops the test (stage `stopped`)."""
    services.setup_answer(rater=_caller(request).identity, clip=body.clip, digits=body.digits)
    return _state(request)


@api.post("/questions", response={200: contract.State, **REFUSALS}, exclude_unset=True)
def questions(request: HttpRequest, body: contract.QuestionsAnswer) -> dict[str, Any]:
    """The math question's answer and the hearing and headphones declarations."""
    services.questions_answer(
        rater=_caller(request).identity,
        math=body.math,
        hearing_normal=body.hearing_normal,
        headphones=body.headphones,
    )
    return _state(request)


@api.post("/playback", response={200: contract.State, **REFUSALS}, exclude_unset=True)
def playback(request: HttpRequest, body: contract.PlaybackReport) -> dict[str, Any]:
    """The playback check on the rater's device, sent before the volume step. A device
    that can't decode the clips, or decodes it at the wrong length, ends the session
    without using it up (stage `consent` again, with a message saying what to try)."""
    services.playback_report(
        rater=_caller(request).identity,
        can_play=body.can_play,
        sample_rate_hz=body.sample_rate_hz,
        duration_s=body.duration_s,
        detail=body.detail,
    )
    return _state(request)


@api.post("/play", response={200: contract.PlayResult, **REFUSALS})
def play(request: HttpRequest, body: contract.ClipRef) -> dict[str, Any]:
    """Playback started: the server's clock for the clip starts; clips play in order."""
    item = services.clip_play(rater=_caller(request).identity, clip=body.clip)
    return {"clip": item.clip_key, "plays": item.plays}


@api.post("/rate", response={200: contract.RateResult, **REFUSALS})
def rate(request: HttpRequest, body: contract.Rating) -> dict[str, Any]:
    """An ACR score, accepted once the clip has played to its end (409 `too_early` with
    `retry_after_s` before). The same score again returns the same result; a different
    score for a rated clip is refused (409 `already_rated`)."""
    vote, assignment = services.clip_rate(
        rater=_caller(request).identity,
        clip=body.clip,
        score=body.score,
        hidden_s=body.hidden_s,
    )
    return {"clip": body.clip, "score": vote.score, "saved": True, "stage": assignment.stage}


@api.post(
    "/finish",
    response={200: contract.State, **REFUSALS},
    exclude_unset=True,
    openapi_extra=NO_FIELDS,
)
def finish(request: HttpRequest, body: contract.Empty | None = None) -> dict[str, Any]:
    """After every clip is rated: the completion code, and how to return to the crowd
    platform."""
    services.assignment_finish(rater=_caller(request).identity)
    return _state(request)


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return error(404, "No such API endpoint.", "not_found")
