"""Prolific, through its REST API (https://api.prolific.com/api/v1/) with `requests`.

The token comes from PROLIFIC_TOKEN in the environment and travels only in the
`Authorization: Token …` header: it is never logged, and pagination links are followed
only on Prolific's own API host. A study is one batch: each participant can take it once,
so a rater's later sessions come from later studies, and a participant group used as a
block list keeps raters who reached the session cap out of all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from . import retry
from .base import Published, PublishSpec, RemoteBatch, RemoteSubmission
from .errors import PlatformError
from .money import amount_text
from .retry import Backoff, with_backoff

API = "https://api.prolific.com/api/v1/"
APP = "https://app.prolific.com"
PAGE_SIZE = 100
# Prolific asks for a rejection message of at least 100 characters.
MIN_REJECTION_MESSAGE = 100
REJECTION_TAIL = (
    " The test's checks (a simple sum, a spoken instruction inside one recording, "
    "headphones and normal hearing) are explained on its first page."
)


def make_session() -> Any:
    """A `requests` session carrying the token. Tests mount a transport adapter on a
    session of their own instead."""
    import requests

    token = os.environ.get("PROLIFIC_TOKEN", "").strip()
    if not token:
        raise PlatformError(
            "No Prolific token: set PROLIFIC_TOKEN in the environment of the web server and "
            "the workers (Prolific > Settings > API tokens).",
            code="no_credentials",
        )
    session = requests.Session()
    session.headers.update({"Authorization": f"Token {token}", "Accept": "application/json"})
    return session


def study_url(url: str) -> str:
    """Our entry URL with the parameters Prolific fills in for each participant."""
    placeholders = (
        "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    )
    return f"{url}{'&' if '?' in url else '?'}{placeholders}"


def cents(amount: str) -> int:
    return int(Decimal(amount_text(amount, what="reward")) * 100)


class _Busy(Exception):
    """Prolific answered 429 or 5xx: worth another try."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _retryable(exc: Exception) -> bool:
    import requests

    return isinstance(exc, _Busy | requests.ConnectionError | requests.Timeout)


class Prolific:
    name = "prolific"
    sandbox = False
    bonus_retry_safe = False  # paying a bulk bonus twice pays it twice
    awaiting_review = frozenset({"AWAITING REVIEW"})
    approved = frozenset({"APPROVED"})

    def __init__(
        self,
        session: Any,
        *,
        backoff: Backoff | None = None,
        workspace_id: str = "",
        project_id: str = "",
        timeout_s: float = 30.0,
    ) -> None:
        self.session = session
        self.backoff = backoff or retry.DEFAULT_BACKOFF
        self.workspace_id = workspace_id
        self.project_id = project_id
        self.timeout_s = timeout_s

    def _request(
        self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        import requests

        url = path if path.startswith(API) else API + path
        what = f"Prolific {method} {urlsplit(url).path}"

        def call() -> Any:
            response = self.session.request(
                method, url, json=body, params=params, timeout=self.timeout_s
            )
            if response.status_code == 429 or response.status_code >= 500:
                raise _Busy(response.status_code)
            return response

        try:
            response = with_backoff(call, retryable=_retryable, backoff=self.backoff, what=what)
        except _Busy as exc:
            raise PlatformError(
                f"{what}: Prolific is busy or failing (HTTP {exc.status}) after retries.",
                code=f"http_{exc.status}",
                outcome_unknown=True,
            ) from None
        except requests.RequestException as exc:
            raise PlatformError(
                f"{what}: Prolific could not be reached ({exc.__class__.__name__}).",
                code="unreachable",
                outcome_unknown=True,
            ) from None
        if response.status_code >= 400:
            raise PlatformError(
                f"{what} was refused (HTTP {response.status_code}): {_detail(response)}",
                code=f"http_{response.status_code}",
            )
        return response.json() if response.content else {}

    # --- Publishing --------------------------------------------------------------------

    def cap_list_create(self, *, name: str, description: str) -> str:
        if not self.workspace_id:
            raise PlatformError(
                "Set PROLIFIC_WORKSPACE_ID to make the block list of raters at the session cap.",
                code="no_workspace",
            )
        group = self._request(
            "POST",
            "participant-groups/",
            body={"workspace_id": self.workspace_id, "name": name, "description": description},
        )
        return str(group["id"])

    def publish(self, spec: PublishSpec, *, on_batch: Any = None) -> Published:
        """Create the study (a draft), record it, then publish it."""
        body: dict[str, Any] = {
            "name": spec.title,
            "internal_name": spec.annotation,
            "description": spec.description,
            "external_study_url": study_url(spec.url),
            "prolific_id_option": "url_parameters",
            "completion_codes": [
                {
                    "code": spec.completion_code,
                    "code_type": "COMPLETED",
                    "actions": [{"action": "MANUALLY_REVIEW"}],
                }
            ],
            "estimated_completion_time": spec.minutes,
            "maximum_allowed_time": max(spec.duration_s // 60, spec.minutes),
            "reward": cents(spec.reward),
            "total_available_places": spec.places,
            "device_compatibility": ["desktop", "tablet", "mobile"],
            "peripheral_requirements": ["audio"],
        }
        if spec.cap_list_id:
            body["filters"] = [
                {"filter_id": "participant_group_blocklist", "selected_values": [spec.cap_list_id]}
            ]
        if self.project_id:
            body["project"] = self.project_id
        study = self._request("POST", "studies/", body=body)
        batch = RemoteBatch(
            external_id=str(study["id"]),
            places=spec.places,
            url=f"{APP}/researcher/workspaces/studies/{study['id']}",
        )
        if on_batch is not None:
            on_batch(batch)
        self._request(
            "POST", f"studies/{batch.external_id}/transition/", body={"action": "PUBLISH"}
        )
        return Published(type_id="", batches=[batch])

    # --- Study control -----------------------------------------------------------------

    def _transition(self, batch_id: str, action: str) -> None:
        self._request("POST", f"studies/{quote(batch_id)}/transition/", body={"action": action})

    def batch_pause(self, *, batch_id: str) -> None:
        self._transition(batch_id, "PAUSE")

    def batch_resume(self, *, batch_id: str, until: datetime) -> None:
        """A study has no expiry: it runs again until its places are taken."""
        self._transition(batch_id, "START")

    def batch_close(self, *, batch_id: str) -> None:
        """Stop the study for good: nobody new can start it; submissions in progress can
        still be completed."""
        self._transition(batch_id, "STOP")

    def places_add(
        self, spec: PublishSpec, *, type_id: str, batches: list[RemoteBatch], on_batch: Any = None
    ) -> list[RemoteBatch]:
        """More places on the publication's study (Prolific lets a study's places rise,
        never fall)."""
        if len(batches) != 1:
            raise PlatformError("A Prolific publication is one study; this one has none.")
        study = batches[0]
        total = study.places + spec.places
        answer = self._request(
            "PATCH", f"studies/{quote(study.external_id)}/", body={"total_available_places": total}
        )
        grown = RemoteBatch(
            external_id=study.external_id,
            places=int(answer.get("total_available_places", total)),
            url=study.url,
        )
        if on_batch is not None:
            on_batch(grown)
        return [grown]

    # --- Submissions -------------------------------------------------------------------

    def submissions(self, *, batch_id: str) -> Iterator[RemoteSubmission]:
        """Every submission of the study, following `_links.next` page by page."""
        page = self._request(
            "GET", "submissions/", params={"study": batch_id, "page_size": PAGE_SIZE}
        )
        seen: set[str] = set()
        while True:
            for row in page.get("results", []):
                yield RemoteSubmission(
                    external_id=str(row["id"]),
                    worker_id=str(row.get("participant_id") or row.get("participant") or ""),
                    status=str(row.get("status", "")),
                    submitted_at=None,
                )
            following = ((page.get("_links") or {}).get("next") or {}).get("href")
            if not following or following in seen or not page.get("results"):
                return
            if not following.startswith(API):
                raise PlatformError(f"Prolific's next page is not on {API}: {following}")
            seen.add(following)
            page = self._request("GET", following)

    def place(self, *, submission_id: str) -> RemoteSubmission | None:
        """The submission a rater's SESSION_ID names (Prolific makes it when the
        participant starts the study), or None if Prolific has none by that id."""
        try:
            row = self._request("GET", f"submissions/{quote(submission_id, safe='')}/")
        except PlatformError as exc:
            if exc.code == "http_404":
                return None
            raise
        return RemoteSubmission(
            external_id=str(row.get("id", "")),
            worker_id=str(row.get("participant_id") or row.get("participant") or ""),
            status=str(row.get("status", "")),
            batch_id=str(row.get("study_id") or row.get("study") or ""),
        )

    # --- Decisions and bonuses ---------------------------------------------------------

    def approve(self, *, submission_id: str, feedback: str) -> dict[str, Any]:
        return dict(
            self._request(
                "POST", f"submissions/{submission_id}/transition/", body={"action": "APPROVE"}
            )
        )

    def reject(
        self, *, submission_id: str, feedback: str, category: str = "FAILED_CHECK"
    ) -> dict[str, Any]:
        message = feedback.strip()
        if not message:
            raise PlatformError("A rejection needs feedback saying why.")
        if len(message) < MIN_REJECTION_MESSAGE:
            message += REJECTION_TAIL
        body = {"action": "REJECT", "message": message, "rejection_category": category}
        return dict(self._request("POST", f"submissions/{submission_id}/transition/", body=body))

    def decision(self, *, submission_id: str) -> str:
        status = self._request("GET", f"submissions/{submission_id}/").get("status", "")
        return {"APPROVED": "approve", "REJECTED": "reject"}.get(status, "")

    def bonus_prepare(self, *, worker_id: str, batch_id: str, amount: str, token: str) -> str:
        """Set the bonus up (it is not paid yet): its id is kept in the ledger before the
        pay call, which Prolific does not make idempotent."""
        answer = self._request(
            "POST",
            "submissions/bonus-payments/",
            body={"study_id": batch_id, "csv_bonuses": f"{worker_id},{amount_text(amount)}\n"},
        )
        return str(answer["id"])

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
        return dict(self._request("POST", f"bulk-bonus-payments/{ref}/pay/") or {})

    def bonus_paid(self, *, ref: str, worker_id: str, submission_id: str, amount: str) -> bool:
        paid = self._request("GET", f"submissions/{submission_id}/").get("bonus_payments") or []
        return any(round(float(p)) == cents(amount) for p in paid)

    # --- Caps and messages -------------------------------------------------------------

    def cap(self, *, cap_list_id: str, worker_ids: list[str]) -> None:
        self._request(
            "POST",
            f"participant-groups/{cap_list_id}/participants/",
            body={"participant_ids": worker_ids},
        )

    def message(
        self, *, worker_ids: list[str], subject: str, text: str, batch_id: str = ""
    ) -> list[str]:
        failed = []
        for worker in worker_ids:
            body = {"recipient_id": worker, "body": f"{subject}\n\n{text}", "study_id": batch_id}
            try:
                self._request("POST", "messages/", body=body)
            except PlatformError as exc:
                if exc.outcome_unknown:
                    raise
                failed.append(worker)
        return failed


def _detail(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        return str(response.text[:300])
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        detail = error.get("detail", error)
        return str(detail)[:300]
    return str(error)[:300]


def complete_url(code: str) -> str:
    return f"{APP}/submissions/complete?{urlencode({'cc': code})}"
