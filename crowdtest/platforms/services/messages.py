"""Messages to raters through their platform (MTurk notify_workers, Prolific messages)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from crowdtest.corpus.models import Experiment

from ..errors import PlatformError
from ..gateways import gateway_for
from ..link import NO_PLATFORM
from ..models import Publication, Submission


@dataclass(frozen=True)
class MessageReport:
    sent: int
    failed: list[str]

    def summary(self) -> str:
        failed = f"; not reached: {', '.join(self.failed)}" if self.failed else ""
        return f"message sent to {self.sent} rater(s){failed}"


def raters_message(
    *,
    experiment: Experiment,
    platform: str,
    subject: str,
    text: str,
    worker_ids: list[str] | None = None,
) -> MessageReport:
    """Message `worker_ids` (default: every rater who submitted work here) on `platform`.
    On Prolific a message belongs to a study: each rater's latest one."""
    if platform not in ("mturk", "prolific"):
        raise PlatformError(NO_PLATFORM, code="no_platform")
    if not subject.strip() or not text.strip():
        raise PlatformError("A message needs a subject and a text.")
    publication = (
        Publication.objects.filter(experiment=experiment, platform=platform)
        .exclude(status=Publication.Status.PUBLISHING)
        .first()
    )
    if publication is None:
        raise PlatformError(f"Nothing of this experiment was published on {platform}.")
    latest: dict[str, str] = {}
    for worker, batch in (
        Submission.objects.filter(
            batch__publication__experiment=experiment, batch__publication__platform=platform
        )
        .order_by("pk")
        .values_list("worker_id", "batch__external_id")
    ):
        latest[worker] = batch
    workers = worker_ids if worker_ids is not None else sorted(latest)
    if not workers:
        raise PlatformError("Nobody to message: no rater has submitted work yet.")
    gateway = gateway_for(platform=platform, sandbox=publication.sandbox)
    by_batch: dict[str, list[str]] = defaultdict(list)
    for worker in workers:
        by_batch[latest.get(worker, "") if platform == "prolific" else ""].append(worker)
    failed: list[str] = []
    for batch, group in by_batch.items():
        failed += gateway.message(worker_ids=group, subject=subject, text=text, batch_id=batch)
    return MessageReport(sent=len(workers) - len(failed), failed=failed)
