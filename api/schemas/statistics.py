"""The accountability figures' contract: a release (one scope, one quarter) as JSON. A hidden
count is ``null``: under the threshold, or hidden so that one under it cannot be worked out."""

from pydantic import BaseModel, Field


class StatsLine(BaseModel):
    key: str = Field(
        description="The line's code: a month (YYYY-MM), an area's id (`-`: none), a need, a "
        "priority, an organisation kind, a status, a reason or outcome code."
    )
    name: str | None = Field(default=None, description="An area's name.")
    group: str | None = Field(
        default=None, description="The group the line is under (a region's id, a status)."
    )
    subtotal: bool = Field(description="The line is its group's total.")
    values: list[int | None] = Field(description="One per column; null: hidden.")


class StatsTable(BaseModel):
    name: str = Field(
        description="months, areas, needs, priorities, kinds (sender by receiver), stages (where "
        "the loop stands), funnel (how far it went), endings (reasons and outcomes by status), "
        "overdue."
    )
    columns: list[str] = Field(
        description="A table of several columns ends with their total (`total`)."
    )
    lines: list[StatsLine]
    totals: list[int | None] = Field(description="The total line, one per column.")


class StatsTime(BaseModel):
    step: str = Field(description="received (the receiver first acted) or accepted.")
    median_seconds: int | None
    p90_seconds: int | None


class StatsRelease(BaseModel):
    audience: str = Field(description="organization (your own), network, or public.")
    quarter: str
    threshold: int = Field(description="Counts under this are hidden.")
    tables: list[StatsTable]
    times: list[StatsTime] = Field(
        description="How long receivers took, from sending (null when fewer referrals than the "
        "threshold say it)."
    )


class StatsDirectoryNeed(BaseModel):
    need: str
    services: int = Field(description="Active services meeting the need.")
    checked_share: float | None = Field(
        description="Of them, the share confirmed still correct (assured_date) within "
        "checked_within_days (null: none)."
    )
    districts_without: int = Field(
        description="Districts with no place meeting the need within reach_km of their centre."
    )


class StatsDirectory(BaseModel):
    districts: int
    reach_km: int
    checked_within_days: int = Field(
        description="A service counts as checked when confirmed within this many days (the "
        "directory's staleness period)."
    )
    needs: list[StatsDirectoryNeed]
