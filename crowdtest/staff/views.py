from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from crowdtest.access import staff_required


@staff_required
def home(request: HttpRequest) -> HttpResponse:
    try:
        return redirect(reverse("corpus:experiment_list"))
    except NoReverseMatch:
        return render(request, "staff/home.html")
