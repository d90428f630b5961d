from django.apps import AppConfig


class DesignConfig(AppConfig):
    name = "crowdtest.design"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            exports,  # noqa: F401  (registers sessions.csv)
            receivers,  # noqa: F401  (built sessions freeze the clusters)
        )
