"""A comparison clip is the first version, a pause and the second; each method's traps
ask for its own answers by the names on the rater's buttons."""

from __future__ import annotations

import numpy as np
import pytest

from crowdtest.design import clips
from modeling.comparison import TRAP_ANSWERS


def test_a_pair_is_the_first_a_pause_then_the_second() -> None:
    rate = 1000
    first = np.full((500, 2), 0.5, dtype=np.float32)
    second = np.full((500, 1), -0.25, dtype=np.float32)  # a mono version: both channels
    pair = clips.make_pair(first, second, rate)
    gap = round(clips.PAIR_GAP_S * rate)
    assert pair.shape == (500 + gap + 500, 2)
    assert np.all(pair[:500] == 0.5)
    assert np.all(pair[500 : 500 + gap] == 0.0)
    assert np.all(pair[500 + gap :] == -0.25)
    mono = clips.make_pair(first[:, 0], second[:, 0], rate)
    assert mono.shape == (500 + gap + 500,)


@pytest.mark.parametrize("method", ["acr", "dcr", "ccr", "pairwise"])
def test_every_trap_answer_has_a_prompt_naming_its_label(method: str) -> None:
    keys = clips.trap_keys(method)
    assert len(keys) == len(TRAP_ANSWERS[method]) == len(set(keys))
    for key, answer in zip(keys, TRAP_ANSWERS[method]):
        assert key in clips.PROMPT_KEYS and clips.prompt_kind(key) == "trap"
        label = clips.SCALE_WORDS[method][answer]().lower()
        assert clips.prompt_text(key) == (
            f"This is an interruption, please select the answer {label}."
        )
    if method == "acr":
        assert keys == clips.TRAP_KEYS  # ACR's prompts are as before


def test_a_trap_message_is_spoken_in_the_raters_language() -> None:
    assert "viel schlechter" in clips.prompt_text("trap-ccr-m3", "de")
