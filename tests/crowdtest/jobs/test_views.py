"""Job pages: staff only, and a job whose start needs a permission can be cancelled only
by those who hold it."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from crowdtest.jobs.models import Job
from crowdtest.jobs.services import job_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync_job() -> Job:
    return job_create(kind="platform_sync", scope="experiment:1")


@pytest.fixture
def pay_job() -> Job:
    return job_create(kind="platform_pay", scope="experiment:1")


def login(client: Client, user_model: Any, name: str, *, staff: bool) -> Any:
    user = user_model.objects.create_user(username=name, password="x-long-pass-9", is_staff=staff)
    client.force_login(user)
    return user


def test_an_account_without_staff_can_neither_read_nor_cancel_a_job(
    client: Client, django_user_model: type[User], sync_job: Job
) -> None:
    login(client, django_user_model, "rater-account", staff=False)
    assert client.get(f"/jobs/{sync_job.pk}/").status_code == 403
    assert client.get(f"/jobs/{sync_job.pk}/status.json").status_code == 403
    assert client.post(f"/jobs/{sync_job.pk}/cancel/").status_code == 403
    sync_job.refresh_from_db()
    assert not sync_job.cancel_requested


def test_signed_out_visitors_are_sent_to_the_login(client: Client, sync_job: Job) -> None:
    for response in (
        client.get(f"/jobs/{sync_job.pk}/"),
        client.post(f"/jobs/{sync_job.pk}/cancel/"),
    ):
        assert response.status_code == 302 and "/login" in response["Location"]
    sync_job.refresh_from_db()
    assert not sync_job.cancel_requested


def test_the_polled_status_of_a_missing_job_is_a_json_404(
    client: Client, django_user_model: type[User], sync_job: Job
) -> None:
    login(client, django_user_model, "experimenter", staff=True)
    assert client.get(f"/jobs/{sync_job.pk}/status.json").json()["kind"] == "platform_sync"
    missing = client.get(f"/jobs/{sync_job.pk + 1}/status.json")
    assert missing.status_code == 404
    assert missing.json() == {"error": "No such job.", "code": "not_found"}


def test_staff_cancel_a_job_anyone_on_staff_may_start(
    client: Client, django_user_model: type[User], sync_job: Job
) -> None:
    login(client, django_user_model, "experimenter", staff=True)
    page = client.get(f"/jobs/{sync_job.pk}/")
    assert page.status_code == 200 and b"Cancel</button>" in page.content
    assert client.post(f"/jobs/{sync_job.pk}/cancel/").status_code == 302
    sync_job.refresh_from_db()
    assert sync_job.cancel_requested


def test_a_payment_job_is_cancelled_only_with_the_payment_permission(
    client: Client, django_user_model: type[User], pay_job: Job
) -> None:
    user = login(client, django_user_model, "experimenter", staff=True)
    page = client.get(f"/jobs/{pay_job.pk}/")
    assert page.status_code == 200 and b"Cancel</button>" not in page.content
    assert client.post(f"/jobs/{pay_job.pk}/cancel/").status_code == 403
    pay_job.refresh_from_db()
    assert not pay_job.cancel_requested

    user.user_permissions.add(Permission.objects.get(codename="execute_payments"))
    client.force_login(django_user_model.objects.get(pk=user.pk))
    assert client.post(f"/jobs/{pay_job.pk}/cancel/").status_code == 302
    pay_job.refresh_from_db()
    assert pay_job.cancel_requested
