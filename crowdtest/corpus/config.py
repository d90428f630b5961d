"""An experiment's settings: every number of the method, with the paper's defaults.

Stored as JSON on the experiment; reading fills in defaults for keys added later, so
old experiments keep working. Every export writes the resolved settings beside its data.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

CHOICES: dict[str, tuple[str, ...]] = {
    "clustering_algorithm": ("kmeans", "hdbscan"),
    "platform": ("link", "mturk", "prolific"),
}


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
    # Adaptive collection (beyond P.808): stop giving a stimulus out once its 95% CI
    # full width is at most this, with at least `adaptive_min_votes` valid votes.
    target_ci_width: float | None = None
    adaptive_min_votes: int = 10

    def __post_init__(self) -> None:
        problems = []
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
        if problems:
            raise SettingsError("; ".join(problems))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ExperimentSettings:
        known = {f.name for f in fields(cls)}
        data = data or {}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"Unknown settings: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise SettingsError(str(exc)) from exc

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def replace(self, **changes: Any) -> ExperimentSettings:
        return ExperimentSettings.from_dict({**self.to_dict(), **changes})
