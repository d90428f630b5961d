from django.apps import AppConfig


class PlatformsConfig(AppConfig):
    name = "crowdtest.platforms"
    default_auto_field = "django.db.models.BigAutoField"
