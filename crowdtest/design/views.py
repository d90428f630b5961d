from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from crowdtest.access import staff_required
from crowdtest.corpus.models import Experiment
from crowdtest.jobs.selectors import jobs_for_scope

from . import selectors
from .clips import DIGIT_KEYS, prompt_text, trap_keys
from .forms import BuildForm, PromptUploadForm
from .models import Prompt
from .services import DesignError, design_build_start, prompt_reset, prompt_upload
from .services.comparisons import comparison_problems


@staff_required
def overview(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    prompts = selectors.prompts_by_key(experiment=experiment)
    method = experiment.config.test_method
    context = {
        "experiment": experiment,
        "method": method,
        "comparison_problems": comparison_problems(experiment=experiment),
        "summary": selectors.design_summary(experiment=experiment),
        "prompts": [
            (key, language, prompt_text(key, language), prompts.get((key, language)))
            for language in experiment.config.language_codes
            for key in DIGIT_KEYS + trap_keys(method)
        ],
        "jobs": [
            j for j in jobs_for_scope(scope=experiment.job_scope) if j.kind == "build_sessions"
        ][:3],
        "build_form": BuildForm(),
        "upload_form": PromptUploadForm(languages=experiment.config.language_codes),
    }
    return render(request, "design/overview.html", context)


@staff_required
@require_POST
def build(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    form = BuildForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Invalid build settings: {form.errors.as_text()}")
        return redirect("design:overview", slug=slug)
    try:
        design_build_start(experiment=experiment, **form.cleaned_data, created_by=request.user)
    except DesignError as exc:
        messages.error(request, str(exc))
    return redirect("design:overview", slug=slug)


@staff_required
@require_POST
def prompt_upload_view(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    form = PromptUploadForm(request.POST, request.FILES, languages=experiment.config.language_codes)
    if not form.is_valid():
        messages.error(request, f"Choose a prompt and a recording: {form.errors.as_text()}")
        return redirect("design:overview", slug=slug)
    try:
        prompt = prompt_upload(
            experiment=experiment,
            key=form.cleaned_data["key"],
            upload=form.cleaned_data["audio"],
            language=form.cleaned_data["language"] or None,
        )
        messages.success(
            request,
            f"{prompt.key} ({prompt.language}) now uses your recording (from the next build).",
        )
    except DesignError as exc:
        messages.error(request, str(exc))
    return redirect("design:overview", slug=slug)


@staff_required
@require_POST
def prompt_reset_view(request: HttpRequest, slug: str, key: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    try:
        prompt_reset(experiment=experiment, key=key, language=request.POST.get("language"))
        messages.success(request, f"{key} will be spoken again by the next build.")
    except DesignError as exc:
        messages.error(request, str(exc))
    return redirect("design:overview", slug=slug)


@staff_required
def prompt_audio(request: HttpRequest, slug: str, key: str) -> FileResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    language = request.GET.get("language") or experiment.config.language_codes[0]
    prompt = get_object_or_404(Prompt, experiment=experiment, key=key, language=language)
    if not prompt.audio:
        raise Http404("No audio for this prompt.")
    return FileResponse(prompt.audio.open("rb"))
