from __future__ import annotations

from typing import Any

from .models import Job


def job_progress(*, job: Job) -> dict[str, Any]:
    """What the progress page polls: counts, status and the Celery task state."""
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "percent": job.percent,
        "message": job.message,
        "detail": job.detail,
        "error": job.error,
        "finished": job.is_finished,
        "cancel_requested": job.cancel_requested,
        "celery_state": celery_state(job.celery_task_id),
        "updated_at": job.updated_at.isoformat(),
    }


def celery_state(task_id: str) -> str | None:
    """Celery's own view of the task, when a result backend is configured."""
    from django.conf import settings

    if not task_id or not settings.CELERY_RESULT_BACKEND:
        return None
    from celery.result import AsyncResult

    try:
        return str(AsyncResult(task_id).state)
    except Exception:  # the backend being down must not break the page
        return "UNKNOWN"


def jobs_for_scope(*, scope: str, limit: int = 20) -> list[Job]:
    return list(Job.objects.filter(scope=scope).order_by("-created_at")[:limit])
