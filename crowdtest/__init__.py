"""crowdtest: ITU-T P.808 crowdsourced listening tests and w2vMOS quality prediction."""

from .celery import app as celery_app

__all__ = ["celery_app"]
