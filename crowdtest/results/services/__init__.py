"""Writes of the results app: screening, the MOS table, Vinylset imports, adaptive
collection. Every service takes keyword-only arguments and raises `ResultsError`."""

from ..errors import ResultsError
from .adaptive import RetirementReport, adaptive_retire
from .mos import MosReport, RefreshReport, mos_compute, results_refresh, results_refresh_start
from .screening import (
    ScreeningReport,
    assignment_screen,
    experiment_screen,
    screening_rules,
    verdict_override,
)
from .vinylset import VinylsetImportReport, vinylset_import

__all__ = [
    "MosReport",
    "RefreshReport",
    "ResultsError",
    "RetirementReport",
    "ScreeningReport",
    "VinylsetImportReport",
    "adaptive_retire",
    "assignment_screen",
    "experiment_screen",
    "mos_compute",
    "results_refresh",
    "results_refresh_start",
    "screening_rules",
    "verdict_override",
    "vinylset_import",
]
