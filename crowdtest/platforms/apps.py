from django.apps import AppConfig


class PlatformsConfig(AppConfig):
    name = "crowdtest.platforms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crowdtest.jobs.access import job_kind_permission
        from crowdtest.rating.publishers import register_publisher

        from . import receivers  # noqa: F401  (session cap and Prolific completion code)
        from .publishing import LinkPublisher, MTurkPublisher, ProlificPublisher

        register_publisher(LinkPublisher())
        register_publisher(MTurkPublisher())
        register_publisher(ProlificPublisher())
        job_kind_permission("platform_pay", "platforms.execute_payments")
