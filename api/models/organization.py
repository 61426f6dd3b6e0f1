"""Organisations: the partners that hold OAuth clients and, later, list their services."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from api.models.base import created_at_field, enum_check, trigram_indexes, utcnow
from api.models.directory import Visibility


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
        enum_check("kind", OrganizationKind),
        enum_check("status", OrganizationStatus),
        enum_check("visibility", Visibility),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
        sa.UniqueConstraint("source", "source_id"),
        # What people's accounts refer to with their role (api/models/people.py): only operators
        # in the operator's organisation, and operators nowhere else.
        sa.UniqueConstraint("id", "operator"),
        sa.Index("uq_organization_operator", "operator", unique=True, postgresql_where="operator"),
        *trigram_indexes("organization"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_type=sa.Text)
    kind: str = Field(sa_type=sa.Text)
    status: str = Field(default=OrganizationStatus.active.value, sa_type=sa.Text)
    created_at: datetime = created_at_field()
    # HSDS organization fields and the directory's extensions (api/models/directory.py).
    alternate_name: str | None = Field(default=None, sa_type=sa.Text)
    description: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    email: str | None = Field(default=None, sa_type=sa.Text)
    website: str | None = Field(default=None, sa_type=sa.Text)
    visibility: str = Field(
        default="public", sa_type=sa.Text, sa_column_kwargs={"server_default": "public"}
    )
    translations: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=postgresql.JSONB,
        sa_column_kwargs={"server_default": sa.text("'{}'::jsonb")},
    )
    source: str | None = Field(default=None, sa_type=sa.Text)
    source_id: str | None = Field(default=None, sa_type=sa.Text)
    last_modified: datetime = Field(
        default_factory=utcnow,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now()},
        index=True,
    )
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    operator: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    """Relay's operating organisation (one at most: ``relay orgs create --operator``): the only
    one whose people have the ``operator`` role, and the only role its people have."""
