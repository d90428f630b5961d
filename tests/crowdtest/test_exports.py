"""The export registry and its CSV writer."""

from __future__ import annotations

import pytest

from crowdtest.exports import REGISTRY, csv_text, export_file, safe_cell


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("plain", "plain"),
        (-23.5, -23.5),
        (True, 1),
        (None, ""),
    ],
)
def test_cells_a_spreadsheet_would_run_are_neutralised(value: object, written: object) -> None:
    assert safe_cell(value) == written


def test_csv_text_neutralises_header_and_rows() -> None:
    assert csv_text(["a", "=b"], [["-x", -1.5]]) == "a,'=b\n'-x,-1.5\n"


def test_every_app_file_is_registered_once() -> None:
    assert {"tracks.csv", "stimuli.csv", "sessions.csv", "votes.csv", "mos.csv"} <= set(REGISTRY)
    with pytest.raises(RuntimeError, match=r"Two apps export a file named tracks\.csv"):
        export_file("tracks.csv")(lambda experiment: ((), ()))
