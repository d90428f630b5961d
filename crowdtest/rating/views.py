"""The rater's pages (no account, no cookie: identity rides in a signed token) and the
signed audio of their clips."""

from __future__ import annotations

from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseForbidden,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from crowdtest.corpus.models import Experiment

from .api import TOKEN_HEADER
from .clips import clip_file, clip_signature_valid
from .identity import MTURK_HOSTS, EntryError, entry_for, link_token, new_participant_id
from .identity import rater_token as make_rater_token

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
    context: dict[str, object] = {"experiment": experiment, "config": experiment.config}
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
        response = redirect(f"{reverse('rating:take', args=[slug])}?t={token}")
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
    context.update(token=make_rater_token(entry.identity), token_header=TOKEN_HEADER)
    return _page(request, "rating/take.html", context)


@require_safe
def clip(request: HttpRequest, key: str) -> HttpResponseBase:
    """A clip's audio, for a signed URL that has not expired. No file name, nothing that
    tells which clip it is. Streamed through the app from any storage (S3 included): a
    presigned storage URL would show the stored name, the same for every rater."""
    if not clip_signature_valid(key, request.GET.get("x", ""), request.GET.get("s", "")):
        return HttpResponseForbidden("This audio link is not valid or has expired.")
    stored = clip_file(key)
    if stored is None:
        raise Http404("No such clip.")
    response = FileResponse(stored.open("rb"), content_type="audio/mp4")
    if "Content-Disposition" in response:
        del response["Content-Disposition"]
    response["Cache-Control"] = "private, max-age=3600"
    return response
