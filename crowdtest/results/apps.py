"""Screening verdicts, MOS tables, Vinylset exports and the experimenter's dashboard."""

from django.apps import AppConfig


class ResultsConfig(AppConfig):
    name = "crowdtest.results"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            exports,  # noqa: F401  (registers mos.csv, raters.csv, verdicts.csv)
            receivers,  # noqa: F401  (a finished session is screened)
        )
