"""Who may see what, below every app (each app's views import it; it imports none of
them). Raters never log in; every staff page requires a staff account, and exports
additionally require the `export` permission (admins have all). Also the client address
that login throttling counts."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase as HttpResponse

View = Callable[..., HttpResponse]

EXPORT_PERMISSION = "corpus.export_experiment"


def staff_required(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_active or not request.user.is_staff:
            raise PermissionDenied("This page is for staff accounts.")
        return view(request, *args, **kwargs)

    return wrapped


def permission_required(perm: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @staff_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(perm):
                raise PermissionDenied(f"This needs the permission {perm}.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def export_access(view: View) -> View:
    """Downloads of results (exports, archive scores) answer 403 to anyone without the
    export permission, signed in or not (a file link is not a page to bounce through the
    login form)."""
    guarded = permission_required(EXPORT_PERMISSION)(view)

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            raise PermissionDenied("Exports are for staff with the export permission.")
        return guarded(request, *args, **kwargs)

    return wrapped


def client_ip(request: HttpRequest) -> str:
    """The address a request came from, for login throttling: behind a trusted proxy
    (TRUSTED_PROXY_IPS; nginx appends the address it saw to X-Forwarded-For), the last
    address the proxy added; otherwise the socket's peer. A client can't pick its own
    address by sending the header itself."""
    peer = str(request.META.get("REMOTE_ADDR", ""))
    trusted = settings.TRUSTED_PROXY_IPS
    if "*" in trusted or peer in trusted:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded and forwarded[-1]:
            return str(forwarded[-1])
    return peer
