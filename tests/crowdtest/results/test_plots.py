"""The results plots draw what they are given, even at the edges of a collection."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from crowdtest.results.plots import progress_png


def markers(svg: str, colour: str) -> int:
    """Markers drawn in `colour` (matplotlib's SVG places each as a <use> of its shape)."""
    return len(re.findall(rf'<use xlink:href="#m[0-9a-f]+"[^>]*fill: {colour}', svg))


def test_votes_collected_in_one_time_bucket_still_show() -> None:
    """Every vote in one bucket is a single point per series: a step line of one point
    draws nothing, so each series marks its points."""
    svg = progress_png([datetime(2026, 1, 1, tzinfo=UTC)], [12], [10], [0.8], fmt="svg").decode()
    # The collected and valid series (matplotlib's first two colours), the point and its
    # legend entry each.
    assert markers(svg, "#1f77b4") == 2 and markers(svg, "#ff7f0e") == 2
