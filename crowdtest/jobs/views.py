from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .models import Job
from .selectors import job_progress
from .services import JobError, job_request_cancel


@login_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(Job, pk=job_id)
    return render(request, "jobs/detail.html", {"job": job, "progress": job_progress(job=job)})


@login_required
def job_status(request: HttpRequest, job_id: int) -> JsonResponse:
    job = get_object_or_404(Job, pk=job_id)
    return JsonResponse(job_progress(job=job))


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        job_request_cancel(job_id=job_id)
        messages.info(request, "Cancellation requested; the job stops at its next step.")
    except (JobError, Job.DoesNotExist) as exc:
        messages.error(request, str(exc))
    return redirect("jobs:detail", job_id=job_id)
