"""docker-compose.yml is the production shape; Docker does not run here, so its
structure is checked instead."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.nginx import TEMPLATE, render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def command_of(service: dict[str, Any]) -> str:
    cmd = service["command"]
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "postgres",
        "redis",
        "nginx",
        "web",
        "worker",
        "gpu-worker",
        "beat",
    }


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name in ("postgres", "redis", "nginx", "web", "worker", "gpu-worker"):
        check = compose["services"][name]["healthcheck"]
        assert check["test"], name


def test_web_migrates_collects_static_and_runs_gthread_workers(compose: dict[str, Any]) -> None:
    cmd = command_of(compose["services"]["web"])
    assert cmd.index("migrate") < cmd.index("collectstatic") < cmd.index("gunicorn")
    assert "gunicorn -c deploy/gunicorn.conf.py" in cmd
    config = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert config["worker_class"] == "gthread"
    assert config["wsgi_app"] == "crowdtest.wsgi:application"
    assert config["threads"] >= 2
    assert 'gunicorn", "-c", "deploy/gunicorn.conf.py' in (ROOT / "Dockerfile").read_text()


def test_workers_are_forked_with_the_loaded_app_out_of_the_collectors_sight() -> None:
    """gunicorn's master (preload) runs pre_fork before each fork: what it loaded is frozen,
    so a worker's full garbage collections do not walk it."""
    code = (
        "import django, gc, runpy; django.setup(); import crowdtest.urls; "
        "runpy.run_path('deploy/gunicorn.conf.py')['pre_fork'](None, None); "
        "print(gc.get_freeze_count(), len(gc.get_objects()))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crowdtest.settings", "DEBUG": "1"}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    frozen, still_tracked = map(int, done.stdout.split())
    assert frozen > 50_000 and still_tracked < frozen / 10


def test_only_nginx_is_published_and_it_fronts_web(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert [name for name, service in services.items() if "ports" in service] == ["nginx"]
    nginx = services["nginx"]
    assert nginx["environment"]["UPSTREAM"] == "web:8000"
    assert nginx["depends_on"]["web"]["condition"] == "service_healthy"
    assert services["web"]["environment"]["GUNICORN_BIND"].endswith(":8000")


def test_nginx_gets_every_value_its_template_needs(compose: dict[str, Any]) -> None:
    nginx = compose["services"]["nginx"]
    mount = "./deploy/nginx/crowdtest.conf.template:/etc/nginx/templates/default.conf.template:ro"
    assert mount in nginx["volumes"]
    placeholders = set(re.findall(r"\$\{([A-Z_]+)\}", TEMPLATE.read_text()))
    env = nginx["environment"]
    assert placeholders <= set(env)
    # The image fills in only the names its filter matches, so nginx's own $host stays.
    pattern = re.compile(env["NGINX_ENVSUBST_FILTER"].replace("$$", "$"))
    assert {name for name in env if pattern.search(name)} == placeholders
    assert not pattern.search("host")
    render({name: str(env[name]) for name in placeholders})  # every placeholder filled


def test_nginx_sends_the_clips_web_names(compose: dict[str, Any]) -> None:
    services = compose["services"]
    web_env, nginx_env = services["web"]["environment"], services["nginx"]["environment"]
    assert web_env["CLIP_ROOT"] == nginx_env["CLIP_ROOT"]
    assert web_env["STATIC_ROOT"] == nginx_env["STATIC_ROOT"]
    prefix = web_env["CROWDTEST_ACCEL_REDIRECT"]
    internal = re.search(r"location (/\S+/) \{\s*internal;", TEMPLATE.read_text())
    assert internal is not None and internal.group(1) == prefix
    # Both see the same files: web writes the copies and static files, nginx reads them.
    assert "media:/data/media" in services["web"]["volumes"]
    assert "media:/data/media:ro" in services["nginx"]["volumes"]
    assert "static:/data/static" in services["web"]["volumes"]
    assert "static:/data/static:ro" in services["nginx"]["volumes"]
    for name in ("worker", "beat"):  # the sweep of old copies runs on a worker
        assert services[name]["environment"]["CLIP_ROOT"] == web_env["CLIP_ROOT"]


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
