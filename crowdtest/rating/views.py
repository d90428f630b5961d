"""The rater's pages (no account, no cookie: identity rides in a signed token) and the
signed audio of their clips."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseForbidden,
    HttpResponseNotModified,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from crowdtest import languages
from crowdtest.corpus.models import Experiment

from . import delivery
from .api import TOKEN_HEADER
from .clip_urls import clip_for_key, clip_signature_valid
from .identity import MTURK_HOSTS, EntryError, entry_for, link_token, new_participant_id
from .identity import rater_token as make_rater_token
from .page import method_strings, page_strings, rating_scale
from .selectors import session_minutes_recent

# MTurk shows the test in an iframe on its own site; nobody else may frame it.
FRAME_ANCESTORS = "frame-ancestors 'self' " + " ".join(MTURK_HOSTS)
OPEN_LINK_COOKIE = "crowdtest-open"
OPEN_LINK_COOKIE_DAYS = 90


def _page(
    request: HttpRequest, template: str, context: dict[str, object], status: int = 200
) -> HttpResponse:
    response = render(request, template, context, status=status)
    response["Content-Security-Policy"] = FRAME_ANCESTORS
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@xframe_options_exempt
@require_safe
def take(request: HttpRequest, slug: str) -> HttpResponse:
    """The entry URL a crowd platform or a direct link opens."""
    experiment = get_object_or_404(Experiment, slug=slug)
    offered = experiment.config.language_codes
    language = languages.choose(
        offered, request.GET.get("lang"), request.headers.get("Accept-Language", "")
    )
    with translation.override(language):
        return _take(request, experiment, language)


def _take(request: HttpRequest, experiment: Experiment, language: str) -> HttpResponse:
    slug = experiment.slug
    names = languages.names()
    context: dict[str, object] = {
        "experiment": experiment,
        "config": experiment.config,
        "language": language,
        "languages": [(code, names[code]) for code in experiment.config.language_codes],
        "minutes": session_minutes_recent(experiment=experiment),
        "method": experiment.config.test_method,
        "scale": rating_scale(experiment.config.test_method),
        "method_intro": method_strings(experiment.config.test_method).get("rate_intro", ""),
        # The language form keeps every parameter of the entry URL but the language.
        "carried": [(k, v) for k, vs in request.GET.lists() if k != "lang" for v in vs],
    }
    try:
        entry = entry_for(experiment.pk, request.GET)
    except EntryError as exc:
        return _page(request, "rating/invalid.html", {**context, "message": str(exc)}, 400)
    if entry.kind == "open_link":
        # A browser that came before keeps its identity (a first-party cookie: the open
        # link is our own page, not a platform's iframe), so the session cap holds per
        # browser; participant links hold it per person.
        cookie = f"{OPEN_LINK_COOKIE}-{experiment.pk}"
        remembered = request.get_signed_cookie(cookie, default="", salt=OPEN_LINK_COOKIE) or ""
        participant = remembered if remembered.startswith("o-") else new_participant_id("o")
        token = link_token(experiment.pk, participant)
        chosen = f"&lang={language}" if "lang" in request.GET else ""
        response = redirect(f"{reverse('rating:take', args=[slug])}?t={token}{chosen}")
        response.set_signed_cookie(
            cookie,
            participant,
            salt=OPEN_LINK_COOKIE,
            max_age=OPEN_LINK_COOKIE_DAYS * 86400,
            secure=request.is_secure(),
            httponly=True,
            samesite="Lax",
        )
        return response
    if entry.kind == "preview" or entry.identity is None:
        return _page(request, "rating/preview.html", context)
    context.update(
        token=make_rater_token(entry.identity),
        token_header=TOKEN_HEADER,
        strings=page_strings(experiment.config.test_method),
        preview=entry.identity.platform == "staff",
    )
    return _page(request, "rating/take.html", context)


@require_safe
def clip(request: HttpRequest, key: str) -> HttpResponseBase:
    """A clip's audio, for a signed URL that has not expired: the key's own padded copy
    (see delivery.py), with byte ranges, HEAD and ETag. Behind nginx
    (`CLIP_ACCEL_REDIRECT`) the app only checks and records; nginx sends the bytes."""
    if not clip_signature_valid(key, request.GET.get("x", ""), request.GET.get("s", "")):
        return HttpResponseForbidden("This audio link is not valid or has expired.")
    found = clip_for_key(key)
    if found is None:
        raise Http404("No such clip.")
    path = delivery.personal_copy(found)
    size = path.stat().st_size
    if settings.CLIP_ACCEL_REDIRECT:
        return _accel_clip(request, found, path, size)
    tag = delivery.etag(found, path)
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": CLIP_CACHE,
        "ETag": tag,
        "X-Content-Type-Options": "nosniff",
    }
    if _etag_matches(request.headers.get("If-None-Match", ""), tag):
        return _with(HttpResponseNotModified(), headers)
    wanted = request.headers.get("Range", "")
    if wanted and request.headers.get("If-Range", tag) != tag:
        wanted = ""  # the client's partial copy is of other bytes: send them all
    try:
        span = delivery.parse_range(wanted, size)
    except delivery.Unsatisfiable:
        refused = HttpResponse(status=416, content_type=found.content_type)
        return _with(refused, {**headers, "Content-Range": f"bytes */{size}"})
    first, last = span if span is not None else (0, size - 1)
    if span is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    status = 206 if span is not None else 200
    if request.method == "HEAD":
        response: HttpResponseBase = HttpResponse(status=status, content_type=found.content_type)
    else:
        item_id = found.item_id
        if item_id is not None:
            delivery.record_requested(item_id)

        def sent(start: int, end: int) -> None:
            if item_id is not None:
                delivery.record_sent(item_id, start, end, size)

        response = StreamingHttpResponse(
            delivery.stream(path, first, last, sent),
            status=status,
            content_type=found.content_type,
        )
    headers["Content-Length"] = str(last - first + 1)
    return _with(response, headers)


CLIP_CACHE = "private, max-age=3600"


def _accel_clip(
    request: HttpRequest, found: delivery.Clip, path: Path, size: int
) -> HttpResponseBase:
    """Hand the copy to nginx. What nginx will send is recorded now: the app does not
    see the end of the transfer on this path."""
    if request.method != "HEAD" and found.item_id is not None:
        span: tuple[int, int] | None = (0, -1)  # a revalidation: nginx sends no bytes
        if not request.headers.get("If-None-Match"):
            try:
                span = delivery.parse_range(request.headers.get("Range", ""), size)
            except delivery.Unsatisfiable:
                span = (0, -1)
        first, last = span if span is not None else (0, size - 1)
        if last >= first:
            delivery.record_sent(found.item_id, first, last + 1, size)  # requested too
        else:
            delivery.record_requested(found.item_id)
    response = HttpResponse(content_type=found.content_type)
    response["X-Accel-Redirect"] = settings.CLIP_ACCEL_REDIRECT.rstrip("/") + "/" + path.name
    response["Cache-Control"] = CLIP_CACHE
    return response


def _etag_matches(header: str, tag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return tag in {part.strip().removeprefix("W/") for part in header.split(",")}


def _with(response: HttpResponseBase, headers: dict[str, str]) -> HttpResponseBase:
    for name, value in headers.items():
        response[name] = value
    return response
