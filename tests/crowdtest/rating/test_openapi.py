"""The OpenAPI document describes every API route, and real responses fit it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from crowdtest.rating.api import api
from tests.crowdtest.rating.designs import RaterClient, make_design, take_session

# As served: JSON, so status codes are strings.
SCHEMA = json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/")))

TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMA["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def problems(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """A small structural check of `value` against a JSON Schema (the subset we use)."""
    schema = resolve(schema)
    if "anyOf" in schema:
        fits = [s for s in schema["anyOf"] if not problems(value, s, where)]
        return [] if fits else [f"{where}: fits none of anyOf"]
    if "oneOf" in schema:
        fits = [s for s in schema["oneOf"] if not problems(value, s, where)]
        return [] if len(fits) == 1 else [f"{where}: fits {len(fits)} of oneOf"]
    found: list[str] = []
    if "type" in schema:
        allowed = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(
            isinstance(value, TYPES[t])
            and not (t in ("integer", "number") and isinstance(value, bool))
            for t in allowed
        )
        if not ok:
            return [f"{where}: {value!r} is not {allowed}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{where}: below minimum")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{where}: above maximum")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        found += [f"{where}: missing {k}" for k in schema.get("required", []) if k not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                found += problems(item, properties[key], f"{where}.{key}")
            elif extra is False:
                found.append(f"{where}: unexpected {key}")
            elif isinstance(extra, dict):
                found += problems(item, extra, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += problems(item, schema["items"], f"{where}[{index}]")
    return found


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    operation = SCHEMA["paths"][path][method]
    assert str(status) in operation["responses"], (path, method, status)
    content = operation["responses"][str(status)]["content"]["application/json"]
    return dict(content["schema"])


def test_every_api_route_is_described() -> None:
    api = next(p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "api")
    assert isinstance(api, URLResolver)
    routes = {
        f"/api/{pattern.pattern}"
        for pattern in api.url_patterns
        if isinstance(pattern, URLPattern)
        and pattern.name not in (None, "api-root", "openapi-json")
    }
    assert routes == {path for path in SCHEMA["paths"] if path.startswith("/api/")}
    assert SCHEMA["openapi"].startswith("3.1")


@pytest.mark.django_db
def test_the_schema_is_served(client: Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json()["paths"].keys() == SCHEMA["paths"].keys()


@pytest.mark.django_db
def test_responses_of_a_whole_session_fit_the_schema(client: Client) -> None:
    built = make_design()
    rc = RaterClient(client, built.experiment)
    take_session(rc)
    clip = rc.state()  # a finished state
    rc.post("rate", {"clip": "unknown-clip", "score": 3})
    rc.post("rate", raw=b"{oops")
    rc.post("consent", {"padding": "x" * 5000})
    checked = 0
    for response in rc.responses:
        request = response.wsgi_request
        path, method = request.path, request.method.lower()
        status = response.status_code
        schema = response_schema(path, method, status)
        assert not problems(response.json(), schema), (path, status, response.json())
        checked += 1
    assert checked > 20 and clip["stage"] == "finished"
    statuses = {r.status_code for r in rc.responses}
    assert statuses >= {200, 400, 404, 413}


def test_the_schema_states_the_bounds_the_api_checks() -> None:
    schemas = SCHEMA["components"]["schemas"]
    math = schemas["QuestionsAnswer"]["properties"]["math"]
    assert (math["type"], math["minimum"], math["maximum"]) == ("integer", -10_000, 10_000)
    assert schemas["Rating"]["properties"]["score"]["type"] == "integer"
    for path in ("/api/consent", "/api/finish"):
        assert SCHEMA["paths"][path]["post"]["requestBody"]["required"] is False
