from django.apps import AppConfig


class CorpusConfig(AppConfig):
    name = "crowdtest.corpus"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crowdtest import tools  # noqa: F401  (warns of a missing ffmpeg or espeak-ng)

        from . import exports  # noqa: F401  (registers tracks.csv and stimuli.csv)
