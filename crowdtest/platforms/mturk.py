"""Amazon Mechanical Turk, through boto3's `mturk` client.

AWS closed MTurk to new customers on 2026-07-30, and its API reference states that the
service closes permanently on 2026-09-30. This adapter is kept exact for existing
requester accounts, for the record of historical studies and for MTurk-compatible
services; Prolific is the first-class alternative.

Credentials come from the environment the way boto3 reads them (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, or AWS_PROFILE); they are never logged. Region us-east-1; the
sandbox has its own endpoint. botocore's own retries are off: `retry.with_backoff` is
the one bounded retry, so its count is what the docs say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any
from xml.sax.saxutils import escape

from . import retry
from .base import Published, PublishSpec, RemoteBatch, RemoteSubmission, Requirements
from .errors import PlatformError
from .money import amount_text, hit_sizes
from .retry import Backoff, with_backoff

CLOSED_TO_NEW_CUSTOMERS = date(2026, 7, 30)
CLOSES = date(2026, 9, 30)
CLOSURE_NOTICE = (
    "Amazon closed Mechanical Turk to new customers on 30 July 2026, and its API reference "
    "says the service closes permanently on 30 September 2026. The MTurk adapter works for "
    "existing requester accounts and MTurk-compatible services; use Prolific or direct "
    "links otherwise."
)

REGION = "us-east-1"
ENDPOINTS = {
    False: "https://mturk-requester.us-east-1.amazonaws.com",
    True: "https://mturk-requester-sandbox.us-east-1.amazonaws.com",
}
WORKER_SITES = {False: "https://worker.mturk.com", True: "https://workersandbox.mturk.com"}
QUESTION_SCHEMA = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/"
    "ExternalQuestion.xsd"
)
# MTurk's system qualification types (the same ids in the sandbox).
LOCALE = "00000000000000000071"
APPROVAL_RATE = "000000000000000000L0"
APPROVED_HITS = "00000000000000000040"
MAX_RESULTS = 100  # list_* page size, at most 100 (the service model does not say so)
MAX_NOTIFY = 100  # worker ids per notify_workers call
MAX_FEEDBACK = 1024  # RequesterFeedback characters
EXPIRE_NOW = datetime(2015, 1, 1, tzinfo=UTC)  # any time in the past expires a HIT at once
RETRYABLE = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceFault",
        "InternalError",
        "RequestTimeout",
    }
)


def make_client(*, sandbox: bool) -> Any:
    """A boto3 `mturk` client for the sandbox or production, credentials from the
    environment. Tests replace this function to hand in a client under botocore's Stubber."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    if session.get_credentials() is None:
        raise PlatformError(
            "No AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
            "AWS_PROFILE) in the environment of the web server and the workers.",
            code="no_credentials",
        )
    return session.client(
        "mturk",
        region_name=REGION,
        endpoint_url=ENDPOINTS[sandbox],
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=30),
    )


def external_question(url: str, frame_height: int = 0) -> str:
    """The ExternalQuestion XML that shows our page in MTurk's frame (FrameHeight 0: the
    whole window). MTurk adds workerId, assignmentId, hitId and turkSubmitTo to the URL."""
    if not url.startswith("https://"):
        raise PlatformError(f"MTurk only shows HTTPS pages; {url} is not one.", code="not_https")
    if not 0 <= frame_height <= 10_000:
        raise PlatformError("FrameHeight must be from 0 (the whole window) to 10000 pixels.")
    return (
        f'<ExternalQuestion xmlns="{QUESTION_SCHEMA}">'
        f"<ExternalURL>{escape(url)}</ExternalURL>"
        f"<FrameHeight>{frame_height}</FrameHeight>"
        "</ExternalQuestion>"
    )


def qualification_requirements(
    requirements: Requirements, cap_list_id: str
) -> list[dict[str, Any]]:
    """Locale, approval rate and approved HITs; and the cap qualification, which a worker
    must NOT have (granted at the session cap), hidden from those who have it."""
    rows: list[dict[str, Any]] = []
    if requirements.locales:
        rows.append(
            {
                "QualificationTypeId": LOCALE,
                "Comparator": "In",
                "LocaleValues": [{"Country": c} for c in requirements.locales],
                "ActionsGuarded": "Accept",
            }
        )
    if requirements.min_approval_rate:
        rows.append(
            {
                "QualificationTypeId": APPROVAL_RATE,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [requirements.min_approval_rate],
                "ActionsGuarded": "Accept",
            }
        )
    if requirements.min_approved_hits:
        rows.append(
            {
                "QualificationTypeId": APPROVED_HITS,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [requirements.min_approved_hits],
                "ActionsGuarded": "Accept",
            }
        )
    if cap_list_id:
        rows.append(
            {
                "QualificationTypeId": cap_list_id,
                "Comparator": "DoesNotExist",
                "ActionsGuarded": "DiscoverPreviewAndAccept",
            }
        )
    return rows


def _retryable(exc: Exception) -> bool:
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code", "") in RETRYABLE or int(status or 0) >= 500
    return isinstance(
        exc,
        EndpointConnectionError | ConnectionClosedError | ReadTimeoutError | ConnectTimeoutError,
    )


class MTurk:
    """The MTurk gateway. Every call goes through `_call`: bounded backoff on throttling
    and 5xx, then one `PlatformError` that says what MTurk answered."""

    name = "mturk"
    bonus_retry_safe = True  # UniqueRequestToken (for 24 hours; `bonus_paid` covers later)
    awaiting_review = frozenset({"Submitted"})
    approved = frozenset({"Approved"})

    def __init__(self, client: Any, *, sandbox: bool, backoff: Backoff | None = None) -> None:
        self.client = client
        self.sandbox = sandbox
        self.backoff = backoff or retry.DEFAULT_BACKOFF

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

        method: Callable[..., dict[str, Any]] = getattr(self.client, operation)
        try:
            return with_backoff(
                lambda: method(**params),
                retryable=_retryable,
                backoff=self.backoff,
                what=f"MTurk {operation}",
            )
        except AssertionError:
            raise  # botocore's Stubber: a call the test did not expect
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise PlatformError(
                f"MTurk refused {operation}: {error.get('Message', '')} ({error.get('Code', '')})",
                code=str(error.get("Code", "")),
                outcome_unknown=_retryable(exc),
            ) from None
        except ParamValidationError as exc:
            raise PlatformError(f"MTurk {operation}: invalid parameters: {exc}") from None
        except BotoCoreError as exc:
            raise PlatformError(
                f"MTurk could not be reached for {operation} ({exc.__class__.__name__}).",
                code="unreachable",
                outcome_unknown=True,
            ) from None

    # --- Publishing --------------------------------------------------------------------

    def cap_list_create(self, *, name: str, description: str) -> str:
        answer = self._call(
            "create_qualification_type",
            Name=name,
            Keywords="crowdtest, session cap",
            Description=description,
            QualificationTypeStatus="Active",
            AutoGranted=False,
        )
        return str(answer["QualificationType"]["QualificationTypeId"])

    def publish(self, spec: PublishSpec, *, on_batch: Any = None) -> Published:
        """One HIT type, then HITs of at most `spec.per_batch` assignments (9 keeps the 20%
        fee) with one ExternalQuestion each. Each HIT has a UniqueRequestToken, so a retry
        after a timeout never lists it twice."""
        if not 1 <= spec.per_batch <= 1000:
            raise PlatformError("Assignments per HIT must be from 1 to 1000.")
        hit_type = self._call(
            "create_hit_type",
            AutoApprovalDelayInSeconds=spec.auto_approve_s,
            AssignmentDurationInSeconds=spec.duration_s,
            Reward=amount_text(spec.reward, what="reward"),
            Title=spec.title,
            Keywords=spec.keywords,
            Description=spec.description,
            QualificationRequirements=qualification_requirements(
                spec.requirements, spec.cap_list_id
            ),
        )["HITTypeId"]
        batches = self._hits(spec, hit_type=str(hit_type), on_batch=on_batch)
        return Published(type_id=str(hit_type), batches=batches)

    def _hits(self, spec: PublishSpec, *, hit_type: str, on_batch: Any) -> list[RemoteBatch]:
        question = external_question(spec.url, spec.frame_height)
        batches = []
        for index, size in enumerate(hit_sizes(spec.places, spec.per_batch)):
            hit = self._call(
                "create_hit_with_hit_type",
                HITTypeId=hit_type,
                MaxAssignments=size,
                LifetimeInSeconds=spec.lifetime_s,
                Question=question,
                RequesterAnnotation=spec.annotation,
                UniqueRequestToken=f"{spec.token}-{index}"[:64],
            )["HIT"]
            batch = RemoteBatch(
                external_id=hit["HITId"],
                places=size,
                url=f"{WORKER_SITES[self.sandbox]}/mturk/preview?groupId={hit['HITGroupId']}",
            )
            if on_batch is not None:
                on_batch(batch)
            batches.append(batch)
        return batches

    # --- Study control -----------------------------------------------------------------

    def places_add(
        self, spec: PublishSpec, *, type_id: str, batches: list[RemoteBatch], on_batch: Any = None
    ) -> list[RemoteBatch]:
        """New HITs of the publication's HIT type. Not more assignments on its HITs: MTurk
        refuses to take a HIT of fewer than 10 assignments to 10 or more, and the fee
        rises there."""
        if not type_id:
            raise PlatformError("This publication has no HIT type to add HITs to.")
        return self._hits(spec, hit_type=type_id, on_batch=on_batch)

    def _expire(self, batch_id: str) -> None:
        """Take the HIT off the marketplace now (UpdateExpirationForHIT with a time in the
        past); work already accepted can still be submitted."""
        self._call("update_expiration_for_hit", HITId=batch_id, ExpireAt=EXPIRE_NOW)

    def batch_pause(self, *, batch_id: str) -> None:
        self._expire(batch_id)

    def batch_close(self, *, batch_id: str) -> None:
        """MTurk has no other end than expiry: a closed HIT is an expired one that
        crowdtest will not list again."""
        self._expire(batch_id)

    def batch_resume(self, *, batch_id: str, until: datetime) -> None:
        """List an expired HIT again until `until`."""
        self._call("update_expiration_for_hit", HITId=batch_id, ExpireAt=until)

    # --- Submissions -------------------------------------------------------------------

    def assignments_page(
        self, *, hit_id: str, max_results: int = MAX_RESULTS, next_token: str = ""
    ) -> dict[str, Any]:
        if not 1 <= max_results <= MAX_RESULTS:
            raise PlatformError(f"MaxResults must be from 1 to {MAX_RESULTS} (got {max_results}).")
        params: dict[str, Any] = {"HITId": hit_id, "MaxResults": max_results}
        if next_token:
            params["NextToken"] = next_token
        return self._call("list_assignments_for_hit", **params)

    def submissions(self, *, batch_id: str) -> Iterator[RemoteSubmission]:
        """Every assignment of the HIT, page by page (NextToken, 100 a page)."""
        token, seen = "", set()
        while True:
            page = self.assignments_page(hit_id=batch_id, next_token=token)
            for row in page.get("Assignments", []):
                yield RemoteSubmission(
                    external_id=row["AssignmentId"],
                    worker_id=row["WorkerId"],
                    status=row["AssignmentStatus"],
                    submitted_at=row.get("SubmitTime"),
                )
            token = page.get("NextToken", "")
            if not token or not page.get("Assignments") or token in seen:
                return
            seen.add(token)

    # --- Decisions and bonuses ---------------------------------------------------------

    def approve(self, *, submission_id: str, feedback: str) -> dict[str, Any]:
        return self._call(
            "approve_assignment",
            AssignmentId=submission_id,
            RequesterFeedback=_feedback(feedback or "Thank you for your ratings."),
        )

    def reject(self, *, submission_id: str, feedback: str, category: str = "") -> dict[str, Any]:
        if not feedback.strip():
            raise PlatformError("A rejection needs feedback saying why.")
        return self._call(
            "reject_assignment", AssignmentId=submission_id, RequesterFeedback=_feedback(feedback)
        )

    def decision(self, *, submission_id: str) -> str:
        status = self._call("get_assignment", AssignmentId=submission_id)["Assignment"][
            "AssignmentStatus"
        ]
        return {"Approved": "approve", "Rejected": "reject"}.get(status, "")

    def bonus_prepare(self, *, worker_id: str, batch_id: str, amount: str, token: str) -> str:
        amount_text(amount, what="bonus")
        return token

    def bonus_pay(
        self,
        *,
        ref: str,
        worker_id: str,
        submission_id: str,
        amount: str,
        reason: str,
        token: str,
    ) -> dict[str, Any]:
        try:
            return self._call(
                "send_bonus",
                WorkerId=worker_id,
                BonusAmount=amount_text(amount, what="bonus"),
                AssignmentId=submission_id,
                Reason=reason,
                UniqueRequestToken=token,
            )
        except PlatformError as exc:
            # A bonus already sent with this token: MTurk answers an error naming it.
            if not exc.outcome_unknown and "uniquerequesttoken" in exc.message.lower():
                return {"already_sent": True}
            raise

    def bonus_paid(self, *, ref: str, worker_id: str, submission_id: str, amount: str) -> bool:
        token = ""
        while True:
            params: dict[str, Any] = {"AssignmentId": submission_id, "MaxResults": MAX_RESULTS}
            if token:
                params["NextToken"] = token
            page = self._call("list_bonus_payments", **params)
            for row in page.get("BonusPayments", []):
                if row.get("WorkerId") == worker_id and row.get("BonusAmount") == amount:
                    return True
            token = page.get("NextToken", "")
            if not token or not page.get("BonusPayments"):
                return False

    # --- Caps and messages -------------------------------------------------------------

    def cap(self, *, cap_list_id: str, worker_ids: list[str]) -> None:
        for worker in worker_ids:
            self._call(
                "associate_qualification_with_worker",
                QualificationTypeId=cap_list_id,
                WorkerId=worker,
                IntegerValue=1,
                SendNotification=False,
            )

    def notify(self, *, worker_ids: list[str], subject: str, text: str) -> list[str]:
        """One notify_workers call: at most 100 workers (MTurk's limit, which its service
        model does not state). Returns the workers it failed to reach."""
        if not 1 <= len(worker_ids) <= MAX_NOTIFY:
            raise PlatformError(f"notify_workers takes 1 to {MAX_NOTIFY} worker ids a call.")
        answer = self._call(
            "notify_workers", Subject=subject[:200], MessageText=text[:4096], WorkerIds=worker_ids
        )
        return [row["WorkerId"] for row in answer.get("NotifyWorkersFailureStatuses", [])]

    def message(
        self, *, worker_ids: list[str], subject: str, text: str, batch_id: str = ""
    ) -> list[str]:
        failed: list[str] = []
        for start in range(0, len(worker_ids), MAX_NOTIFY):
            chunk = worker_ids[start : start + MAX_NOTIFY]
            failed += self.notify(worker_ids=chunk, subject=subject, text=text)
        return failed


def _feedback(text: str) -> str:
    return text if len(text) <= MAX_FEEDBACK else text[: MAX_FEEDBACK - 1] + "…"
