"""What every table shares: the metadata (with a naming convention) and migration filters."""

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata

# Tables PostGIS and its companions own; migrations and drift checks leave them alone.
EXTENSION_TABLES = frozenset({"spatial_ref_sys", "geography_columns", "geometry_columns"})


# A month's partition of a table partitioned by time (migration 0029): made by the worker, not
# by a model.
MONTH_PARTITION = re.compile(r"(audit_event|outbox_event)_y\d{4}m\d{2}")


def partitioned_by_month(*table_args: Any, on: str) -> tuple[Any, ...]:
    """``__table_args__`` of a table partitioned by month on its column ``on`` (migration 0029,
    ``MONTH_PARTITION``): a unique key among ``table_args`` holds that column too."""
    return (*table_args, {"postgresql_partition_by": f"RANGE ({on})"})


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "table" and name is not None and MONTH_PARTITION.fullmatch(name):
        return False
    if type_ == "foreign_key_constraint" and MONTH_PARTITION.fullmatch(obj.referred_table.name):
        return False  # PostgreSQL's own copy, for each partition, of a key to the parent
    return not (type_ == "table" and name in EXTENSION_TABLES)


def utcnow() -> datetime:
    return datetime.now(UTC)


def created_at_field() -> Any:
    """A ``timestamptz NOT NULL DEFAULT now()`` column, filled in Python too."""
    return Field(
        default_factory=utcnow,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now()},
    )


def timestamp_field(*, nullable: bool = True) -> Any:
    """A ``timestamptz`` column with no default."""
    return Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
        nullable=nullable,
    )


def position_field() -> Any:
    """A ``bigint NOT NULL`` identity: the order in which the database wrote the rows."""
    return Field(default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), nullable=False))


# Text columns the directory's ``search`` parameter reads with ``ILIKE '%words%'`` (HSDS).
SEARCHED_COLUMNS = ("name", "alternate_name", "description")


def trigram_indexes(table: str) -> tuple[sa.Index, ...]:
    """GIN trigram indexes (pg_trgm, migration 0014) on a table's searched columns, so that an
    ``ILIKE '%words%'`` of three characters or more reads the index rather than every row."""
    return tuple(
        sa.Index(
            f"ix_{table}_{column}_trgm",
            column,
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )
        for column in SEARCHED_COLUMNS
    )


def enum_check(column: str, values: type[StrEnum]) -> sa.CheckConstraint:
    """A CHECK, named for its column (``ck_<table>_<column>``), that keeps a text column within
    an enumeration (easier to extend than a PostgreSQL enum type)."""
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=column)
