"""The staff Sessions page: summary, build button with its job, prompt uploads, links;
and the admin, which shows answer keys to admins only."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
import soundfile
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from crowdtest.design.models import GoldClip, Prompt, Trap
from crowdtest.jobs.models import Job
from crowdtest.rating.models import DirectLink
from tests.conftest import IN_CI
from tests.crowdtest.rating.designs import make_design
from tests.factories import ExperimentFactory

pytestmark = pytest.mark.django_db


def wav(seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(buffer, 0.3 * np.sin(2 * np.pi * 300 * t), rate, format="WAV")
    return buffer.getvalue()


def test_the_page_needs_a_staff_account(client: Client, django_user_model: type[User]) -> None:
    experiment = ExperimentFactory()
    url = reverse("design:overview", args=[experiment.slug])
    assert "/login/" in client.get(url)["Location"]
    user = django_user_model.objects.create_user(username="someone", password="x-12345678")
    client.force_login(user)
    assert client.get(url).status_code == 403


def test_the_page_summarises_the_design(staff_client: Client) -> None:
    built = make_design()
    response = staff_client.get(reverse("design:overview", args=[built.experiment.slug]))
    assert response.status_code == 200
    summary = response.context["summary"]
    assert summary["sessions"] == {"total": 6, "open": 6, "active": 0, "done": 0, "retired": 0}
    assert summary["traps"] == 5 and len(summary["training"]) == 3
    assert summary["session_shapes"] == [((6, 1, 0), 6)]  # stimuli, traps, gold
    page = response.content.decode()
    assert "6 rating sessions of 3 clusters \N{MULTIPLICATION SIGN} 2 stimuli" in page
    assert 'href="/experiments/' in page and ">Sessions<" in page


def test_the_build_button_starts_a_job_or_says_why_not(staff_client: Client) -> None:
    experiment = ExperimentFactory()
    url = reverse("design:build", args=[experiment.slug])
    response = staff_client.post(url, {"votes_per_stimulus": "", "seed": ""}, follow=True)
    assert "not clustered yet" in response.content.decode()
    assert not Job.objects.filter(scope=experiment.job_scope).exists()


@pytest.mark.skipif(shutil.which("ffmpeg") is None and not IN_CI, reason="needs ffmpeg")
def test_an_uploaded_prompt_replaces_the_synthesised_one(staff_client: Client) -> None:
    experiment = ExperimentFactory()
    url = reverse("design:prompt_upload", args=[experiment.slug])
    upload = SimpleUploadedFile("three.wav", wav(0.6), content_type="audio/wav")
    response = staff_client.post(url, {"key": "digit-3", "audio": upload}, follow=True)
    assert "now uses your recording" in response.content.decode()
    prompt = Prompt.objects.get(experiment=experiment, key="digit-3")
    assert prompt.source == "uploaded" and prompt.text == "three"
    audio = staff_client.get(reverse("design:prompt_audio", args=[experiment.slug, "digit-3"]))
    assert audio.status_code == 200
    first = prompt.audio.name
    again = SimpleUploadedFile("three-b.wav", wav(0.5), content_type="audio/wav")
    staff_client.post(url, {"key": "digit-3", "audio": again})
    prompt.refresh_from_db()
    assert prompt.audio.name != first
    reset = reverse("design:prompt_reset", args=[experiment.slug, "digit-3"])
    staff_client.post(reset)
    assert not Prompt.objects.filter(experiment=experiment).exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("noise.wav", b"not audio at all", "can&#x27;t be read"),
        ("long.wav", None, "may last at most 3 s"),
        ("silent.wav", b"silence", "silent"),
    ],
)
def test_a_bad_recording_is_refused(
    staff_client: Client, name: str, content: bytes | None, message: str
) -> None:
    experiment = ExperimentFactory()
    if content is None:
        content = wav(4.0)
    elif content == b"silence":
        buffer = io.BytesIO()
        soundfile.write(buffer, np.zeros(8000), 16000, format="WAV")
        content = buffer.getvalue()
    upload = SimpleUploadedFile(name, content, content_type="audio/wav")
    url = reverse("design:prompt_upload", args=[experiment.slug])
    response = staff_client.post(url, {"key": "digit-4", "audio": upload}, follow=True)
    assert message in response.content.decode()
    assert not Prompt.objects.exists()


def test_links_are_made_and_listed(staff_client: Client) -> None:
    experiment = make_design().experiment
    url = reverse("rating_staff:links_create", args=[experiment.slug])
    staff_client.post(url, {"participants": "2"})
    staff_client.post(url, {"participants": ""})
    response = staff_client.get(reverse("design:overview", args=[experiment.slug]))
    links = response.context["links"]
    assert len(links) == 3 == DirectLink.objects.count()
    assert {link["participant"] for link in links} >= {"(open link)"}
    assert all(f"/take/{experiment.slug}/?t=" in link["url"] for link in links)


def test_answer_keys_in_the_admin_are_for_admins_only(
    client: Client, django_user_model: type[User], admin_user_account: User
) -> None:
    built = make_design(gold=True)
    trap = Trap.objects.filter(experiment=built.experiment).first()
    gold = GoldClip.objects.filter(experiment=built.experiment).first()
    assert trap is not None and gold is not None
    staff = django_user_model.objects.create_user(
        username="staffer", password="x-12345678", is_staff=True
    )
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_trap", "view_goldclip", "view_digitsclip", "view_assignment"]
        )
    )
    pages = {
        "trap": reverse("admin:design_trap_change", args=[trap.pk]),
        "gold clip": reverse("admin:design_goldclip_change", args=[gold.pk]),
    }
    client.force_login(staff)
    for name, url in pages.items():
        page = client.get(url)
        assert page.status_code == 200 and "field-answer" not in page.content.decode(), name
    listing = client.get(reverse("admin:design_digitsclip_changelist")).content.decode()
    assert "column-digits" not in listing
    listing = client.get(reverse("admin:design_goldclip_changelist")).content.decode()
    assert "column-answer" not in listing and "column-source" in listing
    # Nor can a filter in the URL tell the keys by what it keeps.
    for url in (
        reverse("admin:design_trap_changelist") + "?answer=5",
        reverse("admin:design_trap_changelist") + "?answer__in=1,2",
        reverse("admin:design_goldclip_changelist") + "?answer__lt=0",
        reverse("admin:design_digitsclip_changelist") + "?digits__startswith=1",
        reverse("admin:rating_assignment_changelist") + "?math_answer=10",
    ):
        assert client.get(url).status_code == 400, url
    client.force_login(admin_user_account)
    for name, url in pages.items():
        assert "field-answer" in client.get(url).content.decode(), name
    listing = client.get(reverse("admin:design_digitsclip_changelist")).content.decode()
    assert "column-digits" in listing
    listing = client.get(reverse("admin:design_goldclip_changelist")).content.decode()
    assert "column-answer" in listing
    assert client.get(reverse("admin:design_trap_changelist") + "?answer=5").status_code == 200


def test_the_sessions_tab_warns_when_no_session_is_open(staff_client: Client) -> None:
    from crowdtest.design.models import Session

    experiment = make_design().experiment
    url = reverse("design:overview", args=[experiment.slug])
    assert 'id="no-open-sessions"' not in staff_client.get(url).content.decode()
    Session.objects.filter(experiment=experiment).update(status=Session.Status.DONE)
    html = staff_client.get(url).content.decode()
    assert 'id="no-open-sessions"' in html and "Preview as a rater" in html
    assert '<a href="' + url + '" aria-current="page">Sessions</a>' in html


def test_abandoned_sessions_are_released_from_the_sessions_tab_after_a_confirmation(
    client: Client, staff_client: Client
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from crowdtest.design.models import Session
    from crowdtest.rating.models import Assignment
    from tests.crowdtest.rating.designs import RaterClient

    experiment = make_design().experiment
    RaterClient(Client(), experiment, "left").post("consent")
    RaterClient(Client(), experiment, "here").post("consent")
    late = timezone.now() - timedelta(minutes=experiment.config.session_timeout_minutes + 5)
    Assignment.objects.filter(rater__external_id="left").update(last_seen_at=late)
    overview = staff_client.get(reverse("design:overview", args=[experiment.slug])).content
    assert b'id="release-link"' in overview
    url = reverse("rating_staff:release", args=[experiment.slug])
    page = staff_client.get(url).content.decode()
    assert "1 session</strong> has been silent for longer than" in page
    assert Session.objects.filter(status=Session.Status.ACTIVE).count() == 2  # nothing yet
    staff_client.post(url)
    assert Session.objects.filter(status=Session.Status.ACTIVE).count() == 1
    assert Assignment.objects.get(rater__external_id="left").status == "abandoned"
    assert Assignment.objects.get(rater__external_id="here").status == "active"
    assert Client().post(url).status_code == 302  # staff only
