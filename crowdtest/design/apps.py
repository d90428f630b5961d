from django.apps import AppConfig


class DesignConfig(AppConfig):
    name = "crowdtest.design"
    default_auto_field = "django.db.models.BigAutoField"
