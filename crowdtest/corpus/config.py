"""An experiment's settings: every number of the method, with the paper's defaults.

Stored as JSON on the experiment; reading fills in defaults for keys added later, so
old experiments keep working. Every export writes the resolved settings beside its data.
"""

from __future__ import annotations

import math
import re
import typing
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, cast

from modeling.comparison import METHODS

CHOICES: dict[str, tuple[str, ...]] = {
    "clustering_algorithm": ("kmeans", "hdbscan"),
    "platform": ("link", "mturk", "prolific"),
    "test_method": METHODS,
}
MONEY = re.compile(r"\d{1,4}(\.\d{1,2})?")
MAX_PLAYBACK_TOLERANCE_S = 2.0
MONEY_SETTINGS = ("reward_usd", "bonus_usd")
KIND_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


class SettingsError(ValueError):
    """Settings that can't be used; `problems` lists each (starting with the setting's
    name), the message joins them."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class SettingInfo:
    """How a setting is shown to people: its group, label, unit and help."""

    group: str
    label: str
    unit: str = ""
    help: str = ""


GROUPS = (
    "Stimuli",
    "Corpus and clusters",
    "Session design",
    "Platform and pay",
    "Screening",
    "Adaptive collection",
)


def setting(default: Any, group: str, label: str, unit: str = "", help: str = "") -> Any:
    """A settings field with what people read about it (see `info`)."""
    assert group in GROUPS, group
    return field(default=default, metadata={"info": SettingInfo(group, label, unit, help)})


# The largest seed: every random draw takes it, and a design stores it as an integer.
MAX_SEED = 2**31 - 1
# What one rating session may hold of each kind of clip.
PER_SESSION_MAX = {
    "stimuli_per_cluster": 100,
    "comparisons_per_session": 100,
    "traps_per_session": 10,
    "gold_per_session": 10,
}


@dataclass(frozen=True)
class ExperimentSettings:
    # Stimuli (MISSION step 2)
    excerpt_seconds: float = setting(
        10.0, "Stimuli", "Excerpt length", "s", "Cut from the middle of each track (paper: 10 s)."
    )
    target_lufs: float = setting(
        -23.0, "Stimuli", "Loudness", "LUFS", "Every stimulus is normalised to it (EBU R128)."
    )
    max_true_peak_db: float = setting(
        -1.0, "Stimuli", "Highest true peak", "dBTP", "The gain is lowered to keep peaks below it."
    )
    delivery_bitrate_kbps: int = setting(
        320, "Stimuli", "Delivery bitrate", "kbit/s", "AAC encoding of the clips raters hear."
    )
    # Features and clusters (step 3)
    n_clusters: int = setting(
        5, "Corpus and clusters", "Clusters", "", "K-Means clusters of the features (paper: 5)."
    )
    clustering_algorithm: str = setting(
        "kmeans",
        "Corpus and clusters",
        "Clustering algorithm",
        "",
        "K-Means (the paper's) or HDBSCAN.",
    )
    seed: int = setting(
        0, "Corpus and clusters", "Seed", "", "Every random draw of clustering and design."
    )
    # Session design (step 4)
    stimuli_per_cluster: int = setting(
        4,
        "Session design",
        "Stimuli per cluster in a session",
        "",
        "A rating session holds this many of each cluster (paper: 4 x 5 clusters = 20).",
    )
    test_method: str = setting(
        "acr",
        "Session design",
        "Test method",
        "",
        "acr: rate each clip 1..5 (P.808); dcr: a processed version after its reference, "
        "degradation 1..5 (Annex D); ccr: a version and its reference in random order, "
        "-3..+3 (Annex E); pairwise: which of two versions of a work sounds better.",
    )
    comparisons_per_session: int = setting(
        10,
        "Session design",
        "Pairs per session",
        "",
        "DCR, CCR and pairwise: pairs of clips in a rating session.",
    )
    training_size: int = setting(
        12, "Session design", "Training clips", "", "Rated before the rating session (paper: 12)."
    )
    votes_per_stimulus: int = setting(
        15, "Session design", "Votes per stimulus", "", "The target each stimulus reaches."
    )
    trap_sources: int = setting(
        12,
        "Session design",
        "Trap sources",
        "",
        "Stimuli made into trapping clips, 5 answers each (60 traps for 12).",
    )
    traps_per_session: int = setting(
        1, "Session design", "Traps per session", "", "Trapping clips in each rating session."
    )
    setup_repeat_minutes: int = setting(
        30,
        "Session design",
        "Setup check valid for",
        "min",
        "The volume and digits check is asked again after this long.",
    )
    training_repeat_minutes: int = setting(
        60, "Session design", "Training valid for", "min", "Training is repeated after this long."
    )
    session_timeout_minutes: int = setting(
        90,
        "Session design",
        "Session timeout",
        "min",
        "An unfinished session goes back to the pool after this long.",
    )
    playback_tolerance_seconds: float = setting(
        0.3,
        "Session design",
        "Playback tolerance",
        "s",
        "How much shorter than a clip's length its playing may be and still count.",
    )
    # Publishing (step 5)
    platform: str = setting(
        "link", "Platform and pay", "Platform", "", "Where the test is published."
    )
    reward_usd: str = setting(
        "0.50", "Platform and pay", "Reward per session", "USD", "Paid for a completed session."
    )
    bonus_usd: str = setting(
        "0.10", "Platform and pay", "Bonus", "USD", "Paid per session after the bonus threshold."
    )
    bonus_after_sessions: int = setting(
        15,
        "Platform and pay",
        "Bonus after",
        "sessions",
        "Valid sessions a rater completes before bonuses are paid.",
    )
    max_sessions_per_rater: int = setting(
        20, "Platform and pay", "Sessions per rater", "", "The most sessions one rater may take."
    )
    # The languages the rater's page and spoken prompts offer, comma-separated codes of
    # settings.LANGUAGES (en, de, fr, es); the first is the default.
    languages: str = setting(
        "en",
        "Session design",
        "Languages",
        "",
        "Comma-separated codes among en, de, fr, es; the first is the default.",
    )
    # Screening (step 6)
    screen_math: bool = setting(
        True, "Screening", "Math question", "", "A wrong answer makes the session invalid."
    )
    screen_traps: bool = setting(
        True, "Screening", "Traps", "", "A trap answered wrongly makes the session invalid."
    )
    screen_hearing: bool = setting(
        True, "Screening", "Normal hearing", "", "Raters reporting impaired hearing are left out."
    )
    screen_headphones: bool = setting(
        True, "Screening", "Headphones", "", "Raters without headphones are left out."
    )
    min_rating_variance: float = setting(
        0.1,
        "Screening",
        "Lowest rating variance",
        "",
        "A session whose scores vary less (straight-lining) is invalid.",
    )
    # Gold clips (P.808 toolkit): clips of known quality, `gold_per_session` of them in
    # every rating session. Stimuli marked with `mark_gold` are used when there are any;
    # otherwise, with `gold_made`, the build makes one from each trap source, ruined so
    # badly that its score is known to be 1 (Bad). They anchor the rater verdict (see
    # `min_rater_pcc`); with `screen_gold` a session also fails when a gold answer is more
    # than `gold_tolerance` from the known score.
    gold_made: bool = setting(
        True,
        "Session design",
        "Make gold clips",
        "",
        "With no gold stimuli marked, make clips known to be Bad from the trap sources.",
    )
    screen_gold: bool = setting(
        False,
        "Screening",
        "Gold stimuli",
        "",
        "A gold answer off by more than the tolerance fails the session.",
    )
    gold_tolerance: int = setting(
        1,
        "Screening",
        "Gold tolerance",
        "ACR points",
        "How far a gold answer may be from its score.",
    )
    gold_per_session: int = setting(
        2, "Session design", "Gold clips per session", "", "Gold clips in each rating session."
    )
    outlier_z: float | None = setting(
        None,
        "Screening",
        "Outlier z-score",
        "",
        "Votes further from the stimulus mean are dropped; blank: off (the toolkit uses 3.29).",
    )
    # The rater verdict (beyond P.808): the correlation of a rater's answers, over all
    # their valid sessions, with the other raters' MOS and the gold clips' known scores.
    # 0.3 caught over 90% of trap-passing random raters and no honest one in a simulated
    # crowd on Vinylset's labels (tests/modeling/test_rater_screening.py).
    min_rater_pcc: float | None = setting(
        0.3,
        "Screening",
        "Lowest rater correlation",
        "",
        "Raters whose answers follow the others' MOS and the gold clips less are left out;"
        " blank: off.",
    )
    min_rater_answers: int = setting(
        10,
        "Screening",
        "Answers before a rater is judged",
        "",
        "Rated stimuli that others rated too, plus gold answers.",
    )
    # Page visibility (optional, as the P.808 toolkit records it): a session fails when
    # the page was hidden for more than `hidden_seconds_per_clip` while more than
    # `max_hidden_clips` of its rated clips played. None: the rule is off.
    max_hidden_clips: int | None = setting(
        None,
        "Screening",
        "Clips heard with the page hidden",
        "",
        "More than this many makes the session invalid; blank: off.",
    )
    hidden_seconds_per_clip: float = setting(
        1.0, "Screening", "Hidden time that counts", "s", "Per clip, for the rule above."
    )
    # Adaptive collection (beyond P.808): stop giving a stimulus out once its 95% CI
    # full width is at most this, with at least `adaptive_min_votes` valid votes.
    target_ci_width: float | None = setting(
        None,
        "Adaptive collection",
        "Target CI width",
        "MOS",
        "Stop giving out a stimulus once its 95% CI is this narrow; blank: off.",
    )
    adaptive_min_votes: int = setting(
        10,
        "Adaptive collection",
        "Fewest votes",
        "",
        "Valid votes a stimulus needs before adaptive collection may stop it.",
    )
    adaptive_max_votes: int | None = setting(
        None,
        "Adaptive collection",
        "Most votes",
        "",
        "Stop giving out a stimulus at this many valid votes even if its CI is still wider "
        "than the target (raters who disagree on it need not be paid forever); blank: no cap.",
    )

    def __post_init__(self) -> None:
        problems = self._type_problems()
        if problems:  # ranges can't be checked on values of the wrong type
            raise SettingsError(problems)
        problems = self._value_problems()
        if problems:
            raise SettingsError(problems)

    def _value_problems(self) -> list[str]:
        """What any stored settings must satisfy."""
        problems = []
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {', '.join(allowed)}")
        positive = (
            "excerpt_seconds",
            "n_clusters",
            "stimuli_per_cluster",
            "votes_per_stimulus",
            "comparisons_per_session",
            "max_sessions_per_rater",
            "delivery_bitrate_kbps",
        )
        problems += [f"{name} must be positive" for name in positive if getattr(self, name) <= 0]
        problems += [
            f"{name} must not be negative"
            for name in ("gold_tolerance", "gold_per_session", "min_rater_answers")
            if getattr(self, name) < 0
        ]
        if self.max_true_peak_db > 0:
            problems.append("max_true_peak_db must be at most 0 dBTP")
        if self.target_ci_width is not None and self.target_ci_width <= 0:
            problems.append("target_ci_width must be positive when set")
        problems += _language_problems(self.languages)
        return problems

    @classmethod
    def info(cls, name: str) -> SettingInfo:
        """The group, label, unit and help of a setting."""
        return cast(SettingInfo, next(f for f in fields(cls) if f.name == name).metadata["info"])

    @classmethod
    def problems(cls, data: dict[str, Any]) -> list[tuple[str, str]]:
        """Every problem of these settings at once, as (setting, message), ranges included:
        what a form shows at each field."""
        coerced = _coerced(cls, data)
        values = object.__new__(cls)
        for f in fields(cls):
            object.__setattr__(values, f.name, coerced.get(f.name, f.default))
        found = values._type_problems()
        if not found:
            found = values._value_problems() + values._range_problems()
        return [_split_problem(problem) for problem in found]

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
            raise SettingsError(problems)

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
        if self.seed > MAX_SEED:
            problems.append(f"seed must be at most {MAX_SEED} (it is stored as a 32-bit integer)")
        problems += [
            f"{name} must be at most {most} (a session of more is not one a rater finishes)"
            for name, most in PER_SESSION_MAX.items()
            if getattr(self, name) > most
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
        if (
            self.adaptive_max_votes is not None
            and self.adaptive_max_votes < self.adaptive_min_votes
        ):
            problems.append("adaptive_max_votes must be at least adaptive_min_votes when set")
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


def _split_problem(problem: str) -> tuple[str, str]:
    """("setting", "Must be ...") from "setting must be ..."; ("", problem) otherwise."""
    name, _, rest = problem.partition(" ")
    if name in {f.name for f in fields(ExperimentSettings)} and rest:
        return name, rest[0].upper() + rest[1:] + ("" if rest.endswith(".") else ".")
    return "", problem


_HINTS: dict[str, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a settings class, once: every `Experiment.config`
    read checks its values against them."""
    key = f"{cls.__module__}.{cls.__qualname__}"
    if key not in _HINTS:
        _HINTS[key] = typing.get_type_hints(cls)
    return _HINTS[key]
