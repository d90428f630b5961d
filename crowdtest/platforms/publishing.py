"""`publish --platform mturk|prolific|link`: the command's adapters. They parse options,
print the cost, call the publish service, and print ids and URLs."""

from __future__ import annotations

import argparse
import contextlib
from argparse import _ArgumentGroup
from collections.abc import Mapping
from typing import Any

from crowdtest.corpus.models import Experiment
from crowdtest.rating.publishers import Output, PublishError

from .base import Requirements
from .errors import PlatformError
from .mturk import CLOSURE_NOTICE
from .services import PublishOptions, publication_create, publication_plan


def _shared(group: _ArgumentGroup) -> None:
    """Options every paying platform takes; added once whichever adapter comes first."""
    for flags, kwargs in (
        (
            ("--sandbox",),
            {"action": "store_true", "help": "MTurk's sandbox (Prolific has none)"},
        ),
        (
            ("--sessions",),
            {"type": int, "metavar": "N", "help": "sessions to offer (default: every open one)"},
        ),
        (
            ("--dry-run",),
            {"action": "store_true", "help": "print the cost and publish nothing"},
        ),
    ):
        with contextlib.suppress(argparse.ArgumentError):  # the other adapter added it
            group.add_argument(*flags, **kwargs)


def _locales(text: str) -> tuple[str, ...]:
    codes = tuple(c.strip().upper() for c in text.split(",") if c.strip())
    if any(len(c) != 2 or not c.isalpha() for c in codes):
        raise argparse.ArgumentTypeError("give ISO country codes like US,GB,CA")
    return codes


class _PaidPublisher:
    name = ""
    help = ""
    # The `_shared` options, which argparse holds once for every paying platform.
    shared_options = frozenset({"sandbox", "sessions", "dry_run"})

    def options(self, options: Mapping[str, Any]) -> PublishOptions:
        return PublishOptions(
            platform=self.name,
            sessions=options.get("sessions"),
            sandbox=bool(options.get("sandbox")),
        )

    def publish(self, *, experiment: Experiment, options: Mapping[str, Any], out: Output) -> None:
        parsed = self.options(options)
        try:
            plan = publication_plan(experiment=experiment, options=parsed)
            out.write(plan.estimate.text() + "\n")
            for warning in plan.warnings:
                if warning not in plan.estimate.warnings:
                    out.write(f"Warning: {warning}\n")
            if options.get("dry_run"):
                out.write("Dry run: nothing was published.\n")
                return
            result = publication_create(experiment=experiment, options=parsed)
        except PlatformError as exc:
            raise PublishError(exc.message) from exc
        publication = result.publication
        for warning in result.warnings:
            if warning not in plan.warnings:
                out.write(f"Warning: {warning}\n")
        where = f"{self.name}{' sandbox' if publication.sandbox else ''}"
        out.write(f"Published publication {publication.pk} on {where}.\n")
        if publication.type_id:
            out.write(f"HIT type: {publication.type_id}\n")
        if publication.completion_code:
            out.write(f"Completion code: {publication.completion_code}\n")
        for batch in publication.batches.all():
            out.write(f"{batch.external_id} ({batch.places} places): {batch.url}\n")


class MTurkPublisher(_PaidPublisher):
    name = "mturk"
    help = "Amazon Mechanical Turk HITs (closed to new customers since 2026-07-30)"

    def add_arguments(self, group: _ArgumentGroup) -> None:
        _shared(group)
        group.add_argument(
            "--assignments-per-hit",
            type=int,
            default=9,
            metavar="N",
            help="assignments per HIT (MTurk's fee is 20%% below 10, 40%% from 10)",
        )
        group.add_argument(
            "--locales",
            type=_locales,
            default=Requirements().locales,
            help="countries workers must be in (default US,GB,CA,AU,IE,NZ)",
        )
        group.add_argument(
            "--min-approval-rate", type=int, default=98, metavar="PERCENT", help="default 98"
        )
        group.add_argument(
            "--min-approved-hits", type=int, default=500, metavar="N", help="default 500"
        )
        group.add_argument(
            "--lifetime-days", type=float, default=7.0, metavar="DAYS", help="HITs listed (7)"
        )
        group.add_argument(
            "--auto-approve-hours",
            type=float,
            default=72.0,
            metavar="HOURS",
            help="MTurk approves what is not decided by then (72)",
        )
        group.add_argument(
            "--frame-height", type=int, default=0, metavar="PX", help="0: the whole window"
        )

    def options(self, options: Mapping[str, Any]) -> PublishOptions:
        base = super().options(options)
        return PublishOptions(
            platform=base.platform,
            sessions=base.sessions,
            sandbox=base.sandbox,
            per_hit=options.get("assignments_per_hit") or 9,
            requirements=Requirements(
                locales=tuple(options.get("locales") or Requirements().locales),
                min_approval_rate=options.get("min_approval_rate", 98),
                min_approved_hits=options.get("min_approved_hits", 500),
            ),
            lifetime_days=options.get("lifetime_days") or 7.0,
            auto_approve_hours=options.get("auto_approve_hours") or 72.0,
            frame_height=options.get("frame_height") or 0,
        )

    def publish(self, *, experiment: Experiment, options: Mapping[str, Any], out: Output) -> None:
        out.write(f"Note: {CLOSURE_NOTICE}\n")
        super().publish(experiment=experiment, options=options, out=out)


class ProlificPublisher(_PaidPublisher):
    name = "prolific"
    help = "a Prolific study (token in PROLIFIC_TOKEN)"

    def add_arguments(self, group: _ArgumentGroup) -> None:
        _shared(group)


class LinkPublisher:
    """Direct links, recorded as a publication like the other platforms."""

    name = "link"
    help = "direct links: one open link, or --participants N links of their own"

    def add_arguments(self, group: _ArgumentGroup) -> None:
        group.add_argument(
            "--participants",
            type=int,
            default=None,
            metavar="N",
            help="make N per-participant links instead of the open link",
        )
        group.add_argument(
            "--max-sessions",
            type=int,
            default=None,
            metavar="N",
            help="each participant link allows N completed sessions (1: one-off links; "
            "default: the experiment's max_sessions_per_rater)",
        )

    def publish(self, *, experiment: Experiment, options: Mapping[str, Any], out: Output) -> None:
        participants = options.get("participants")
        try:
            result = publication_create(
                experiment=experiment,
                options=PublishOptions(
                    platform="link",
                    participants=participants,
                    max_sessions=options.get("max_sessions"),
                ),
            )
        except PlatformError as exc:
            raise PublishError(exc.message) from exc
        if participants is None:
            out.write("Open link (every visitor becomes a new rater):\n")
        else:
            out.write(f"{result.plan.sessions} participant links (one per person):\n")
        for batch in result.publication.batches.all():
            out.write(f"{batch.url}\n")
