"""The one exception the w2vMOS code raises for problems a user can fix: bad labels,
unreadable audio, a checkpoint that is not wav2vec 2.0, a GPU that is not there."""

from __future__ import annotations


class W2VMOSError(Exception):
    """A w2vMOS input or setting is unusable; the message says which and why."""


class AudioReadError(W2VMOSError):
    """One audio file could not be turned into 16 kHz mono samples."""
