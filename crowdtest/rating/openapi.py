"""OpenAPI 3.1 description of the rater's JSON API, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

STAGES = [
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


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "Malformed JSON, or a field out of range"),
    "403": _json(_ref("Error"), "Missing, forged or altered rater token; rater blocked"),
    "404": _json(_ref("Error"), "Unknown clip, or the test no longer exists"),
    "409": _json(_ref("Error"), "Out of order, already answered differently, clip not ended"),
    "413": _json(_ref("Error"), "Body larger than 4096 bytes"),
    "429": _json(_ref("Error"), "Too many raters starting at once; retry after a moment"),
}


def _post(summary: str, request: str | None, response: str, description: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "description": description,
        "security": [{"raterToken": []}],
        "responses": {"200": _json(_ref(response), "Saved"), **ERRORS},
    }
    if request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(request)}},
        }
    return {"post": operation}


_STRING = {"type": "string"}
_URL = {"type": "string", "description": "Signed, expiring, opaque audio URL (audio/mp4)"}
_KEY = {"type": "string", "minLength": 1, "maxLength": 64, "description": "Opaque clip key"}

SCHEMA: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "crowdtest rater API",
        "version": "1.0",
        "description": (
            "What the rater's page (and the load benchmark) use to take an ITU-T P.808 "
            "session: state, consent, setup digits, questions, playback starts, ACR ratings "
            "and finish. Answers are saved as they arrive; resending one is harmless. No "
            "answer key, and nothing that identifies a clip, is ever returned."
        ),
    },
    "servers": [{"url": "/"}],
    "paths": {
        "/api/state": {
            "get": {
                "summary": "What to show now",
                "description": "The current stage, clips (signed URLs) and progress; "
                "reloading the page resumes from here.",
                "security": [{"raterToken": []}],
                "responses": {"200": _json(_ref("State"), "The rater's state"), **ERRORS},
            }
        },
        "/api/consent": _post(
            "Agree to take part",
            "Empty",
            "State",
            "Starts (allocates) a rating session, or returns the unfinished one.",
        ),
        "/api/setup": _post(
            "Answer the digits",
            "SetupAnswer",
            "State",
            "The digits heard in the digits clip `clip`. A wrong answer gets a new clip; the "
            "third wrong answer stops the test (stage `stopped`).",
        ),
        "/api/questions": _post(
            "Answer the questions",
            "QuestionsAnswer",
            "State",
            "The math question's answer and the hearing and headphones declarations.",
        ),
        "/api/play": _post(
            "Playback started",
            "ClipRef",
            "PlayResult",
            "Records (server-side) when a clip started playing; clips play in order.",
        ),
        "/api/rate": _post(
            "Rate a clip",
            "Rating",
            "RateResult",
            "An ACR score, accepted once the clip has played to its end (409 `too_early` with "
            "`retry_after_s` before). The same score again returns the same result; a "
            "different score for a rated clip is refused (409 `already_rated`).",
        ),
        "/api/finish": _post(
            "Finish the session",
            "Empty",
            "State",
            "After every clip is rated: the completion code, and how to return to the "
            "crowd platform.",
        ),
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1 document"}},
            }
        },
        "/take/clip/{key}": {
            "get": {
                "summary": "Audio of a clip",
                "description": "Streams the clip (or redirects to a presigned storage URL). "
                "Use the URLs the state gives; they are signed and expire.",
                "parameters": [
                    {"name": "key", "in": "path", "required": True, "schema": _KEY},
                    {"name": "x", "in": "query", "required": True, "schema": _STRING},
                    {"name": "s", "in": "query", "required": True, "schema": _STRING},
                ],
                "responses": {
                    "200": {"description": "The audio", "content": {"audio/mp4": {}}},
                    "302": {"description": "Redirect to a presigned storage URL"},
                    "403": {"description": "Bad or expired signature"},
                    "404": {"description": "Unknown clip"},
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "raterToken": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Rater-Token",
                "description": "Signed rater token given to the page by the entry URL",
            }
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "code"],
                "properties": {
                    "error": {"type": "string", "description": "For the rater"},
                    "code": {"type": "string", "description": "Stable name of the error"},
                    "retry_after_s": {"type": "number"},
                },
            },
            "Empty": {"type": "object"},
            "SetupAnswer": {
                "type": "object",
                "required": ["clip", "digits"],
                "properties": {"clip": _KEY, "digits": {"type": "string", "maxLength": 32}},
            },
            "QuestionsAnswer": {
                "type": "object",
                "required": ["math", "hearing_normal", "headphones"],
                "properties": {
                    "math": {"type": "integer"},
                    "hearing_normal": {"type": "boolean"},
                    "headphones": {"type": "boolean"},
                },
            },
            "ClipRef": {"type": "object", "required": ["clip"], "properties": {"clip": _KEY}},
            "Rating": {
                "type": "object",
                "required": ["clip", "score"],
                "properties": {
                    "clip": _KEY,
                    "score": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 5,
                        "description": "ACR: 1 bad, 2 poor, 3 fair, 4 good, 5 excellent",
                    },
                },
            },
            "PlayResult": {
                "type": "object",
                "required": ["clip", "plays"],
                "properties": {"clip": _STRING, "plays": {"type": "integer"}},
            },
            "RateResult": {
                "type": "object",
                "required": ["clip", "score", "saved", "stage"],
                "properties": {
                    "clip": _STRING,
                    "score": {"type": "integer", "minimum": 1, "maximum": 5},
                    "saved": {"type": "boolean"},
                    "stage": {"type": "string", "enum": STAGES},
                },
            },
            "State": {
                "type": "object",
                "required": ["stage", "platform"],
                "additionalProperties": False,
                "properties": {
                    "stage": {"type": "string", "enum": STAGES},
                    "platform": {"type": "string", "enum": ["link", "mturk", "prolific"]},
                    "message": _STRING,
                    "progress": _ref("Progress"),
                    "setup": _ref("Setup"),
                    "questions": _ref("Questions"),
                    "clips": {"type": "array", "items": _ref("Clip")},
                    "finish": _ref("Finish"),
                },
            },
            "Progress": {
                "type": "object",
                "required": ["done", "total"],
                "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}},
            },
            "Setup": {
                "type": "object",
                "required": ["volume_url", "digits_url", "clip", "tries_left", "retry"],
                "additionalProperties": False,
                "properties": {
                    "volume_url": _URL,
                    "digits_url": _URL,
                    "clip": _KEY,
                    "tries_left": {"type": "integer"},
                    "retry": {"type": "boolean", "description": "A previous try was wrong"},
                },
            },
            "Questions": {
                "type": "object",
                "required": ["math"],
                "additionalProperties": False,
                "properties": {"math": {"type": "string", "description": "The question"}},
            },
            "Clip": {
                "type": "object",
                "required": ["clip", "url", "rated"],
                "additionalProperties": False,
                "properties": {"clip": _KEY, "url": _URL, "rated": {"type": "boolean"}},
            },
            "Finish": {
                "type": "object",
                "required": ["code", "submit", "redirect", "another"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "description": "Completion code"},
                    "submit": {
                        "description": "MTurk: a form to POST back (externalSubmit)",
                        "oneOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "required": ["action", "fields"],
                                "properties": {
                                    "action": _STRING,
                                    "fields": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                },
                            },
                        ],
                    },
                    "redirect": {
                        "type": ["string", "null"],
                        "description": "Prolific: the completion URL",
                    },
                    "another": {
                        "type": "boolean",
                        "description": "Direct links: another session can be taken",
                    },
                },
            },
        },
    },
}
