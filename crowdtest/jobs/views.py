from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from crowdtest.access import staff_required

from .access import may_cancel_job
from .models import Job
from .selectors import job_progress
from .services import JobError, job_request_cancel


@staff_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(Job, pk=job_id)
    context = {
        "job": job,
        "progress": job_progress(job=job),
        "may_cancel": may_cancel_job(request.user, job),
    }
    return render(request, "jobs/detail.html", context)


@staff_required
def job_status(request: HttpRequest, job_id: int) -> JsonResponse:
    """A job's progress for the pages that poll it: JSON, a missing job's 404 too."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return JsonResponse({"error": "No such job.", "code": "not_found"}, status=404)
    return JsonResponse(job_progress(job=job))


@staff_required
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(Job, pk=job_id)
    if not may_cancel_job(request.user, job):
        raise PermissionDenied("Cancelling this job needs the permission its start needs.")
    try:
        job_request_cancel(job_id=job_id)
        messages.info(request, "Cancellation requested; the job stops at its next step.")
    except (JobError, Job.DoesNotExist) as exc:
        messages.error(request, str(exc))
    return redirect("jobs:detail", job_id=job_id)
