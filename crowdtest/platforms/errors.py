"""The one exception of the platforms app."""

from __future__ import annotations


class PlatformError(Exception):
    """A crowd-platform action that can't be done, or that the platform refused; the message
    says why in the domain's words. `outcome_unknown` is True when the platform may or may
    not have done it (a timeout, a 5xx after the last retry): a payment in that state is
    never sent blindly again, it is checked first."""

    def __init__(self, message: str, *, code: str = "", outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.outcome_unknown = outcome_unknown
