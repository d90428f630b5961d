"""What the rater's page script says, translated on the server (Django's i18n) and handed to
the page as JSON beside its markup, so one catalog (locale/) holds every string a rater
reads. `%(name)s` marks a value the script fills in."""

from __future__ import annotations

from django.utils.translation import gettext as _


def page_strings() -> dict[str, str]:
    """The script's strings in the active language."""
    offline = _(
        "The connection is lost, so the recording can't load. It will be ready again when "
        "the connection is back."
    )
    return {
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
    }
