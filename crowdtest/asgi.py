"""ASGI entry point, for `GUNICORN_WORKER_CLASS=asgi` (deploy/gunicorn.conf.py): Django
under gunicorn's ASGI worker, where request bodies and responses are read and written by
the worker's event loop and the views run on a thread each. The deployed web process is
WSGI (crowdtest.wsgi) behind nginx."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowdtest.settings")
application = get_asgi_application()
