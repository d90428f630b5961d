"""Audio side of stimulus preparation: probing, excerpting, loudness, AAC delivery.

Every failure a user can act on (a corrupt upload, a track too short for the excerpt, a
silent excerpt, a missing ffmpeg) is raised as `AudioError` with a message that names the
file and says what is wrong, so an import batch can record it per track and go on.
"""

from __future__ import annotations


class AudioError(Exception):
    """A track cannot be turned into a stimulus; the message says why, for the user."""


__all__ = ["AudioError"]
