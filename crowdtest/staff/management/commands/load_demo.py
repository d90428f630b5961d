"""The demo experiment `make run` serves: synthetic vinyl-like tracks taken through the
pipeline as far as it goes without a crowd, and a staff login."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from crowdtest.corpus.models import Experiment
from crowdtest.corpus.selectors import current_clustering
from crowdtest.corpus.services import experiment_create
from modeling.synth import write_demo_corpus

SLUG = "demo-vinyl"


class Command(BaseCommand):
    help = "Create (or complete) the demo experiment and print a staff login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tracks", type=int, default=60)
        parser.add_argument("--seconds", type=float, default=24.0)
        parser.add_argument("--username", default="demo")

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = Experiment.objects.filter(slug=SLUG).first() or experiment_create(
            slug=SLUG,
            name="Demo: synthetic vinyl",
            description=(
                "Music-like signals with vinyl faults (crackle, hiss, wow, clipping, "
                "band-limiting) at several strengths, synthesised on this machine."
            ),
            settings={
                "n_clusters": 5,
                "stimuli_per_cluster": 2,
                "training_size": 5,
                "trap_sources": 4,
                "votes_per_stimulus": 5,
            },
        )
        folder = Path(settings.IMPORT_ROOTS[0]) / "demo-archive"
        if not (folder / "manifest.csv").exists():
            self.stdout.write(f"Synthesising {opts['tracks']} tracks into {folder} ...")
            write_demo_corpus(folder, n_tracks=opts["tracks"], seconds=opts["seconds"], seed=7)
        call_command("import_tracks", SLUG, str(folder / "manifest.csv"), stdout=self.stdout)
        call_command("prepare_stimuli", SLUG, stdout=self.stdout)
        if current_clustering(experiment=experiment) is None:
            call_command("cluster_stimuli", SLUG, stdout=self.stdout)
        self._login(opts["username"])

    def _login(self, username: str) -> None:
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        base = settings.PUBLIC_BASE_URL
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDemo experiment: {base}/experiments/{SLUG}/\n"
                f"Staff login: {username} / {password}   (a new password each run)\n"
            )
        )
