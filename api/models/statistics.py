"""Accountability figures (issue 24): what the worker keeps so that no dashboard reads referrals.

- ``statistics_referral``: one row per referral, of events and codes only (when it was sent, to
  the month; the two organisations and their kinds; the district and region of the receiving
  service's listed area, never finer; priority, needs, how far the loop went and how it ended;
  how long the receiver took to act and to accept, in seconds). No person's data: erasing a
  referral's data changes nothing here. Refreshed by the worker from ``referral`` and
  ``referral_event`` whenever an event is appended (``statistics_pending``, filled by a trigger
  on ``referral_event``).
- ``statistics_period``: each quarter's change counter and the counter its figures were last
  built at; the worker rebuilds a quarter's ``statistics_tally`` when they differ.
- ``statistics_tally``: the raw counts (and medians) of each scope (``network``, or an
  organisation's id) and quarter, by figure name. Small counts are here unprotected: the service
  suppresses them on reading (``api.services.statistics.suppression``); the API never shows
  this table as it is.
"""

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from api.models.base import created_at_field, timestamp_field


class StatisticsReferral(SQLModel, table=True):
    __tablename__ = "statistics_referral"
    __table_args__ = (
        sa.Index("ix_statistics_referral_quarter", "quarter"),
        sa.Index("ix_statistics_referral_sender", "sender_organization_id", "quarter"),
        sa.Index("ix_statistics_referral_receiver", "receiver_organization_id", "quarter"),
    )

    referral_id: uuid.UUID = Field(primary_key=True)
    quarter: str = Field(sa_type=sa.Text)
    month: date
    sender_organization_id: uuid.UUID
    receiver_organization_id: uuid.UUID
    sender_kind: str = Field(sa_type=sa.Text)
    receiver_kind: str = Field(sa_type=sa.Text)
    region_id: uuid.UUID | None = None
    district_id: uuid.UUID | None = None
    priority: str = Field(sa_type=sa.Text)
    needs: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    stage: str = Field(sa_type=sa.Text)
    ending: str | None = Field(default=None, sa_type=sa.Text)
    received_seconds: int | None = None
    accepted_seconds: int | None = None
    overdue: bool
    refreshed_at: datetime = created_at_field()


class StatisticsPending(SQLModel, table=True):
    __tablename__ = "statistics_pending"

    referral_id: uuid.UUID = Field(primary_key=True)
    queued_at: datetime = created_at_field()


class StatisticsPeriod(SQLModel, table=True):
    __tablename__ = "statistics_period"

    quarter: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    version: int = Field(default=1, sa_type=sa.BigInteger)
    built_version: int = Field(default=0, sa_type=sa.BigInteger)
    built_at: datetime | None = timestamp_field()


class StatisticsTally(SQLModel, table=True):
    __tablename__ = "statistics_tally"

    scope: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    quarter: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    figure: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    value: int = Field(sa_type=sa.BigInteger)
