"""The staff's side of rating: direct links to the test, made from the Sessions tab."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from crowdtest.access import staff_required
from crowdtest.corpus.models import Experiment

from .errors import RatingError
from .forms import LinksForm
from .links import links_create


@staff_required
@require_POST
def links_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    back = redirect("design:overview", slug=slug)
    form = LinksForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Invalid number of links: {form.errors.as_text()}")
        return back
    try:
        made = links_create(
            experiment=experiment,
            participants=form.cleaned_data["participants"],
            max_sessions=form.cleaned_data["max_sessions"],
        )
        messages.success(request, f"{len(made)} link(s) ready below.")
    except RatingError as exc:
        messages.error(request, exc.message)
    return back
