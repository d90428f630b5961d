"""The demo experiment `make run` serves: synthetic vinyl-like tracks taken through the
whole pipeline (stimuli, clusters, P.808 sessions, a simulated crowd, screening, MOS), a
direct link to take the test yourself, and a staff login. Safe to run again: each step
does only what is missing."""

from __future__ import annotations

import csv
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crowdtest.corpus.models import Experiment
from crowdtest.corpus.selectors import current_clustering
from crowdtest.corpus.services import experiment_create
from crowdtest.design.models import Design
from crowdtest.rating.links import link_url, links_create
from crowdtest.rating.models import Vote
from crowdtest.staff.demo_crowd import simulate_crowd
from crowdtest.tools import missing_message, missing_tools
from modeling.synth import write_demo_corpus

SLUG = "demo-vinyl"
DEMO_SETTINGS = {
    "n_clusters": 4,
    "stimuli_per_cluster": 2,
    "training_size": 4,
    "trap_sources": 3,
    "votes_per_stimulus": 8,
    "reward_usd": "0.50",
}


class Command(BaseCommand):
    help = "Create (or complete) the demo experiment and print a staff login and a rater link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tracks", type=int, default=48)
        parser.add_argument("--seconds", type=float, default=24.0)
        parser.add_argument(
            "--raters",
            type=int,
            default=8,
            help="simulated raters (2 sessions each; the rest stay open for you)",
        )
        parser.add_argument("--username", default="demo")

    def handle(self, *args: Any, **opts: Any) -> None:
        missing = missing_tools()
        if missing:
            raise CommandError(missing_message(missing))
        experiment = Experiment.objects.filter(slug=SLUG).first() or experiment_create(
            slug=SLUG,
            name="Demo: synthetic vinyl",
            description=(
                "Music-like signals with vinyl faults (crackle, hiss, wow, clipping, "
                "band-limiting) at several strengths, synthesised on this machine, rated by "
                "a simulated crowd."
            ),
            settings=DEMO_SETTINGS,
        )
        # One archive per size asked for: another --tracks or --seconds synthesises anew.
        folder = Path(settings.IMPORT_ROOTS[0]) / (
            f"demo-archive-{opts['tracks']}x{opts['seconds']:g}s"
        )
        if not (folder / "manifest.csv").exists():
            self.stdout.write(f"Synthesising {opts['tracks']} tracks into {folder} ...")
            write_demo_corpus(folder, n_tracks=opts["tracks"], seconds=opts["seconds"], seed=7)
        self.step("import_tracks", SLUG, str(folder / "manifest.csv"))
        self.step("prepare_stimuli", SLUG)
        if current_clustering(experiment=experiment) is None:
            self.step("cluster_stimuli", SLUG)
        if not Design.objects.filter(experiment=experiment).exists():
            self.step("build_sessions", SLUG)
        if not Vote.objects.filter(experiment=experiment).exists():
            self.stdout.write(f"A simulated crowd of {opts['raters']} raters takes sessions ...")
            done = simulate_crowd(
                experiment=experiment,
                severity_by_name=self.severities(folder / "manifest.csv"),
                raters=opts["raters"],
            )
            self.stdout.write(f"  {done} sessions completed")
        self.step("compute_mos", SLUG)
        self.report(experiment, opts["username"])

    def step(self, *args: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"\n$ manage.py {' '.join(args)}"))
        call_command(*args, stdout=self.stdout)

    @staticmethod
    def severities(manifest: Path) -> dict[str, float]:
        with manifest.open(newline="", encoding="utf-8") as handle:
            return {row["path"]: float(row["severity"]) for row in csv.DictReader(handle)}

    def report(self, experiment: Experiment, username: str) -> None:
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        [link] = links_create(experiment=experiment, participants=None)
        base = settings.PUBLIC_BASE_URL
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDemo experiment:  {base}/experiments/{SLUG}/\n"
                f"Results:          {base}/experiments/{SLUG}/results/\n"
                f"Take the test:    {link_url(link)}\n"
                f"Staff login:      {username} / {password}   (a new password each run)\n"
            )
        )
