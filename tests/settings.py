"""Settings for the test suite: the product's settings, with tasks run inline and media
in a temporary folder. DATABASE_URL is honoured, so CI runs on PostgreSQL."""
# ruff: noqa: F405

import os
import tempfile
from pathlib import Path

os.environ.setdefault("CROWDTEST_INSECURE_DEFAULTS", "1")
# Nothing in the tests may fetch model weights: tiny models are built from configs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["TASKS_IN_PROCESS"] = "sync"
# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests
# make around it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# The broker test starts its own worker against TEST_BROKER_URL; the app under test
# itself runs tasks inline.
TEST_BROKER_URL = os.environ.pop("CELERY_BROKER_URL", "") or "redis://127.0.0.1:6379/15"
os.environ.pop("CELERY_RESULT_BACKEND", None)

from crowdtest.settings import *  # noqa: E402, F403

CELERY_BROKER_URL = ""
CELERY_RESULT_BACKEND = None
TASKS_IN_PROCESS = "sync"
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="crowdtest-media-"))
MODEL_RUNS_ROOT = MEDIA_ROOT / "model_runs"
CLIP_ROOT = MEDIA_ROOT / "clips"
CLIP_ACCEL_REDIRECT = ""
IMPORT_ROOTS = [Path(tempfile.gettempdir()).resolve()]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
SECURE_SSL_REDIRECT = False
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {
        # A file (not memory) so a worker process can share it; one per test run.
        "NAME": str(Path(tempfile.gettempdir()) / f"crowdtest-test-{os.getpid()}.sqlite3")
    }
else:
    # The test process is like manage.py: its threads (live servers, thread pools in
    # tests) keep their own connections, so it opens them directly. The web process's
    # connection pool is exercised by the deployed server in tests/crowdtest/test_serving.py.
    DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
