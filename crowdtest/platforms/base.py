"""The platform interface: what crowdtest asks of any crowd platform, one module per
platform (`mturk.py`, `prolific.py`, `link.py`).

A gateway only talks to its platform: it takes and returns plain values and raises
`PlatformError`. What to publish, whom to pay and what to record is decided by the
services, which never know which platform they talk to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Requirements:
    """Who may take the sessions (MTurk qualification requirements)."""

    locales: tuple[str, ...] = ("US", "GB", "CA", "AU", "IE", "NZ")
    min_approval_rate: int = 98
    min_approved_hits: int = 500


@dataclass(frozen=True)
class PublishSpec:
    """A batch of sessions to offer: `places` sessions at `reward` each, taken at `url`."""

    title: str
    description: str
    keywords: str
    url: str
    reward: str  # "0.50"
    places: int
    duration_s: int  # from accepting to submitting
    minutes: int  # what a session takes, as told to raters
    lifetime_s: int = 7 * 24 * 3600
    auto_approve_s: int = 3 * 24 * 3600
    per_batch: int = 9  # MTurk assignments per HIT
    frame_height: int = 0
    annotation: str = ""
    token: str = ""  # idempotency prefix for the batches
    completion_code: str = ""
    requirements: Requirements = field(default_factory=Requirements)
    cap_list_id: str = ""  # qualification type / participant group to keep out


@dataclass(frozen=True)
class RemoteBatch:
    external_id: str  # HITId, study id
    places: int
    url: str


@dataclass(frozen=True)
class Published:
    type_id: str  # MTurk HITTypeId ("" elsewhere)
    batches: list[RemoteBatch]


@dataclass(frozen=True)
class RemoteSubmission:
    """Work the platform has: an MTurk assignment, a Prolific submission."""

    external_id: str
    worker_id: str
    status: str
    submitted_at: datetime | None = None
    batch_id: str = ""  # the HIT or study, where the platform says


class Gateway(Protocol):
    name: str
    sandbox: bool
    # Whether sending the same bonus again with the same token is harmless.
    bonus_retry_safe: bool
    # Platform statuses of work waiting for our decision, and of work approved.
    awaiting_review: frozenset[str]
    approved: frozenset[str]

    def cap_list_create(self, *, name: str, description: str) -> str: ...

    def publish(self, spec: PublishSpec, *, on_batch: Any = None) -> Published:
        """Create the batches; `on_batch(RemoteBatch)` is called as each one exists."""

    def places_add(
        self, spec: PublishSpec, *, type_id: str, batches: list[RemoteBatch], on_batch: Any = None
    ) -> list[RemoteBatch]:
        """Offer `spec.places` more sessions in a publication that exists (its HIT type
        `type_id`, its `batches`); returns the batches created or grown, each also passed
        to `on_batch` as it exists."""

    def batch_pause(self, *, batch_id: str) -> None:
        """Nobody new can start the batch; work in progress can still be submitted."""

    def batch_resume(self, *, batch_id: str, until: datetime) -> None:
        """Offer a paused batch again (until `until` where the platform has an expiry)."""

    def batch_close(self, *, batch_id: str) -> None:
        """End the batch for good; work in progress can still be submitted."""

    def submissions(self, *, batch_id: str) -> Iterator[RemoteSubmission]: ...

    def approve(self, *, submission_id: str, feedback: str) -> dict[str, Any]: ...

    def reject(
        self, *, submission_id: str, feedback: str, category: str = ...
    ) -> dict[str, Any]: ...

    def decision(self, *, submission_id: str) -> str:
        """'approve', 'reject' or '' (still waiting), as the platform has it now."""

    def bonus_prepare(self, *, worker_id: str, batch_id: str, amount: str, token: str) -> str:
        """What identifies the bonus before it is paid (a Prolific bonus id; the token)."""

    def bonus_pay(
        self,
        *,
        ref: str,
        worker_id: str,
        submission_id: str,
        amount: str,
        reason: str,
        token: str,
    ) -> dict[str, Any]: ...

    def bonus_paid(self, *, ref: str, worker_id: str, submission_id: str, amount: str) -> bool:
        """Whether the platform shows that bonus as paid (for a run that was cut off)."""

    def cap(self, *, cap_list_id: str, worker_ids: list[str]) -> None: ...

    def message(
        self, *, worker_ids: list[str], subject: str, text: str, batch_id: str
    ) -> list[str]:
        """Send a message; returns the workers it could not reach."""
