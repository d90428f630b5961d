"""Staff pages of w2vMOS runs: the list with the start form and a Table 1/2-style
comparison, a run's live progress, folds, final table and plots, cancel, resume, and
archive scoring."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from crowdtest.access import export_access, staff_required
from crowdtest.corpus.models import Experiment
from crowdtest.jobs.services import JobError

from . import plots, selectors
from .forms import RunStartForm, ScoreForm
from .models import ModelRun
from .services import TrainingError, run_cancel, run_resume, run_start, scoring_start


@staff_required
def run_list(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    form = RunStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = run_start(experiment=experiment, **form.cleaned_data, created_by=request.user)
            return redirect("training:run_detail", slug=slug, run_id=run.pk)
        except TrainingError as exc:
            form.add_error(None, str(exc))
    runs = list(selectors.experiment_runs(experiment=experiment))
    context = {
        "experiment": experiment,
        "runs": runs,
        "table": selectors.comparison_rows(runs) + selectors.paper_rows(),
        "pra_runs": [row.run for row in selectors.comparison_rows(runs)],
        "form": form,
    }
    return render(request, "training/run_list.html", context)


@staff_required
def run_detail(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = selectors.run_for_page(slug=slug, run_id=run_id)
    context = {
        "experiment": run.experiment,
        "run": run,
        "folds": selectors.fold_rows(run),
        "table": selectors.comparison_rows([run]) + selectors.paper_rows(),
        "score_form": ScoreForm(),
    }
    return render(request, "training/run_detail.html", context)


@staff_required
@require_POST
def run_cancel_view(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = get_object_or_404(ModelRun, pk=run_id, experiment__slug=slug)
    try:
        run = run_cancel(run=run)
        messages.info(
            request,
            "Run cancelled."
            if run.is_finished
            else "Cancellation requested; training stops at its next batch.",
        )
    except (TrainingError, JobError) as exc:
        messages.error(request, str(exc))
    return redirect("training:run_detail", slug=slug, run_id=run_id)


@staff_required
@require_POST
def run_resume_view(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = get_object_or_404(ModelRun, pk=run_id, experiment__slug=slug)
    try:
        run_resume(run=run, created_by=request.user)
        messages.info(request, "Resumed: finished folds are kept, the others continue.")
    except TrainingError as exc:
        messages.error(request, str(exc))
    return redirect("training:run_detail", slug=slug, run_id=run_id)


def _png(content: bytes) -> HttpResponse:
    response = HttpResponse(content, content_type="image/png")
    response["Cache-Control"] = "private, no-cache"
    return response


@staff_required
def run_plot(request: HttpRequest, slug: str, run_id: int, name: str) -> HttpResponse:
    run, folds = selectors.run_plot_data(slug=slug, run_id=run_id)
    if name == "pra":
        return _png(plots.pra_pairs_png(folds, title=run.name))
    if name not in plots.PLOTS:
        raise Http404(f"No plot {name}.")
    return _png(plots.PLOTS[name](folds))


@staff_required
@require_POST
def scoring_start_view(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = get_object_or_404(ModelRun, pk=run_id, experiment__slug=slug)
    form = ScoreForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Invalid scoring settings: {form.errors.as_text()}")
        return redirect("training:run_detail", slug=slug, run_id=run_id)
    try:
        scoring_start(run=run, **form.cleaned_data, created_by=request.user)
    except TrainingError as exc:
        messages.error(request, str(exc))
    return redirect("training:run_detail", slug=slug, run_id=run_id)


@export_access
def scoring_download(request: HttpRequest, slug: str, scoring_id: int) -> FileResponse:
    scoring = selectors.scoring_for_download(slug=slug, scoring_id=scoring_id)
    if not scoring.output:
        raise Http404("This scoring has no CSV (yet).")
    name = f"{slug}-quality-run{scoring.run_id}-{scoring.pk}.csv"
    return FileResponse(
        scoring.output.open("rb"), as_attachment=True, filename=name, content_type="text/csv"
    )
