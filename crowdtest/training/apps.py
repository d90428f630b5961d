from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "crowdtest.training"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import exports  # noqa: F401  (registers models.csv)
