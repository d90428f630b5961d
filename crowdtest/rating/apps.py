from django.apps import AppConfig


class RatingConfig(AppConfig):
    name = "crowdtest.rating"
    default_auto_field = "django.db.models.BigAutoField"
