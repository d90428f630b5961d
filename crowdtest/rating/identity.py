"""Who a rater is: the crowd platform's URL parameters (MTurk, Prolific) or a direct link,
carried from the entry page to every API call in a signed token.

The token is not a cookie: MTurk shows the test in an iframe, where browsers block
third-party cookies. It is signed (django.core.signing, with its own salt), not
encrypted: it holds only the rater's own platform ids and when it was issued, never
anything about the test. It lives as long as a silent session is kept for the rater (the
experiment's session_timeout_minutes); the API hands a working page a renewed one.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from django.core import signing
from django.utils.translation import gettext as _

RATER_SALT = "crowdtest.rating.rater"
LINK_SALT = "crowdtest.rating.link"
PREVIEW_SALT = "crowdtest.rating.preview"
# A staff preview link opens the test for this long after it was made.
PREVIEW_MAX_AGE_S = 12 * 60 * 60
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
MTURK_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class EntryError(Exception):
    """The entry URL can't identify a rater; the message is shown to them."""


@dataclass(frozen=True)
class RaterIdentity:
    """A rater as the platform names them, and the piece of work they came for."""

    experiment_id: int
    platform: str  # "link" | "mturk" | "prolific" | "staff" (a preview)
    external_id: str  # MTurk workerId, PROLIFIC_PID, link participant
    assignment_id: str = ""  # MTurk assignmentId, Prolific SESSION_ID
    batch_id: str = ""  # MTurk hitId, Prolific STUDY_ID
    return_url: str = ""  # MTurk turkSubmitTo


@dataclass(frozen=True)
class Entry:
    """What the entry URL asks for: a rater's page, MTurk's preview, or an open link
    that must first give the visitor an identity of their own."""

    kind: str  # "rater" | "preview" | "open_link"
    identity: RaterIdentity | None = None


def rater_token(identity: RaterIdentity, *, issued_at: float | None = None) -> str:
    payload = {
        "t": int(time.time() if issued_at is None else issued_at),
        "e": identity.experiment_id,
        "p": identity.platform,
        "w": identity.external_id,
        "a": identity.assignment_id,
        "b": identity.batch_id,
        "r": identity.return_url,
    }
    return signing.dumps(payload, salt=RATER_SALT, compress=True)


def read_rater_token_aged(token: str) -> tuple[RaterIdentity, float] | None:
    """The identity in a token and the seconds since it was issued (infinite for a token
    without its issue time), or None if it is forged, altered or malformed. One signature
    check: this runs on every API request."""
    if not token or len(token) > 2000:
        return None
    try:
        data = signing.loads(token, salt=RATER_SALT)
        identity = RaterIdentity(
            experiment_id=int(data["e"]),
            platform=str(data["p"]),
            external_id=str(data["w"]),
            assignment_id=str(data.get("a", "")),
            batch_id=str(data.get("b", "")),
            return_url=str(data.get("r", "")),
        )
        issued = data.get("t")
        age_s = time.time() - float(issued) if issued is not None else float("inf")
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    return identity, age_s


def read_rater_token(token: str) -> RaterIdentity | None:
    """The identity in a token, or None if it is forged, altered or malformed."""
    read = read_rater_token_aged(token)
    return read[0] if read is not None else None


def token_age_s(token: str) -> float:
    """Seconds since a token was issued; infinite for one without its issue time or for
    anything that is not a genuine token."""
    read = read_rater_token_aged(token)
    return read[1] if read is not None else float("inf")


def link_token(experiment_id: int, participant: str) -> str:
    """The token of a direct link; the same link always gives the same token."""
    return signing.Signer(salt=LINK_SALT).sign_object(
        {"e": experiment_id, "p": participant}, compress=True
    )


def read_link_token(token: str) -> tuple[int, str] | None:
    try:
        data = signing.Signer(salt=LINK_SALT).unsign_object(token)
        return int(data["e"]), str(data["p"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def preview_token(experiment_id: int) -> str:
    """The entry parameter of a staff preview: a new participant each time, signed and
    good for PREVIEW_MAX_AGE_S."""
    participant = new_participant_id("s")
    return signing.TimestampSigner(salt=PREVIEW_SALT).sign_object(
        {"e": experiment_id, "p": participant}
    )


def read_preview_token(token: str) -> tuple[int, str] | None:
    try:
        data = signing.TimestampSigner(salt=PREVIEW_SALT).unsign_object(
            token, max_age=PREVIEW_MAX_AGE_S
        )
        return int(data["e"]), str(data["p"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def new_participant_id(prefix: str = "p") -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def entry_for(experiment_id: int, params: Mapping[str, str]) -> Entry:
    """Read the entry URL's parameters. MTurk: workerId, assignmentId, hitId, turkSubmitTo
    (assignmentId = ASSIGNMENT_ID_NOT_AVAILABLE while previewing); Prolific: PROLIFIC_PID,
    STUDY_ID, SESSION_ID; a direct link: t."""
    if "assignmentId" in params or "workerId" in params:
        if params.get("assignmentId") == MTURK_PREVIEW:
            return Entry("preview")
        worker, assignment = _id(params, "workerId"), _id(params, "assignmentId")
        hit = _id(params, "hitId")
        submit_to = params.get("turkSubmitTo", "").rstrip("/")
        if submit_to not in MTURK_HOSTS:
            raise EntryError(_("This Mechanical Turk link has no valid turkSubmitTo."))
        return Entry(
            "rater", RaterIdentity(experiment_id, "mturk", worker, assignment, hit, submit_to)
        )
    if "PROLIFIC_PID" in params:
        pid, study, session = (
            _id(params, "PROLIFIC_PID"),
            _id(params, "STUDY_ID"),
            _id(params, "SESSION_ID"),
        )
        return Entry("rater", RaterIdentity(experiment_id, "prolific", pid, session, study))
    if "preview" in params:
        preview = read_preview_token(params["preview"])
        if preview is None or preview[0] != experiment_id:
            raise EntryError(
                _("This preview link has expired: open the preview again from the test's pages.")
            )
        return Entry("rater", RaterIdentity(experiment_id, "staff", preview[1]))
    if "t" in params:
        link = read_link_token(params["t"])
        if link is None or link[0] != experiment_id:
            raise EntryError(_("This link is not valid for this test."))
        if not link[1]:
            return Entry("open_link")
        return Entry("rater", RaterIdentity(experiment_id, "link", link[1]))
    raise EntryError(
        _(
            "This link is incomplete: open the test from the crowd platform or from the link "
            "you were given."
        )
    )


def _id(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "")
    if not _ID.fullmatch(value):
        raise EntryError(
            _("This link is incomplete: %(name)s is missing or not valid.") % {"name": name}
        )
    return value
