"""The Platform tab: where the sessions are offered, what they cost, sync, payments."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from crowdtest.access import permission_required, staff_required
from crowdtest.corpus.models import Experiment
from crowdtest.corpus.services import CorpusError, experiment_update_settings
from crowdtest.jobs.dispatch import enqueue
from crowdtest.jobs.selectors import jobs_for_scope
from crowdtest.jobs.services import job_create
from crowdtest.rating.links import has_open_link

from . import selectors
from .errors import PlatformError
from .forms import PlatformChoiceForm
from .models import Publication
from .services.control import ControlPlan, publication_control, publication_control_plan
from .services.publish import PublishOptions, PublishPlan, publication_create, publication_plan
from .tasks import execute_payments_task, sync_platform_task

EXECUTE_PAYMENTS = "platforms.execute_payments"
PUBLISH = "platforms.add_publication"
JOB_KINDS = ("platform_sync", "platform_pay")


@staff_required
def overview(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    context = selectors.platform_page(experiment=experiment)
    context["choice_form"] = PlatformChoiceForm(initial={"platform": context["platform"]})
    context["can_execute"] = request.user.has_perm(EXECUTE_PAYMENTS)
    context["can_publish"] = request.user.has_perm(PUBLISH)
    scope = jobs_for_scope(scope=experiment.job_scope)
    context["jobs"] = [j for j in scope if j.kind in JOB_KINDS][:3]
    context["open_link"] = context["platform"] == "link" or has_open_link(experiment=experiment)
    return render(request, "platforms/overview.html", context)


@staff_required
@require_POST
def choose(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    form = PlatformChoiceForm(request.POST)
    if form.is_valid():
        try:
            experiment_update_settings(experiment=experiment, changes=form.cleaned_data)
        except CorpusError as exc:
            messages.error(request, str(exc))
            return redirect("platforms:overview", slug=slug)
        messages.success(request, f"Sessions will be offered on {form.cleaned_data['platform']}.")
    else:
        messages.error(request, f"Choose a platform: {form.errors.as_text()}")
    return redirect("platforms:overview", slug=slug)


@staff_required
@require_POST
def sync(request: HttpRequest, slug: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, slug=slug)
    job = job_create(kind="platform_sync", scope=experiment.job_scope, created_by=request.user)
    enqueue(sync_platform_task, experiment_id=experiment.pk, job_id=job.pk)
    messages.success(request, "Syncing with the platform.")
    return redirect("platforms:overview", slug=slug)


def _publish_options(data: Any) -> PublishOptions:
    """The publishing form's choices: the platform, how many sessions, sandbox or live."""
    platform = str(data.get("platform", ""))
    if platform not in ("mturk", "prolific"):
        raise PlatformError("Choose MTurk or Prolific.")
    raw = str(data.get("sessions", "")).strip()
    try:
        sessions = int(raw) if raw else None
    except ValueError:
        raise PlatformError("The number of sessions must be a whole number.") from None
    if sessions is not None and not 1 <= sessions <= 100_000:
        raise PlatformError("Publish from 1 to 100,000 sessions.")
    sandbox = platform == "mturk" and data.get("sandbox") in ("1", "on", "true")
    return PublishOptions(platform=platform, sessions=sessions, sandbox=sandbox)


def _publish_fingerprint(plan: PublishPlan) -> str:
    o = plan.options
    return f"{o.platform}:{int(o.sandbox)}:{plan.sessions}:{plan.estimate.total}"


@permission_required(PUBLISH)
def publish_confirm(request: HttpRequest, slug: str) -> HttpResponse:
    """What publishing would buy, before anything is sent: sessions, the cost with fees,
    the session length raters are told, warnings; and the one button that publishes it."""
    experiment = get_object_or_404(Experiment, slug=slug)
    context: dict[str, Any] = {"experiment": experiment, "query": request.GET}
    try:
        plan = publication_plan(experiment=experiment, options=_publish_options(request.GET))
    except PlatformError as exc:
        messages.error(request, exc.message)
        return redirect("platforms:overview", slug=slug)
    context.update(plan=plan, fingerprint=_publish_fingerprint(plan))
    return render(request, "platforms/publish_confirm.html", context)


@permission_required(PUBLISH)
@require_POST
def publish(request: HttpRequest, slug: str) -> HttpResponse:
    """Publish what the confirmation page showed, and only that."""
    experiment = get_object_or_404(Experiment, slug=slug)
    try:
        options = _publish_options(request.POST)
        plan = publication_plan(experiment=experiment, options=options)
        if request.POST.get("confirm") != _publish_fingerprint(plan):
            messages.error(
                request,
                "What publishing would buy changed since it was shown (or it was not "
                "confirmed): check it again.",
            )
            again = {
                "platform": options.platform,
                "sessions": options.sessions or "",
                "sandbox": "1" if options.sandbox else "",
            }
            confirm = reverse("platforms:publish_confirm", args=[slug])
            return redirect(f"{confirm}?{urlencode(again)}")
        result = publication_create(experiment=experiment, options=options, by=request.user)
    except PlatformError as exc:
        messages.error(request, exc.message)
        return redirect("platforms:overview", slug=slug)
    where = f"{result.publication.platform}{' sandbox' if result.publication.sandbox else ''}"
    messages.success(
        request,
        f"Published {result.plan.sessions} sessions on {where} (publication "
        f"{result.publication.pk}), at most ${result.plan.estimate.total}.",
    )
    for warning in result.warnings:
        messages.warning(request, warning)
    return redirect("platforms:overview", slug=slug)


@permission_required(EXECUTE_PAYMENTS)
def pay_confirm(request: HttpRequest, slug: str) -> HttpResponse:
    """What executing the payments will send, to whom, on which platform and for how much,
    with the one button that sends exactly that."""
    experiment = get_object_or_404(Experiment, slug=slug)
    plan = selectors.payment_plan(experiment=experiment)
    context = {
        "experiment": experiment,
        "plan": plan,
        "counts": {kind: plan.count(kind) for kind in ("approve", "reject", "bonus")},
        "totals": {kind: plan.total(kind) for kind in ("approve", "bonus")},
    }
    return render(request, "platforms/pay_confirm.html", context)


@permission_required(EXECUTE_PAYMENTS)
@require_POST
def pay(request: HttpRequest, slug: str) -> HttpResponse:
    """Execute the payments the confirmation page showed, and only those."""
    experiment = get_object_or_404(Experiment, slug=slug)
    plan = selectors.payment_plan(experiment=experiment)
    if not (plan.items or plan.unfinished):
        messages.info(request, "There is nothing to pay.")
        return redirect("platforms:overview", slug=slug)
    if request.POST.get("plan") != plan.fingerprint():
        messages.error(
            request,
            "The payments changed since they were shown (or were not confirmed): check them "
            "again before executing.",
        )
        return redirect("platforms:pay_confirm", slug=slug)
    job = job_create(kind="platform_pay", scope=experiment.job_scope, created_by=request.user)
    enqueue(execute_payments_task, experiment_id=experiment.pk, job_id=job.pk)
    messages.success(request, "Sending the approvals, rejections and bonuses listed below.")
    return redirect("platforms:overview", slug=slug)


def _control_input(request: HttpRequest, slug: str, pk: int) -> tuple[Publication, int | None]:
    """The publication named in the URL (of this experiment) and, for "add", how many."""
    publication = get_object_or_404(
        Publication.objects.select_related("experiment"), pk=pk, experiment__slug=slug
    )
    raw = str(request.POST.get("sessions") or request.GET.get("sessions") or "").strip()
    try:
        return publication, int(raw) if raw else None
    except ValueError:
        raise PlatformError("The number of sessions must be a whole number.") from None


@permission_required(PUBLISH)
def control_confirm(request: HttpRequest, slug: str, pk: int, action: str) -> HttpResponse:
    """What adding sessions, pausing, resuming or closing a publication does, on which
    platform and for how much, before anything is sent."""
    try:
        publication, sessions = _control_input(request, slug, pk)
        plan = publication_control_plan(publication=publication, action=action, sessions=sessions)
    except PlatformError as exc:
        messages.error(request, exc.message)
        return redirect("platforms:overview", slug=slug)
    context = {"experiment": publication.experiment, "plan": plan, "p": publication}
    return render(request, "platforms/control_confirm.html", context)


@permission_required(PUBLISH)
@require_POST
def control(request: HttpRequest, slug: str, pk: int, action: str) -> HttpResponse:
    """Do what the confirmation page showed, and only that."""
    try:
        publication, sessions = _control_input(request, slug, pk)
        plan = publication_control(
            publication=publication,
            action=action,
            sessions=sessions,
            fingerprint=str(request.POST.get("confirm", "")),
        )
    except PlatformError as exc:
        messages.error(request, exc.message)
        return redirect("platforms:overview", slug=slug)
    messages.success(request, _control_done(plan))
    return redirect("platforms:overview", slug=slug)


def _control_done(plan: ControlPlan) -> str:
    p = plan.publication
    where = f"{p.platform}{' sandbox' if p.sandbox else ''}"
    if plan.action == "add" and plan.estimate is not None:
        return (
            f"Added {plan.sessions} sessions to publication {p.pk} on {where}, at most "
            f"${plan.estimate.total}; it now offers {p.sessions}."
        )
    return f"Publication {p.pk} on {where} is {p.status}."
