"""Opening hours in each service's own time zone, past midnight, and closures."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import pytest

from api.services.opening import is_open


@dataclass
class Rule:
    byday: str | None
    opens_at: time | None
    closes_at: time | None
    time_zone: str
    valid_from: date | None = None
    valid_to: date | None = None
    attending_type: str | None = None


OFFICE_DAKAR = Rule("MO,TU,WE,TH,FR", time(8), time(17), "Africa/Dakar")  # UTC+0
OFFICE_KATHMANDU = Rule("MO,TU,WE,TH,FR", time(10), time(17), "Asia/Kathmandu")  # UTC+5:45
NIGHT_SHELTER = Rule("FR,SA", time(22), time(6), "Africa/Dakar")
ALWAYS = Rule("MO,TU,WE,TH,FR,SA,SU", time(0), time(0), "UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("rules", "instant", "expected"),
    [
        ([OFFICE_DAKAR], "2026-11-23T09:00:00+00:00", True),  # Monday 09:00 in Dakar
        ([OFFICE_DAKAR], "2026-11-23T17:00:00+00:00", False),  # closing time is exclusive
        ([OFFICE_DAKAR], "2026-11-22T10:00:00+00:00", False),  # Sunday
        # 04:30 UTC is 10:15 in Kathmandu: open there, though it is night in UTC.
        ([OFFICE_KATHMANDU], "2026-11-23T04:30:00+00:00", True),
        ([OFFICE_KATHMANDU], "2026-11-23T12:00:00+00:00", False),  # 17:45 there
        # Friday 22:00 to Saturday 06:00, Saturday 22:00 to Sunday 06:00.
        ([NIGHT_SHELTER], "2026-11-27T23:00:00+00:00", True),
        ([NIGHT_SHELTER], "2026-11-28T05:59:00+00:00", True),
        ([NIGHT_SHELTER], "2026-11-28T06:00:00+00:00", False),
        ([NIGHT_SHELTER], "2026-11-29T03:00:00+00:00", True),  # Sunday morning, from Saturday
        ([NIGHT_SHELTER], "2026-11-30T03:00:00+00:00", False),  # Monday morning: Sunday is off
        ([NIGHT_SHELTER], "2026-11-27T03:00:00+00:00", False),  # Friday morning: Thursday is off
        ([ALWAYS], "2026-12-25T12:00:00+00:00", True),
        ([], "2026-11-23T09:00:00+00:00", None),
    ],
)
def test_is_open(rules: list[Rule], instant: str, expected: bool | None) -> None:
    assert is_open(rules, at(instant)) is expected


def test_a_closure_wins_over_opening_hours() -> None:
    holiday = Rule(
        None, None, None, "Africa/Dakar", date(2026, 12, 25), date(2026, 12, 25), "closed"
    )
    assert is_open([ALWAYS, holiday], at("2026-12-25T12:00:00+00:00")) is False
    assert is_open([ALWAYS, holiday], at("2026-12-26T12:00:00+00:00")) is True


def test_validity_dates_bound_a_schedule() -> None:
    season = Rule("MO", time(8), time(12), "UTC", valid_from=date(2026, 12, 1))
    assert is_open([season], at("2026-11-23T09:00:00+00:00")) is False
    assert is_open([season], at("2026-12-07T09:00:00+00:00")) is True
