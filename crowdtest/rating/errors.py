"""The rating app's domain exception, and the messages more than one module shows."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# Tries at the setup's digits before the test stops (a first try and two more).
MAX_DIGITS_ATTEMPTS = 3
STOPPED_MESSAGE = _(
    "The digits you typed did not match the ones played, three times. This test needs "
    "working stereo headphones (or earphones) on both ears, so it stops here. Thank you "
    "for your time."
)


class RatingError(Exception):
    """Something a rater asked for that can't be done. The message is shown to the rater;
    `status` is the HTTP status the API answers with and `code` a stable name for it."""

    def __init__(
        self,
        message: str | Promise,
        *,
        status: int = 409,
        code: str = "conflict",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(str(message))
        self.message = str(message)
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s


REFUSED_MESSAGE = _("You can no longer take part in this test.")
NO_PLAYBACK_MESSAGE = _(
    "This browser could not play the test's audio, so the test did not start and no session "
    "of yours was used. Open the same link in another browser (Chrome, Firefox, Safari or "
    "Edge) or on another device."
)
# A decoded clip may differ from its expected length by this much (encoder padding).
PLAYBACK_DURATION_TOLERANCE_S = 0.5
