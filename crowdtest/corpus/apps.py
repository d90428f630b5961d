from django.apps import AppConfig


class CorpusConfig(AppConfig):
    name = "crowdtest.corpus"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import exports  # noqa: F401  (registers tracks.csv and stimuli.csv)
