"""The rater API's URLs (mounted at /api/): its endpoints, the OpenAPI document at
openapi.json, and a JSON 404 for anything else."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed
from django.urls import URLPattern, URLResolver, re_path

from . import api

app_name = "api"


def _json_405(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """A wrong method gets the API's JSON error, and keeps the `Allow` header."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = api.error(405, f"Use {allowed} for this endpoint.", "method_not_allowed")
            response["Allow"] = allowed
        return response

    return wrapped


def _endpoints() -> list[URLPattern | URLResolver]:
    patterns, _, _ = api.api.urls
    found: list[URLPattern | URLResolver] = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = _json_405(pattern.callback)
            found.append(pattern)
    return found


urlpatterns = [*_endpoints(), re_path(r"^.*$", api.not_found)]
