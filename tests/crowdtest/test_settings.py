"""Settings come from the environment; production settings pass `check --deploy`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    leaked = {
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "TASKS_IN_PROCESS",
        "CROWDTEST_INSECURE_DEFAULTS",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
    }
    base = {k: v for k, v in os.environ.items() if k not in leaked}
    base.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_value(expr: str, env: dict[str, str]) -> str:
    code = f"from django.conf import settings; print({expr})"
    result = run_manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_nothing_set_means_sqlite_and_in_process_tasks() -> None:
    env = {"DEBUG": "1"}
    assert settings_value("settings.DATABASES['default']['ENGINE']", env).endswith("sqlite3")
    assert settings_value("settings.TASKS_IN_PROCESS", env) == "thread"
    assert settings_value("repr(settings.CELERY_BROKER_URL)", env) == "''"


def test_database_and_broker_urls_switch_to_postgres_and_redis() -> None:
    env = {
        "DEBUG": "1",
        "DATABASE_URL": "postgres://u:p@db.example:5433/ct",
        "CELERY_BROKER_URL": "redis://cache.example:6379/2",
    }
    # Django's PostgreSQL backend with the pool's own health check (crowdtest/postgresql/)
    assert settings_value("settings.DATABASES['default']['ENGINE']", env) == (
        "crowdtest.postgresql"
    )
    assert settings_value("settings.DATABASES['default']['PORT']", env) == "5433"
    assert settings_value("settings.CELERY_RESULT_BACKEND", env) == "redis://cache.example:6379/2"
    assert settings_value("repr(settings.TASKS_IN_PROCESS)", env) == "''"


def test_postgresql_connections_come_from_a_checked_pool() -> None:
    env = {"DEBUG": "1", "DATABASE_URL": "postgres://u:p@db.example:5433/ct"}
    db = "settings.DATABASES['default']"
    found = settings_value(
        f"{db}['ENGINE'], {db}['OPTIONS']['pool']['max_size'], {db}['CONN_HEALTH_CHECKS']", env
    )
    # the backend's pool checks a connection that sat idle, not every one handed out
    assert found == "crowdtest.postgresql 8 False"
    env["DATABASE_POOL_SIZE"] = "0"  # persistent connections instead, checked per request
    found = settings_value(
        f"{db}['ENGINE'], 'pool' in {db}['OPTIONS'], {db}['CONN_MAX_AGE'], "
        f"{db}['CONN_HEALTH_CHECKS']",
        env,
    )
    assert found == "crowdtest.postgresql False 60 True"
    # the rater's hot statements are prepared once per connection, pool or not
    assert settings_value(f"{db}['OPTIONS']['prepare_threshold']", env) == "0"


def test_a_sqlite_url_queues_concurrent_writers(tmp_path: Path) -> None:
    env = {"DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    options = settings_value("sorted(settings.DATABASES['default']['OPTIONS'].items())", env)
    assert options == "[('timeout', 30), ('transaction_mode', 'IMMEDIATE')]"


def test_s3_bucket_switches_media_storage() -> None:
    env = {"DEBUG": "1", "AWS_STORAGE_BUCKET_NAME": "archive-media"}
    assert settings_value("settings.STORAGES['default']['BACKEND']", env) == (
        "storages.backends.s3.S3Storage"
    )


def test_production_refuses_to_start_without_secret_key() -> None:
    result = run_manage(
        "check", env={"DEBUG": "0", "SECRET_KEY": "", "CROWDTEST_INSECURE_DEFAULTS": ""}
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_settings_pass_check_deploy() -> None:
    env = {
        "DEBUG": "0",
        "SECRET_KEY": "k" * 20 + "production-secret-from-the-environment-0123456789",
        "ALLOWED_HOSTS": "crowdtest.example.org",
        "CROWDTEST_INSECURE_DEFAULTS": "",
    }
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_ci_runs_on_postgresql() -> None:
    if IN_CI:
        assert connection.vendor == "postgresql", "CI must run the suite on PostgreSQL"
    else:
        assert connection.vendor in {"postgresql", "sqlite"}
