from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from crowdtest.access import staff_required
from crowdtest.jobs.selectors import jobs_for_scope

from . import selectors
from .forms import ClusterForm, ExperimentCreateForm, SettingsForm, TrackUploadForm, VersionsForm
from .models import Clustering, Experiment, Stimulus
from .services import (
    CorpusError,
    deliveries_encode,
    experiment_create,
    experiment_update_settings,
    stimuli_cluster,
    stimuli_prepare,
    tracks_set_versions,
    tracks_upload,
)


@staff_required
def experiment_list(request: HttpRequest) -> HttpResponse:
    form = ExperimentCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            experiment = experiment_create(**form.cleaned_data, created_by=request.user)
            return redirect("corpus:experiment_detail", slug=experiment.slug)
        except CorpusError as exc:
            form.add_error(None, str(exc))
    context = {"experiments": selectors.experiment_list(), "form": form}
    return render(request, "corpus/experiment_list.html", context)


@staff_required
def experiment_detail(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    context = {
        "experiment": experiment,
        "counts": selectors.corpus_counts(experiment=experiment),
        "clustering": selectors.current_clustering(experiment=experiment),
        "clusters": selectors.cluster_table(experiment=experiment),
        "problems": selectors.problem_tracks(experiment=experiment, limit=50),
        "jobs": jobs_for_scope(scope=experiment.job_scope, limit=5),
        "upload_form": TrackUploadForm(),
        "cluster_form": ClusterForm(initial={"k": experiment.config.n_clusters}),
        "versions_form": VersionsForm(),
        "versions": selectors.track_versions(experiment=experiment),
    }
    return render(request, "corpus/experiment_detail.html", context)


@staff_required
@require_POST
def track_versions(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    form = VersionsForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Give the versions as CSV lines: {form.errors.as_text()}")
        return redirect("corpus:experiment_detail", slug=slug)
    try:
        changed = tracks_set_versions(experiment=experiment, text=form.cleaned_data["lines"])
        messages.success(request, f"{changed} track(s) changed.")
    except CorpusError as exc:
        messages.error(request, str(exc))
    return redirect("corpus:experiment_detail", slug=slug)


@staff_required
def experiment_settings(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    current = experiment.config.to_dict()
    form = SettingsForm(request.POST or None, initial=current, current=current)
    if request.method == "POST" and form.is_valid():
        try:
            experiment_update_settings(experiment=experiment, changes=form.cleaned_data)
            messages.success(request, "Settings saved.")
            return redirect("corpus:experiment_detail", slug=slug)
        except CorpusError as exc:
            form.add_error(None, str(exc))
    return render(request, "corpus/settings.html", {"experiment": experiment, "form": form})


@staff_required
@require_POST
def track_upload(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    form = TrackUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose one or more audio files to upload.")
        return redirect("corpus:experiment_detail", slug=slug)
    report = tracks_upload(experiment=experiment, files=form.cleaned_data["files"])
    if report.errors:
        messages.warning(request, f"{report.summary()}: the files below were not added.")
    else:
        messages.success(request, report.summary())
    for name, error in report.errors:
        messages.error(request, f"{name}: {error}")
    return redirect("corpus:experiment_detail", slug=slug)


@staff_required
@require_POST
def stimuli_prepare_view(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    job = stimuli_prepare(
        experiment=experiment, retry_failed="retry_failed" in request.POST, created_by=request.user
    )
    if job is None:
        messages.info(request, "Nothing to prepare: every usable track has its stimulus.")
    return redirect("corpus:experiment_detail", slug=slug)


@staff_required
@require_POST
def stimuli_cluster_view(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    form = ClusterForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Invalid clustering settings: {form.errors.as_text()}")
        return redirect("corpus:experiment_detail", slug=slug)
    try:
        stimuli_cluster(experiment=experiment, **form.cleaned_data)
    except CorpusError as exc:
        messages.error(request, str(exc))
    else:
        deliveries_encode(experiment=experiment, created_by=request.user)
    return redirect("corpus:experiment_detail", slug=slug)


@staff_required
def stimulus_list(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    rows = selectors.stimulus_rows(experiment=experiment)
    return render(request, "corpus/stimuli.html", {"experiment": experiment, "stimuli": rows})


@staff_required
def clustering_plot(request: HttpRequest, slug: str, clustering_id: int) -> FileResponse:
    clustering = get_object_or_404(Clustering, pk=clustering_id, experiment__slug=slug)
    if not clustering.plot:
        raise Http404("No plot for this clustering.")
    return FileResponse(clustering.plot.open("rb"), content_type="image/png")


@staff_required
def stimulus_audio(request: HttpRequest, slug: str, stimulus_id: int) -> FileResponse:
    """Staff preview of a stimulus: its delivery file, or its FLAC master before encoding."""
    stimulus = get_object_or_404(
        Stimulus, pk=stimulus_id, experiment__slug=slug, status=Stimulus.Status.READY
    )
    if stimulus.delivery:
        return FileResponse(stimulus.delivery.open("rb"), content_type="audio/mp4")
    return FileResponse(stimulus.master.open("rb"), content_type="audio/flac")
