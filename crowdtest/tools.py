"""The programs the pipeline runs besides Python: ffmpeg and ffprobe (decoding, encoding
and probing audio) and espeak-ng (speaking the test's prompts). A machine without them
hears it at once, with the one command that installs them, instead of half-way through a
job; `manage.py check` (and so `runserver`) warns about them too."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from django.core.checks import Warning, register


@dataclass(frozen=True)
class Tool:
    program: str
    package: str  # the Debian package that carries it
    needed_for: str


TOOLS = (
    Tool("ffmpeg", "ffmpeg", "reading and encoding audio"),
    Tool("ffprobe", "ffmpeg", "reading audio files' properties"),
    Tool("espeak-ng", "espeak-ng", "speaking the test's prompts (digits, trap messages)"),
)


def missing_tools() -> list[Tool]:
    return [tool for tool in TOOLS if shutil.which(tool.program) is None]


def install_command(missing: list[Tool]) -> str:
    packages = " ".join(dict.fromkeys(tool.package for tool in missing))
    return f"sudo apt-get install {packages}"


def missing_message(missing: list[Tool]) -> str:
    """One line naming what is missing, what for, and the command that installs it."""
    names = ", ".join(f"{tool.program} ({tool.needed_for})" for tool in missing)
    return (
        f"Not installed: {names}. Install with `{install_command(missing)}` (Debian or "
        "Ubuntu; elsewhere, your system's packages of the same names), then try again."
    )


@register()
def tools_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    missing = missing_tools()
    if not missing:
        return []
    return [Warning(missing_message(missing), id="crowdtest.W001")]
