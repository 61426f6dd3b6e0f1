"""Accountability figures (issue 24): anonymised counts of the referral network, with small
counts protected.

- ``rollup``: the worker's job (facts of changed referrals, then a changed quarter's counts);
- ``figures``: the fixed tables of a release and which of their counts are published;
- ``suppression``: the small-cell rule (primary and secondary suppression);
- ``reads``: who sees which release, the release as CSV, and the directory's health;
- ``periods``: quarters.
"""

from api.services.statistics.figures import Audience, Line, Release, Table, Time, funnel_steps
from api.services.statistics.periods import Quarter, QuarterNotPublished, last_ended
from api.services.statistics.reads import (
    HIDDEN,
    DirectoryHealth,
    DirectoryNeed,
    StatisticsNotAllowed,
    csv_lines,
    directory_health,
    public_figures,
    referral_figures,
)
from api.services.statistics.rollup import (
    rebuild_changed,
    rebuild_directory,
    refresh_facts,
    roll_up,
)

__all__ = [
    "HIDDEN",
    "Audience",
    "DirectoryHealth",
    "DirectoryNeed",
    "Line",
    "Quarter",
    "QuarterNotPublished",
    "Release",
    "StatisticsNotAllowed",
    "Table",
    "Time",
    "csv_lines",
    "directory_health",
    "funnel_steps",
    "last_ended",
    "public_figures",
    "rebuild_changed",
    "rebuild_directory",
    "referral_figures",
    "refresh_facts",
    "roll_up",
]
