"""Writes of the platforms app. Every service takes keyword-only arguments and raises
`PlatformError`."""

from ..errors import PlatformError
from .amt_import import AmtImportReport, amt_results_import
from .caps import cap_list_ensure, caps_apply, rater_cap_apply
from .messages import raters_message
from .payments import PaymentReport, payments_execute
from .publish import (
    PublishOptions,
    PublishPlan,
    PublishResult,
    publication_create,
    publication_plan,
)
from .sync import SyncReport, platform_sync

__all__ = [
    "AmtImportReport",
    "PaymentReport",
    "PlatformError",
    "PublishOptions",
    "PublishPlan",
    "PublishResult",
    "SyncReport",
    "amt_results_import",
    "cap_list_ensure",
    "caps_apply",
    "payments_execute",
    "platform_sync",
    "publication_create",
    "publication_plan",
    "rater_cap_apply",
    "raters_message",
]
