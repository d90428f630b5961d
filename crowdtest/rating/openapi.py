"""The rater API's contract: the typed bodies it takes and gives.

These pydantic models are the one source of truth. django-ninja validates every request
against them (anything else is a 400 `invalid`, with the message of the field at fault)
and generates the OpenAPI 3.1 document served at /api/openapi.json from them, so the
document can't drift from the checks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

Stage = Literal[
    "consent",
    "setup",
    "questions",
    "training",
    "rating",
    "finished",
    "stopped",
    "expired",
    "closed",
]

# What the rater is told when a score is off the scale of the test they are taking.
SCALE_MESSAGES = {
    "acr": "'score' must be a whole number from 1 (bad) to 5 (excellent).",
    "dcr": "'score' must be a whole number from 1 (very annoying) to 5 (inaudible).",
    "ccr": "'score' must be a whole number from -3 (much worse) to +3 (much better).",
    "pairwise": "'score' must be 1 (the first) or 2 (the second).",
}

# What the rater is told when a field is refused (the API's `error`), by field name.
FIELD_MESSAGES = {
    "clip": "'clip' must be the key of a clip.",
    "score": "'score' must be a whole number on the test's scale: ACR 1 (bad) to 5 "
    "(excellent), DCR 1 to 5, CCR -3 to +3, pairwise 1 (the first) or 2 (the second).",
    "digits": "'digits' must be the digits you heard.",
    "math": "'math' must be a whole number.",
    "hearing_normal": "'hearing_normal' must be true or false.",
    "headphones": "'headphones' must be true or false.",
    "hidden_s": "'hidden_s' must be a number of seconds (0 or more), or left out.",
    "can_play": "'can_play' must be true or false.",
    "sample_rate_hz": "'sample_rate_hz' must be a sample rate in Hz, or left out.",
    "duration_s": "'duration_s' must be a number of seconds, or left out.",
    "detail": "'detail' must be a short text.",
}
MATH_BOUND = 10_000  # a question's answer is far smaller; anything beyond is a typo
HIDDEN_BOUND_S = 86_400.0  # a day: longer than any session is kept


def _whole_number(value: Any) -> Any:
    """JSON has one number type: 3 and 3.0 are the same whole number (as JSON Schema's
    `integer` says); a string, a boolean or 3.5 is not one."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _storable_text(value: str) -> str:
    """PostgreSQL text can't hold NUL, and UTF-8 can't hold a lone surrogate."""
    if "\x00" in value:
        raise ValueError("NUL is not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    return value


ClipKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Opaque clip key, as the state gives it",
    ),
]
Text = Annotated[
    str,
    AfterValidator(_storable_text),
    Field(json_schema_extra={"pattern": "^[^\\u0000]*$"}),
]
SignedUrl = Annotated[str, Field(description="Signed, expiring, opaque audio URL (audio/mp4)")]


class Request(BaseModel):
    """A request body: a JSON object whose unknown members are ignored."""

    model_config = ConfigDict(strict=True)


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- Request bodies ----------------------------------------------------------------------


class Empty(Request):
    """No fields: an empty object (or no body at all)."""


class SetupAnswer(Request):
    clip: ClipKey
    digits: Annotated[Text, Field(max_length=32, description="The digits as typed")]


class QuestionsAnswer(Request):
    # Bounds before the validator: they then bind the integer itself, and the schema
    # states them as minimum / maximum (after it, pydantic can only describe them as "ge").
    math: Annotated[
        int,
        Field(ge=-MATH_BOUND, le=MATH_BOUND),
        BeforeValidator(_whole_number),
        Field(description="The math question's answer"),
    ]
    hearing_normal: bool
    headphones: bool


class PlaybackReport(Request):
    """What the page found playing the volume clip on the rater's device."""

    can_play: bool = Field(description="The browser can decode the clip (AAC in MP4)")
    sample_rate_hz: Annotated[
        int | None, Field(default=None, ge=8_000, le=768_000, description="Audio output rate")
    ] = None
    duration_s: Annotated[
        float | None,
        Field(default=None, ge=0, le=3_600, description="The clip's duration as decoded"),
    ] = None
    detail: Annotated[Text, Field(max_length=300, description="What went wrong, if anything")] = ""


class ClipRef(Request):
    clip: ClipKey


class Rating(Request):
    clip: ClipKey
    score: Annotated[
        int,
        Field(ge=-3, le=5),
        BeforeValidator(_whole_number),
        Field(
            description="On the test method's scale. ACR: 1 bad, 2 poor, 3 fair, 4 good, "
            "5 excellent; DCR (P.808 Annex D): 1 very annoying .. 5 inaudible degradation; "
            "CCR (Annex E): the second clip against the first, -3 much worse .. +3 much "
            "better; pairwise: 1 the first sounded better, 2 the second"
        ),
    ]
    hidden_s: Annotated[
        float | None,
        Field(
            default=None,
            ge=0,
            le=HIDDEN_BOUND_S,
            description="Seconds the page was hidden while the clip played",
        ),
    ] = None


# --- Responses ---------------------------------------------------------------------------


class Error(BaseModel):
    error: str = Field(description="For the rater")
    code: str = Field(description="Stable name of the error")
    retry_after_s: float | None = Field(default=None, description="When to try again")


class Progress(Response):
    done: int
    total: int


class Setup(Response):
    volume_url: SignedUrl
    digits_url: SignedUrl
    clip: ClipKey
    tries_left: int
    retry: bool = Field(description="A previous try was wrong")


class Questions(Response):
    math: str = Field(description="The question")


class Clip(Response):
    clip: ClipKey
    url: SignedUrl
    rated: bool


class Submit(Response):
    action: str
    fields: dict[str, str]


class Finish(Response):
    code: str = Field(description="Completion code")
    submit: Submit | None = Field(description="MTurk: a form to POST back (externalSubmit)")
    redirect: str | None = Field(description="Prolific: the completion URL")
    another: bool = Field(description="Direct links: another session can be taken")


class State(Response):
    stage: Stage
    platform: Literal["link", "mturk", "prolific", "staff"]
    message: str | None = None
    progress: Progress | None = None
    setup: Setup | None = None
    questions: Questions | None = None
    clips: list[Clip] | None = None
    finish: Finish | None = None


class PlayResult(Response):
    clip: ClipKey
    plays: int


class RateResult(Response):
    clip: ClipKey
    score: int = Field(ge=-3, le=5)
    saved: bool
    stage: Stage


# The clip URL is served by the rating views, not this API; the document describes it so
# that a client knows what the state's URLs are.
CLIP_PATH: dict[str, Any] = {
    "get": {
        "summary": "Audio of a clip",
        "description": "The clip's audio, with byte ranges (or a redirect to a presigned "
        "storage URL). Use the URLs the state gives; they are signed and expire.",
        "parameters": [
            {"name": name, "in": where, "required": True, "schema": {"type": "string"}}
            for name, where in (("key", "path"), ("x", "query"), ("s", "query"))
        ],
        "responses": {
            "200": {"description": "The audio", "content": {"audio/mp4": {}}},
            "206": {"description": "A byte range of the audio", "content": {"audio/mp4": {}}},
            "302": {"description": "Redirect to a presigned storage URL"},
            "403": {"description": "Bad or expired signature"},
            "404": {"description": "Unknown clip"},
        },
    }
}
