"""Quarters: the one period every figure is published for (``2026Q3``). Months appear only
inside a quarter, as the lines of one of its tables, so that no two periods the API allows
overlap (docs/statistics.md)."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from api.errors import Unprocessable

QUARTER_PATTERN = r"^(20[0-9]{2})Q([1-4])$"
_QUARTER = re.compile(QUARTER_PATTERN)


class QuarterNotPublished(Unprocessable, code="quarter-not-published"):
    """The public figures are of quarters that have ended."""


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> "Quarter":
        found = _QUARTER.fullmatch(text)
        if found is None:
            raise ValueError("a quarter is written like 2026Q3")
        return cls(int(found[1]), int(found[2]))

    @classmethod
    def of(cls, day: date) -> "Quarter":
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def current(cls) -> "Quarter":
        return cls.of(datetime.now(UTC).date())

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"

    @property
    def months(self) -> tuple[str, str, str]:
        first = 3 * (self.number - 1) + 1
        return (
            f"{self.year}-{first:02d}",
            f"{self.year}-{first + 1:02d}",
            f"{self.year}-{first + 2:02d}",
        )

    def previous(self) -> "Quarter":
        if self.number == 1:
            return Quarter(self.year - 1, 4)
        return Quarter(self.year, self.number - 1)

    def recent(self, count: int) -> list["Quarter"]:
        """This quarter and the ``count - 1`` before it, newest first."""
        quarters = [self]
        while len(quarters) < count:
            quarters.append(quarters[-1].previous())
        return quarters


def last_ended() -> Quarter:
    return Quarter.current().previous()


def ended(quarter: Quarter) -> Quarter:
    """The quarter, if it has ended (the public page's rule: a quarter's figures are published
    once no referral can be added to it)."""
    if quarter >= Quarter.current():
        raise QuarterNotPublished("Public figures are published for quarters that have ended.")
    return quarter
