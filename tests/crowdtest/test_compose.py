"""docker-compose.yml is the production shape; Docker does not run here, so its
structure is checked instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def command_of(service: dict[str, Any]) -> str:
    cmd = service["command"]
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "redis", "web", "worker", "gpu-worker", "beat"}


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name in ("postgres", "redis", "web", "worker", "gpu-worker"):
        check = compose["services"][name]["healthcheck"]
        assert check["test"], name


def test_web_runs_gunicorn_after_migrating(compose: dict[str, Any]) -> None:
    cmd = command_of(compose["services"]["web"])
    assert "migrate" in cmd and "gunicorn crowdtest.wsgi:application" in cmd


def test_workers_listen_on_the_right_queues(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker = command_of(services["worker"]).split()
    gpu = command_of(services["gpu-worker"]).split()
    assert worker[worker.index("-Q") + 1] == "default,audio"
    assert gpu[gpu.index("-Q") + 1] == "gpu"
    assert "beat" in command_of(services["beat"]).split()


def test_gpu_worker_reserves_an_nvidia_device(compose: dict[str, Any]) -> None:
    gpu = compose["services"]["gpu-worker"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert gpu["build"]["args"]["TORCH_INDEX"].startswith("cu")


def test_app_services_use_postgres_redis_and_a_media_volume(compose: dict[str, Any]) -> None:
    for name in ("web", "worker", "gpu-worker", "beat"):
        service = compose["services"][name]
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
        assert "media:/data/media" in service["volumes"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    assert {"pgdata", "media"} <= set(compose["volumes"])


def test_no_secret_is_written_in_the_file(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "SECRET_KEY:" not in text
    assert "${POSTGRES_PASSWORD:?" in text
