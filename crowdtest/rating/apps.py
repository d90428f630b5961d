from django.apps import AppConfig


class RatingConfig(AppConfig):
    name = "crowdtest.rating"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            exports,  # noqa: F401  (registers votes.csv)
            receivers,  # noqa: F401  (a replaced design takes its assignments along)
        )
