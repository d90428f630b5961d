"""What the rater's page script says, translated on the server (Django's i18n) and handed to
the page as JSON beside its markup, so one catalog (locale/) holds every string a rater
reads. `%(name)s` marks a value the script fills in."""

from __future__ import annotations

from django.utils.translation import gettext as _

from crowdtest.design.clips import SCALE_WORDS


def rating_scale(method: str) -> list[dict[str, object]]:
    """The answers of the test method's scale as the page shows them, top first (a
    pairwise test's in the order its versions play: the first, then the second): the
    score sent, the key that gives it and its P.808 label in the active language. Keys
    count from 1 at the bottom of the scale (CCR's -3 is key 1, +3 key 7)."""
    words = SCALE_WORDS[method]
    lowest = min(words)
    return [
        {"score": score, "key": score - lowest + 1, "label": words[score]()}
        for score in sorted(words, reverse=method != "pairwise")
    ]


def method_strings(method: str) -> dict[str, str]:
    """What the page says about the clips of a comparison test (DCR, CCR, pairwise): each
    clip plays two versions one after the other."""
    if method == "dcr":
        intro = _(
            "Each recording plays a reference, a short pause, then a second version of the "
            "same music. Rate how degraded the second is compared to the reference."
        )
        ask = _("How degraded was the second version? Choose 1 to 5.")
    elif method == "ccr":
        intro = _(
            "Each recording plays two versions of the same music, one after the other. Rate "
            "the audio quality of the second compared to the first."
        )
        ask = _("How was the second version compared to the first?")
    elif method == "pairwise":
        intro = _(
            "Each recording plays two versions of the same music, one after the other. "
            "Choose the version whose audio quality is better."
        )
        ask = _("Which version sounded better?")
    else:
        return {}
    return {
        "rate_intro": intro,
        "how_was_it": ask,
        "listen": _("Listen to both versions to the end, then answer."),
    }


def page_strings(method: str = "acr") -> dict[str, str]:
    """The script's strings in the active language, for the test method's clips."""
    offline = _(
        "The connection is lost, so the recording can't load. It will be ready again when "
        "the connection is back."
    )
    strings = {
        "resync": _("Something went wrong; continuing from the saved state."),
        "cant_open": _("This test can't be opened"),
        "reload": _("Please reload the page."),
        "timed_out": _("Session timed out"),
        "stops_here": _("The test stops here"),
        "thank_you": _("Thank you"),
        "not_available": _("The test is not available."),
        "offline": offline,
        "no_sound": _("The audio could not be played. Check your sound and try again."),
        "loading": _("Loading the recording…"),
        "playing": _("Playing…"),
        "position": _("%(position)s / %(duration)s (%(left)s left)"),
        "load_failed": _("The recording could not be loaded. Press play to try again."),
        "back_online": _("The connection is back: press play."),
        "checking": _("Checking that your device plays the test's audio…"),
        "cant_play": _("This browser can't play the test's audio"),
        "wrong_digits": _(
            "Those were not the digits played. Listen to new digits (%(tries)s tries left)."
        ),
        "practice": _("Practice round"),
        "rate_title": _("Rate the recordings"),
        "practice_intro": _(
            "These first recordings are for practice, to get used to the range of quality. "
            "Rate them as you would the others."
        ),
        "rate_intro": _("Rate the audio quality of each recording."),
        "saving": _("Saving your answers…"),
        "play": _("▶ Play"),
        "play_again": _("↻ Play again"),
        "listen": _("Listen to the whole recording, then rate its audio quality."),
        "how_was_it": _("How was the audio quality? Choose 1 to 5."),
        "copied": _("Copied."),
        "selected": _("Selected: copy it with Ctrl+C (or your device's Copy)."),
        "answer_all": _("Please answer every question (the first with a number)."),
        **method_strings(method),
    }
    if method != "acr":  # the practice round says how a pair plays, too
        strings["practice_intro"] += " " + strings["rate_intro"]
    return strings
