from typing import Any

from django.apps import AppConfig


class CorpusConfig(AppConfig):
    name = "crowdtest.corpus"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from crowdtest import tools  # noqa: F401  (warns of a missing ffmpeg or espeak-ng)

        from . import exports  # noqa: F401  (registers tracks.csv and stimuli.csv)
        from .models import Experiment
        from .selectors import experiment_recent_forget

        def forget(sender: Any, instance: Experiment, **kwargs: Any) -> None:
            experiment_recent_forget(experiment_id=instance.pk)

        # weak=False: `forget` is local to this method, and a weak reference to it would
        # die with the call, leaving the copy to expire on its own.
        post_save.connect(
            forget, sender=Experiment, weak=False, dispatch_uid="corpus.experiment_saved"
        )
        post_delete.connect(
            forget, sender=Experiment, weak=False, dispatch_uid="corpus.experiment_deleted"
        )
