"""The gateway of a platform account, built from the environment's credentials."""

from __future__ import annotations

import os

from . import mturk, prolific
from .base import Gateway
from .errors import PlatformError
from .link import NO_PLATFORM


def gateway_for(*, platform: str, sandbox: bool) -> Gateway:
    if platform == "mturk":
        return mturk.MTurk(mturk.make_client(sandbox=sandbox), sandbox=sandbox)
    if platform == "prolific":
        if sandbox:
            raise PlatformError(
                "Prolific has no sandbox: try a study with a few places, or Prolific's test "
                "participant, instead.",
                code="no_sandbox",
            )
        return prolific.Prolific(
            prolific.make_session(),
            workspace_id=os.environ.get("PROLIFIC_WORKSPACE_ID", "").strip(),
            project_id=os.environ.get("PROLIFIC_PROJECT_ID", "").strip(),
        )
    if platform == "link":
        raise PlatformError(NO_PLATFORM, code="no_platform")
    raise PlatformError(
        f"'{platform}' is not a crowd platform crowdtest calls.", code="no_platform"
    )
