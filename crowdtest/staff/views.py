from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse

from .access import staff_required


@staff_required
def home(request: HttpRequest) -> HttpResponse:
    try:
        return redirect(reverse("corpus:experiment_list"))
    except NoReverseMatch:
        return redirect("admin:index")


def health(request: HttpRequest) -> JsonResponse:
    """Liveness for the load balancer and docker-compose: the database answers."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
