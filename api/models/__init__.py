"""SQLModel table classes, a module per domain. Importing this package imports every module, and
so registers every table on the metadata."""

from api.models import (
    audit,
    directory,
    events,
    notifications,
    oauth,
    organization,
    people,
    referral,
    statistics,
    worker,
)
from api.models.base import metadata

__all__ = [
    "audit",
    "directory",
    "events",
    "metadata",
    "notifications",
    "oauth",
    "organization",
    "people",
    "referral",
    "statistics",
    "worker",
]
