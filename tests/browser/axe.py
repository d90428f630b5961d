"""axe-core (from the npm registry; `.ci/run` and `make axe` fetch it) run in the page
through Playwright: the accessibility violations of what the page shows now."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

from tests.conftest import require_service

AXE_VERSION = "4.14.1"
DEFAULT = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    / "crowdtest"
    / f"axe-core-{AXE_VERSION}"
    / "package"
    / "axe.min.js"
)


def axe_source() -> str:
    path = Path(os.environ.get("AXE_CORE_JS", DEFAULT))
    require_service("axe-core", path.is_file(), f"make axe (npm pack axe-core@{AXE_VERSION})")
    return path.read_text()


def serious_violations(page: Page, source: str) -> list[str]:
    """Serious and critical WCAG 2.1 A/AA violations of the visible page, one line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=source)
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {
              runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
            });
            return r.violations.map(v => ({ id: v.id, impact: v.impact,
              where: v.nodes.map(n => n.target.join(' ')).slice(0, 3) }));
        }"""
    )
    return [
        f"{v['id']} ({v['impact']}) at {', '.join(v['where'])}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
