"""The synthetic clips of the w2vMOS tests (music-like tones, MOS falling with added
noise), shared with the baselines."""

from tests.modeling.w2vmos.conftest import make_clip, noisy_set

__all__ = ["make_clip", "noisy_set"]
