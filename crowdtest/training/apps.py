from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "crowdtest.training"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # models.csv's export, and a deleted scoring's job failed
        from . import exports, receivers  # noqa: F401
