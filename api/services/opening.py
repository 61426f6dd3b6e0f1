"""Is a service open at a given instant, in its own time zone?

Schedules are HSDS weekly rules (``byday``, ``opens_at``, ``closes_at``) in an IANA time zone,
valid between ``valid_from`` and ``valid_to`` when those are set. Hours that end before they
start run past midnight (22:00-06:00: Monday 22:00 to Tuesday 06:00); 00:00-00:00 is all day.
A schedule whose ``attending_type`` is ``closed`` is a closure (a holiday, works): while it
applies, the service is closed whatever its other hours say.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
CLOSED = "closed"


@dataclass(frozen=True)
class Hours:
    """A schedule row as the search's details query returns it: what ``is_open`` reads."""

    byday: str | None
    opens_at: time | None
    closes_at: time | None
    time_zone: str
    valid_from: date | None
    valid_to: date | None
    attending_type: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> "Hours":
        def moment(value: str | None) -> time | None:
            return time.fromisoformat(value) if value else None

        def day(value: str | None) -> date | None:
            return date.fromisoformat(value) if value else None

        return cls(
            byday=row.get("byday"),
            opens_at=moment(row.get("opens_at")),
            closes_at=moment(row.get("closes_at")),
            time_zone=row["time_zone"],
            valid_from=day(row.get("valid_from")),
            valid_to=day(row.get("valid_to")),
            attending_type=row.get("attending_type"),
        )


def _valid_on(rule: Hours, day: date) -> bool:
    return (rule.valid_from is None or rule.valid_from <= day) and (
        rule.valid_to is None or day <= rule.valid_to
    )


def _days(rule: Hours) -> frozenset[str]:
    return _days_of(rule.byday)


@functools.lru_cache(maxsize=256)
def _days_of(byday: str | None) -> frozenset[str]:
    """The days of a ``byday`` list (every day when unset); few distinct lists exist."""
    return frozenset(day.strip() for day in (byday or ",".join(WEEKDAYS)).split(",") if day.strip())


def _covers(rule: Hours, local: datetime) -> bool:
    """Whether the rule's hours include this local moment."""
    opens, closes = rule.opens_at, rule.closes_at
    today, now = local.date(), local.time()
    days = _days(rule)
    if opens is None or closes is None or opens == closes:
        return WEEKDAYS[today.weekday()] in days and _valid_on(rule, today)
    if opens < closes:
        return (
            WEEKDAYS[today.weekday()] in days and _valid_on(rule, today) and opens <= now < closes
        )
    yesterday = today - timedelta(days=1)
    started_today = WEEKDAYS[today.weekday()] in days and _valid_on(rule, today) and now >= opens
    started_yesterday = (
        WEEKDAYS[yesterday.weekday()] in days and _valid_on(rule, yesterday) and now < closes
    )
    return started_today or started_yesterday


def is_open(rules: Sequence[Hours], instant: datetime) -> bool | None:
    """True or False, or None when the service publishes no hours."""
    if not rules:
        return None
    opening = [rule for rule in rules if rule.attending_type != CLOSED]
    closures = [rule for rule in rules if rule.attending_type == CLOSED]
    for rule in closures:
        if _covers(rule, instant.astimezone(ZoneInfo(rule.time_zone))):
            return False
    return any(_covers(rule, instant.astimezone(ZoneInfo(rule.time_zone))) for rule in opening)
