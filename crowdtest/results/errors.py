"""The one exception of the results app."""

from __future__ import annotations


class ResultsError(Exception):
    """A results action that can't be done; the message says why, in the domain's words."""
