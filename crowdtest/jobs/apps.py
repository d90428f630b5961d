from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "crowdtest.jobs"
    default_auto_field = "django.db.models.BigAutoField"
