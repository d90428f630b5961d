"""An experiment's settings: every number of the method, with the paper's defaults.

Stored as JSON on the experiment; reading fills in defaults for keys added later, so
old experiments keep working. Every export writes the resolved settings beside its data.
"""

from __future__ import annotations

import math
import re
import typing
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

CHOICES: dict[str, tuple[str, ...]] = {
    "clustering_algorithm": ("kmeans", "hdbscan"),
    "platform": ("link", "mturk", "prolific"),
}
MONEY = re.compile(r"\d{1,4}(\.\d{1,2})?")
MAX_PLAYBACK_TOLERANCE_S = 2.0
MONEY_SETTINGS = ("reward_usd", "bonus_usd")
KIND_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class ExperimentSettings:
    # Stimuli (MISSION step 2)
    excerpt_seconds: float = 10.0
    target_lufs: float = -23.0
    max_true_peak_db: float = -1.0
    delivery_bitrate_kbps: int = 320
    # Features and clusters (step 3)
    n_clusters: int = 5
    clustering_algorithm: str = "kmeans"
    seed: int = 0
    # Session design (step 4)
    stimuli_per_cluster: int = 4
    training_size: int = 12
    votes_per_stimulus: int = 15
    trap_sources: int = 12
    traps_per_session: int = 1
    setup_repeat_minutes: int = 30
    training_repeat_minutes: int = 60
    session_timeout_minutes: int = 90
    playback_tolerance_seconds: float = 0.3
    # Publishing (step 5)
    platform: str = "link"
    reward_usd: str = "0.50"
    bonus_usd: str = "0.10"
    bonus_after_sessions: int = 15
    max_sessions_per_rater: int = 20
    # The languages the rater's page and spoken prompts offer, comma-separated codes of
    # settings.LANGUAGES (en, de, fr, es); the first is the default.
    languages: str = "en"
    # Screening (step 6)
    screen_math: bool = True
    screen_traps: bool = True
    screen_hearing: bool = True
    screen_headphones: bool = True
    min_rating_variance: float = 0.1
    # Gold stimuli (P.808 toolkit, optional): stimuli of known quality marked with
    # `mark_gold`, `gold_per_session` of them in every rating session; with `screen_gold`
    # a session fails when a gold answer is more than `gold_tolerance` from the known score.
    screen_gold: bool = False
    gold_tolerance: int = 1
    gold_per_session: int = 1
    outlier_z: float | None = None
    min_rater_pcc: float | None = None
    # Page visibility (optional, as the P.808 toolkit records it): a session fails when
    # the page was hidden for more than `hidden_seconds_per_clip` while more than
    # `max_hidden_clips` of its rated clips played. None: the rule is off.
    max_hidden_clips: int | None = None
    hidden_seconds_per_clip: float = 1.0
    # Adaptive collection (beyond P.808): stop giving a stimulus out once its 95% CI
    # full width is at most this, with at least `adaptive_min_votes` valid votes.
    target_ci_width: float | None = None
    adaptive_min_votes: int = 10

    def __post_init__(self) -> None:
        problems = self._type_problems()
        if problems:  # ranges can't be checked on values of the wrong type
            raise SettingsError("; ".join(problems))
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {', '.join(allowed)}")
        positive = (
            "excerpt_seconds",
            "n_clusters",
            "stimuli_per_cluster",
            "votes_per_stimulus",
            "max_sessions_per_rater",
            "delivery_bitrate_kbps",
        )
        problems += [f"{name} must be positive" for name in positive if getattr(self, name) <= 0]
        problems += [
            f"{name} must not be negative"
            for name in ("gold_tolerance", "gold_per_session")
            if getattr(self, name) < 0
        ]
        if self.max_true_peak_db > 0:
            problems.append("max_true_peak_db must be at most 0 dBTP")
        if self.target_ci_width is not None and self.target_ci_width <= 0:
            problems.append("target_ci_width must be positive when set")
        problems += _language_problems(self.languages)
        if problems:
            raise SettingsError("; ".join(problems))

    @property
    def language_codes(self) -> tuple[str, ...]:
        """The offered languages, the default first."""
        return tuple(code.strip() for code in self.languages.split(","))

    def _type_problems(self) -> list[str]:
        """Each value of its declared type (an int where an int is declared, a float or int
        for a float, None only where allowed): a JSON value of another type is refused."""
        hints = _hints(type(self))
        problems = []
        for f in fields(self):
            value, annotation = getattr(self, f.name), hints[f.name]
            allowed = typing.get_args(annotation) or (annotation,)
            if value is None:
                if type(None) not in allowed:
                    problems.append(f"{f.name} must be set")
                continue
            kinds = {a for a in allowed if a is not type(None)}
            if bool in kinds:
                ok = isinstance(value, bool)
            elif int in kinds:
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif float in kinds:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                ok = ok and math.isfinite(value)
            else:
                ok = isinstance(value, str)
            if not ok:
                kind = next(k for k in (bool, int, float, str) if k in kinds)
                problems.append(f"{f.name} must be {KIND_WORDS[kind]}, got {value!r}"[:200])
        return problems

    def validate(self) -> None:
        """The ranges a new value must be in (checked when settings are written; stored
        settings are read without them, so an experiment saved before a range was added
        keeps working and its Settings page shows what to fix)."""
        problems = self._range_problems()
        if problems:
            raise SettingsError("; ".join(problems))

    def _range_problems(self) -> list[str]:
        problems = []
        for name in ("reward_usd", "bonus_usd"):
            if not MONEY.fullmatch(getattr(self, name)):
                problems.append(f"{name} must be an amount in dollars like 0.50")
        if MONEY.fullmatch(self.reward_usd) and Decimal(self.reward_usd) <= 0:
            problems.append("reward_usd must be more than 0")
        not_negative = (
            "seed",
            "training_size",
            "trap_sources",
            "traps_per_session",
            "setup_repeat_minutes",
            "training_repeat_minutes",
            "bonus_after_sessions",
            "min_rating_variance",
            "playback_tolerance_seconds",
        )
        problems += [
            f"{name} must not be negative" for name in not_negative if getattr(self, name) < 0
        ]
        if self.session_timeout_minutes < 1:
            problems.append("session_timeout_minutes must be at least 1")
        if self.playback_tolerance_seconds > MAX_PLAYBACK_TOLERANCE_S:
            problems.append(
                f"playback_tolerance_seconds must be at most {MAX_PLAYBACK_TOLERANCE_S:g}: a "
                "larger tolerance lets raters answer before the clip has played"
            )
        if self.gold_tolerance > 4:
            problems.append("gold_tolerance must be at most 4 (the ACR scale spans 1..5)")
        if self.outlier_z is not None and self.outlier_z <= 0:
            problems.append("outlier_z must be positive when set (the toolkit uses 3.29)")
        if self.max_hidden_clips is not None and self.max_hidden_clips < 0:
            problems.append("max_hidden_clips must not be negative when set (0: none may be)")
        if self.hidden_seconds_per_clip < 0:
            problems.append("hidden_seconds_per_clip must not be negative")
        if self.min_rater_pcc is not None and not -1 <= self.min_rater_pcc <= 1:
            problems.append("min_rater_pcc must be between -1 and 1 when set")
        if self.adaptive_min_votes < 2:
            problems.append("adaptive_min_votes must be at least 2 (a CI needs two votes)")
        if not -70 <= self.target_lufs <= 0:
            problems.append("target_lufs must be between -70 and 0 LUFS")
        return problems

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, strict: bool = True) -> ExperimentSettings:
        """Settings from their JSON. Values of a near type are taken as meant (10.0 for a
        whole number, 0.75 for a dollar amount); `strict` also checks the ranges, as every
        write does."""
        known = {f.name for f in fields(cls)}
        data = data or {}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"Unknown settings: {', '.join(unknown)}")
        try:
            settings = cls(**_coerced(cls, data))
        except TypeError as exc:
            raise SettingsError(str(exc)) from exc
        if strict:
            settings.validate()
        return settings

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def replace(self, **changes: Any) -> ExperimentSettings:
        return ExperimentSettings.from_dict({**self.to_dict(), **changes})


def _coerced(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """JSON numbers as the declared type where nothing is lost: a whole float for an int
    setting, a number for a dollar amount (a string, as `Decimal` reads it exactly)."""
    hints = _hints(cls)
    out = dict(data)
    for name, value in data.items():
        kinds = set(typing.get_args(hints[name]) or (hints[name],))
        if isinstance(value, bool):
            continue
        if int in kinds and isinstance(value, float) and value.is_integer():
            out[name] = int(value)
        elif str in kinds and name in MONEY_SETTINGS and isinstance(value, int | float):
            out[name] = str(Decimal(str(value)))
    return out


def _language_problems(value: str) -> list[str]:
    from crowdtest.languages import supported

    codes = [code.strip() for code in value.split(",")]
    known = supported()
    unknown = [code for code in codes if code not in known]
    if unknown or len(set(codes)) != len(codes):
        return [
            f"languages must be distinct codes among {', '.join(known)}, comma-separated "
            f"(the first is the default), got {value!r}"[:200]
        ]
    return []


_HINTS: dict[str, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a settings class, once: every `Experiment.config`
    read checks its values against them."""
    key = f"{cls.__module__}.{cls.__qualname__}"
    if key not in _HINTS:
        _HINTS[key] = typing.get_type_hints(cls)
    return _HINTS[key]
