"""Writes of session design: building (and rebuilding) an experiment's P.808 test, the
experimenter's recorded prompts, and the sessions' status.

A build runs as a job on the audio queue (`build`): it makes the spoken prompts that are
missing, the trapping stimuli and gold clips (`traps`), a pool of left/right digits clips
and the volume clip, then replaces the previous design in one transaction (`plan`):
training session, rating sessions with traps and gold clips at random positions,
trap-source and gold roles. `checks` refuses a design that can't be built. Rebuilding is
allowed until the first vote; an assignment started without votes is dropped with the old
design. `sessions` is the one writer of a session's status."""

from .build import BUILD_STALE_AFTER, design_build, design_build_start, session_shape
from .checks import (
    DIGITS_POOL,
    TRAINING_FROM_RATED,
    BuildCancelled,
    DesignError,
    DesignNumbers,
    design_check,
    design_numbers,
)
from .plan import design_replace
from .prompts import prompt_reset, prompt_upload
from .sessions import (
    session_add_done,
    session_done,
    session_take,
    sessions_reopen,
    sessions_retire,
    sessions_swap_stimuli,
)

__all__ = [
    "BUILD_STALE_AFTER",
    "DIGITS_POOL",
    "TRAINING_FROM_RATED",
    "BuildCancelled",
    "DesignError",
    "DesignNumbers",
    "design_build",
    "design_build_start",
    "design_check",
    "design_numbers",
    "design_replace",
    "prompt_reset",
    "prompt_upload",
    "session_add_done",
    "session_done",
    "session_shape",
    "session_take",
    "sessions_reopen",
    "sessions_retire",
    "sessions_swap_stimuli",
]
