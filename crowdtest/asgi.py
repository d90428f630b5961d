"""The web process's entry point: Django under gunicorn's ASGI worker
(deploy/gunicorn.conf.py). Request bodies and responses are read and written by the
worker's event loop, so a slow or stalled client holds a socket, not a thread; the
views themselves stay synchronous and run on a thread each."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowdtest.settings")
application = get_asgi_application()

# Import every view now rather than on each worker's first request (with gunicorn's
# preload this happens once, before the workers fork).
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018
