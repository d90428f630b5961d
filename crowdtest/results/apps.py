from django.apps import AppConfig


class ResultsConfig(AppConfig):
    name = "crowdtest.results"
    default_auto_field = "django.db.models.BigAutoField"
