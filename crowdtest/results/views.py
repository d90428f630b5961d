"""The Results tab: dashboard, live figures, MOS table, sessions with overrides, plots and
export downloads. Staff only; downloads need `corpus.export_experiment`, overrides
`results.override_verdict` (admins have both)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from crowdtest.access import (
    EXPORT_PERMISSION,
    export_access,
    permission_required,
    staff_required,
)
from crowdtest.corpus.models import Experiment
from crowdtest.exports import REGISTRY, export_names
from crowdtest.jobs.models import Job
from crowdtest.rating.models import Assignment

from . import dashboard as figures
from . import exports, plots, selectors
from .comparisons import comparison_points
from .forms import OVERRIDE_CHOICES, OverrideForm
from .services import ResultsError, results_refresh_start, verdict_override
from .services.mos import REFRESH_JOB

OVERRIDE_PERMISSION = "results.override_verdict"
RATERS_SHOWN = 200


def _experiment(slug: str) -> Experiment:
    return get_object_or_404(Experiment, slug=slug)


@staff_required
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = _experiment(slug)
    overview = figures.overview(experiment=experiment)
    context = {
        "experiment": experiment,
        "overview": overview,
        "dist": figures.distributions(experiment=experiment, stimuli_rated=overview.stimuli_rated),
        "raters": selectors.rater_report(experiment=experiment, limit=RATERS_SHOWN),
        "raters_shown": RATERS_SHOWN,
        "jobs": Job.objects.filter(scope=experiment.job_scope, kind=REFRESH_JOB)[:1],
        "exports": [REGISTRY[name] for name in export_names()],
        "can_export": request.user.has_perm(EXPORT_PERMISSION),
        "mos_points": selectors.mos_points(experiment=experiment),
        "comparison": comparison_points(experiment=experiment),
        "reliability": selectors.reliability_report(experiment=experiment),
    }
    return render(request, "results/dashboard.html", context)


@staff_required
def raters_live_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Who is taking the test now: stage, time, the platform's ids, verdict once known."""
    experiment = _experiment(slug)
    context = {"experiment": experiment, "rows": selectors.raters_live(experiment=experiment)}
    return render(request, "results/raters_live.html", context)


@staff_required
def raters_live_json(request: HttpRequest, slug: str) -> JsonResponse:
    return JsonResponse({"rows": selectors.raters_live(experiment=_experiment(slug))})


@staff_required
def live(request: HttpRequest, slug: str) -> JsonResponse:
    """What the dashboard polls while a test runs."""
    experiment = _experiment(slug)
    overview = figures.overview(experiment=experiment)
    dist = figures.distributions(experiment=experiment, stimuli_rated=overview.stimuli_rated)
    return JsonResponse(
        {
            **overview.as_json(),
            "votes_mean": round(dist.votes_mean, 2),
            "ci_full_mean": None if dist.ci_full_mean is None else round(dist.ci_full_mean, 3),
            "saturated": dist.saturated,
        }
    )


@staff_required
@require_POST
def refresh(request: HttpRequest, slug: str) -> HttpResponse:
    results_refresh_start(experiment=_experiment(slug), created_by=request.user)
    return redirect("results:dashboard", slug=slug)


@staff_required
def mos_list(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = _experiment(slug)
    rows = sorted(selectors.mos_table(experiment=experiment), key=lambda r: r.mos)
    return render(request, "results/mos.html", {"experiment": experiment, "rows": rows})


@staff_required
def session_list(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = _experiment(slug)
    page = Paginator(selectors.session_report(experiment=experiment), 50).get_page(
        request.GET.get("page")
    )
    context = {
        "experiment": experiment,
        "page": page,
        "can_override": request.user.has_perm(OVERRIDE_PERMISSION),
        "override_choices": OVERRIDE_CHOICES,
    }
    return render(request, "results/sessions.html", context)


@permission_required(OVERRIDE_PERMISSION)
@require_POST
def session_override(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    assignment = get_object_or_404(Assignment, pk=assignment_id, experiment__slug=slug)
    form = OverrideForm(request.POST)
    if not form.is_valid():
        problems = [f"{name}: {' '.join(map(str, errors))}" for name, errors in form.errors.items()]
        messages.error(request, f"The override was not recorded ({'; '.join(problems)}).")
    else:
        try:
            verdict_override(
                assignment=assignment,
                valid=form.valid_value(),
                note=form.cleaned_data["note"],
                by=request.user,
            )
            messages.success(request, f"Session {assignment.pk}: override recorded.")
        except ResultsError as exc:
            messages.error(request, str(exc))
    return redirect("results:session_list", slug=slug)


def _png(content: bytes) -> HttpResponse:
    response = HttpResponse(content, content_type="image/png")
    response["Cache-Control"] = "private, no-cache"
    return response


@staff_required
def plot_mos(request: HttpRequest, slug: str) -> HttpResponse:
    """Figure 1 as a PNG, or `?format=svg` to download for a paper."""
    fmt = request.GET.get("format", "png")
    if fmt not in plots.FORMATS:
        return HttpResponse("format must be png or svg", status=400, content_type="text/plain")
    mos, ci = selectors.mos_plot_data(experiment=_experiment(slug))
    response = _png(plots.mos_sorted_png(mos, ci, fmt))
    response["Content-Type"] = plots.FORMATS[fmt]
    if fmt == "svg":
        response["Content-Disposition"] = f'attachment; filename="{slug}-mos.svg"'
    return response


@staff_required
def plot_progress(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = _experiment(slug)
    series = figures.progress_series(experiment=experiment)
    return _png(
        plots.progress_png(
            series.times,
            series.votes,
            series.votes_valid,
            series.ci_full_mean,
            experiment.config.target_ci_width,
        )
    )


@export_access
def export_download(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    if name not in REGISTRY:
        raise Http404(f"No export file {name}.")
    filename, text = exports.export_download(_experiment(slug), name)
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@export_access
def export_zip(request: HttpRequest, slug: str) -> HttpResponse:
    filename, content = exports.export_zip(_experiment(slug))
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
