"""Login throttling (django-axes): wrong passwords lock the account out from that address
for a while, on the staff login and the admin's; others and other addresses are not."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from pytest_django import Settings

from crowdtest.access import client_ip

pytestmark = pytest.mark.django_db

PASSWORD = "listen-carefully-42"


def attempt(client: Client, password: str, *, path: str = "/login/", **extra: Any) -> Any:
    return client.post(path, {"username": "experimenter", "password": password}, **extra)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_fifty_wrong_passwords_then_the_right_one_does_not_log_in(
    client: Client, staff_user: User, settings: Settings
) -> None:
    for _ in range(50):
        attempt(client, "wrong-guess")
    locked = attempt(client, PASSWORD)
    assert locked.status_code == 429
    assert b"Too many failed log-ins" in locked.content
    assert not logged_in(client)
    # The admin's login counts the same failures.
    admin = attempt(client, PASSWORD, path="/admin/login/")
    assert admin.status_code == 429 and not logged_in(client)


def test_a_few_mistakes_are_forgiven_and_reset_by_the_right_password(
    client: Client, staff_user: User, settings: Settings
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "typo").status_code == 200  # the form again, with its error
    assert attempt(client, PASSWORD).status_code == 302
    assert logged_in(client)
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "typo")
    assert attempt(client, PASSWORD).status_code == 302  # the count started again


def test_a_lockout_holds_one_address_not_the_account_everywhere(
    client: Client, staff_user: User, settings: Settings
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "wrong", REMOTE_ADDR="203.0.113.9")
    assert attempt(client, PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 429
    assert attempt(client, PASSWORD, REMOTE_ADDR="198.51.100.4").status_code == 302


def test_the_client_address_comes_from_the_trusted_proxy_only(settings: Settings) -> None:
    settings.TRUSTED_PROXY_IPS = ["127.0.0.1"]
    factory = RequestFactory()
    proxied = factory.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 5.6.7.8")
    assert client_ip(proxied) == "5.6.7.8"  # the address nginx saw, not one the client wrote
    direct = factory.get("/", REMOTE_ADDR="9.9.9.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(direct) == "9.9.9.9"
