"""The staff's side of rating: a preview of the test as a rater sees it, and direct links
to the test, made from the Sessions tab."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from crowdtest.access import staff_required
from crowdtest.corpus.models import Experiment
from crowdtest.design.models import Design

from .assigning import assignments_abandoned_count, assignments_release_abandoned
from .errors import RatingError
from .forms import LinksForm
from .identity import preview_token
from .links import links_create


@staff_required
@require_POST
def preview(request: HttpRequest, slug: str) -> HttpResponse:
    """Take the test as a rater would, from any tab: the same pages and clips, but no
    session is used up and nothing enters screening, results or exports."""
    experiment = get_object_or_404(Experiment, slug=slug)
    if not Design.objects.filter(experiment=experiment).exists():
        messages.error(
            request, "Build the sessions first (Sessions tab): there is nothing to take."
        )
        return redirect("design:overview", slug=slug)
    take = reverse("rating:take", args=[slug])
    return redirect(f"{take}?{urlencode({'preview': preview_token(experiment.pk)})}")


@staff_required
def release_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Give abandoned sessions back to the pool now, rather than at the next periodic
    release: GET says how many, POST (its confirmation) does it."""
    experiment = get_object_or_404(Experiment, slug=slug)
    if request.method == "POST":
        released = assignments_release_abandoned(experiment=experiment)
        messages.success(request, f"{released} abandoned session(s) are back in the pool.")
        return redirect("design:overview", slug=slug)
    context = {
        "experiment": experiment,
        "abandoned": assignments_abandoned_count(experiment=experiment),
        "minutes": experiment.config.session_timeout_minutes,
    }
    return render(request, "rating/release_confirm.html", context)


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
