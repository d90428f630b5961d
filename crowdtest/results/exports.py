"""The results' files in an experiment export: mos.csv (the Vinylset CSV), raters.csv
and verdicts.csv, and the reliability section of export.json. `crowdtest.exports`
neutralises formula-like text cells."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

from crowdtest.corpus.models import Experiment
from crowdtest.exports import (
    export_file,
    export_manifest,
    export_names,
    export_one,
    manifest_section,
)

from . import comparisons, selectors
from .models import StimulusMOS

# The columns of the published Vinylset file first and in its order, then what else is
# known. `cluster` repeats `c` under our own name; `lufs` is the stimulus's integrated
# loudness after normalisation.
MOS_COLUMNS = (
    "filename",
    "label",
    "c",
    "mosgroup",
    "CI",
    "std",
    "n",
    "ci95_t",
    "cluster",
    "codec",
    "bitrate_kbps",
    "lufs",
    "votes_collected",
    "source",
    "stimulus_id",
    "track_id",
    "title",
    "artist",
    "mos_corrected",
    "ci95_corrected",
)
RATER_COLUMNS = (
    "rater_id",
    "platform",
    "platform_id",
    "blocked",
    "sessions_completed",
    "sessions_abandoned",
    "sessions_valid",
    "sessions_invalid",
    "reasons",
    "rating_votes",
    "rater_verdict",
    "rater_pcc",
    "rater_answers",
    "rater_reasons",
    "bias",
    "inconsistency",
)
SESSION_COLUMNS = (
    "assignment_id",
    "rater_id",
    "platform_id",
    "session_index",
    "status",
    "started_at",
    "finished_at",
    "ordinal",
    "rating_votes",
    "verdict",
    "reasons",
    "rating_variance",
    "rules_verdict",
    "override_note",
    "override_by",
    "override_at",
    "playback_ok",
    "playback_sample_rate_hz",
    "playback_duration_s",
    "playback_detail",
    "language",
)


def number(value: float | None) -> str | None:
    """A statistic as the Vinylset file writes it: shortest exact decimal, whole numbers
    without ".0" (its `label` has "4"). Only for non-negative values: a text cell
    starting with "-" would be neutralised as a formula."""
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def reasons_cell(counts: dict[str, int]) -> str:
    return "; ".join(f"{code}:{n}" for code, n in sorted(counts.items()))


@export_file(
    "mos.csv",
    "Vinylset CSV: MOS, cluster, 15 MOS classes, 95% CI, std, then n and more, and the "
    "bias-corrected MOS with its CI",
)
def mos_csv(experiment: Experiment) -> tuple[Sequence[str], Iterator[Sequence[Any]]]:
    def row(r: StimulusMOS) -> Sequence[Any]:
        stimulus, track = r.stimulus, r.stimulus.track
        return (
            track.original_name,
            number(r.mos),
            stimulus.cluster,
            r.mosgroup,
            number(r.ci95_normal),
            number(r.std),
            r.n,
            number(r.ci95_t),
            stimulus.cluster,
            stimulus.codec,
            stimulus.bitrate_kbps,
            None if stimulus.lufs_after is None else round(stimulus.lufs_after, 2),
            r.votes_total,
            r.source,
            stimulus.pk,
            track.pk,
            track.title,
            track.artist,
            None if r.mos_corrected is None else round(r.mos_corrected, 5),
            None if r.ci95_corrected is None else round(r.ci95_corrected, 5),
        )

    return MOS_COLUMNS, (row(r) for r in selectors.mos_table(experiment=experiment))


RATER_VERDICT = {True: "valid", False: "invalid", None: "pending"}


@export_file(
    "raters.csv",
    "Every rater: sessions, screening verdicts and their reasons, votes, and the verdict on "
    "the rater (correlation with the others' MOS and the gold clips), bias and inconsistency",
)
def raters_csv(experiment: Experiment) -> tuple[Sequence[str], Iterator[Sequence[Any]]]:
    rows = (
        (
            r["pk"],
            r["platform"],
            r["external_id"],
            r["blocked"],
            r["completed"],
            r["abandoned"],
            r["valid"],
            r["invalid"],
            reasons_cell(r["reasons"]),
            r["votes"],
            RATER_VERDICT[r["rater_valid"]] if r["rater_answers"] is not None else "",
            "" if r["rater_pcc"] is None else round(r["rater_pcc"], 4),
            "" if r["rater_answers"] is None else r["rater_answers"],
            " ".join(r["rater_reasons"] or ()),
            "" if r["bias"] is None else round(r["bias"], 4),
            "" if r["inconsistency"] is None else round(r["inconsistency"], 4),
        )
        for r in selectors.rater_report(experiment=experiment)
    )
    return RATER_COLUMNS, rows


@export_file(
    "verdicts.csv",
    "Every session taken: rater, verdict, reasons, override, votes, the playback check "
    "on the rater's device and the language it was taken in",
)
def verdicts_csv(experiment: Experiment) -> tuple[Sequence[str], Iterator[Sequence[Any]]]:
    def row(a: Any) -> Sequence[Any]:
        verdict = getattr(a, "verdict", None)
        return (
            a.pk,
            a.rater_id,
            a.rater.external_id,
            a.session.index,
            a.status,
            a.started_at.isoformat(),
            a.finished_at.isoformat() if a.finished_at else None,
            verdict.ordinal if verdict else None,
            a.n_votes,
            "not screened" if verdict is None else ("valid" if verdict.valid else "invalid"),
            "; ".join(verdict.reasons) if verdict else "",
            verdict.rating_variance if verdict else None,
            None if verdict is None else ("valid" if verdict.rules_valid else "invalid"),
            a.override_note,
            a.override_by,
            a.override_at.isoformat() if a.override_at else None,
            a.playback.get("ok"),
            a.playback.get("sample_rate_hz"),
            a.playback.get("duration_s"),
            a.playback.get("detail"),
            a.language,
        )

    sessions = selectors.session_report(experiment=experiment).order_by("pk")
    return SESSION_COLUMNS, (row(a) for a in sessions)


PAIR_COLUMNS = (
    "method",
    "reference",
    "processed",
    "n",
    "mean",
    "std",
    "ci95_t",
    "ci95_normal",
    "reference_first_votes",
    "processed_first_votes",
    "reference_stimulus_id",
    "processed_stimulus_id",
    "work_id",
)
RANKING_COLUMNS = (
    "work_id",
    "rank",
    "filename",
    "strength",
    "ci95_low",
    "ci95_high",
    "wins",
    "comparisons",
    "p_top_best",
    "judgements",
    "stimulus_id",
    "track_id",
)


def _signed(value: float | None, digits: int = 5) -> float | None:
    """A statistic that may be negative, as a number (a number cell is never taken for
    a formula, a text cell starting with "-" would be)."""
    return None if value is None else round(float(value), digits)


@export_file(
    "pairs.csv",
    "DCR and CCR: per (reference, processed) pair, the DMOS (P.808 Annex D) or the CMOS "
    "(Annex E, processed against reference, each vote's order undone) of its valid votes "
    "with n, std and 95% CIs",
)
def pairs_csv(experiment: Experiment) -> tuple[Sequence[str], Iterator[Sequence[Any]]]:
    rows = (
        (
            r.method,
            r.reference.track.original_name,
            r.processed.track.original_name,
            r.summary.n,
            _signed(r.summary.mos),
            _signed(r.summary.std),
            _signed(r.summary.ci95_t),
            _signed(r.summary.ci95_normal),
            r.reference_first,
            r.processed_first,
            r.reference.pk,
            r.processed.pk,
            r.processed.track.work_id,
        )
        for r in comparisons.pair_results(experiment=experiment)
    )
    return PAIR_COLUMNS, rows


@export_file(
    "rankings.csv",
    "Pairwise: per group of versions of a work, each version's Bradley-Terry strength "
    "(centred log-strength) with its 95% bootstrap CI, best first, and the probability "
    "that the top version is really the best",
)
def rankings_csv(experiment: Experiment) -> tuple[Sequence[str], Iterator[Sequence[Any]]]:
    rows = (
        (
            group.work_id,
            version.rank,
            version.stimulus.track.original_name,
            _signed(version.strength),
            _signed(version.ci_low),
            _signed(version.ci_high),
            version.wins,
            version.comparisons,
            round(group.p_top_best, 4),
            group.judgements,
            version.stimulus.pk,
            version.stimulus.track_id,
        )
        for group in comparisons.group_rankings(experiment=experiment)
        for version in group.versions
    )
    return RANKING_COLUMNS, rows


# --- Downloads --------------------------------------------------------------------------


@manifest_section("reliability")
def reliability_section(experiment: Experiment) -> dict[str, object]:
    """Inter-rater reliability of the valid rating votes, with 95% bootstrap CIs."""
    return selectors.reliability_report(experiment=experiment).as_json()


def download_stem(manifest: dict[str, Any]) -> str:
    """`<slug>_settings-<digest>_code-<commit>`: a download names the settings it came from
    (a digest; export.json in the zip holds them in full) and the code version."""
    settings = json.dumps(manifest["settings"], sort_keys=True).encode()
    version = str(manifest["code_version"])
    commit = version.removesuffix("-dirty")[:12] + ("-dirty" if version.endswith("-dirty") else "")
    return (
        f"{manifest['experiment']}_settings-{hashlib.sha256(settings).hexdigest()[:8]}"
        f"_code-{commit}"
    )


def export_download(experiment: Experiment, name: str) -> tuple[str, str]:
    """One registered file: (download name, CSV text)."""
    stem = download_stem(export_manifest(experiment))
    return f"{stem}_{name}", export_one(experiment, name)


def export_zip(experiment: Experiment) -> tuple[str, bytes]:
    """Every registered file and export.json (settings, code version) in one zip."""
    manifest = export_manifest(experiment)
    stem = download_stem(manifest)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in export_names():
            archive.writestr(f"{stem}/{name}", export_one(experiment, name))
        archive.writestr(f"{stem}/export.json", json.dumps(manifest, indent=2) + "\n")
    return f"{stem}.zip", out.getvalue()
