"""Organisations: the partners that hold OAuth clients and, later, list their services."""

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from api.models.base import check_in, created_at_field


class OrganizationKind(StrEnum):
    police = "police"
    health = "health"
    shelter = "shelter"
    ngo = "ngo"
    legal = "legal"
    social_welfare = "social_welfare"
    committee = "committee"
    hotline = "hotline"
    authority = "authority"


class OrganizationStatus(StrEnum):
    active = "active"
    suspended = "suspended"


class Organization(SQLModel, table=True):
    __tablename__ = "organization"
    __table_args__ = (
        sa.CheckConstraint(check_in("kind", OrganizationKind), name="kind"),
        sa.CheckConstraint(check_in("status", OrganizationStatus), name="status"),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_type=sa.Text)
    kind: str = Field(sa_type=sa.Text)
    status: str = Field(default=OrganizationStatus.active.value, sa_type=sa.Text)
    created_at: datetime = created_at_field()
