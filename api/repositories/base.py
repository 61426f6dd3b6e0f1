"""What every repository shares: who the unit of work acts for, adding rows, a lock per key.

Row-level security (migrations 0008 to 0010) holds the referral-side tables (consents,
referrals, the event outbox, webhooks, the audit trail) to the organisation a transaction acts
for, in addition to the repositories' own ``readable`` scoping: each unit of work on them first
calls ``act_as`` (a request) or ``act_as_worker`` (maintenance over every row).
"""

import uuid
from collections.abc import Collection
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.directory import AdminArea, Service

RowT = TypeVar("RowT")
FirstT = TypeVar("FirstT")
SecondT = TypeVar("SecondT")
NamedT = TypeVar("NamedT", AdminArea, Service)


def contains(search: str, *columns: Any) -> Any:
    """Any of ``columns`` contains ``search``, without case (``%`` and ``_`` as themselves)."""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(*(column.ilike(f"%{escaped}%", escape="\\") for column in columns))


async def act_as(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Row-level security: this transaction acts for ``organization_id``."""
    await session.execute(
        select(func.set_config("relay.organization_id", str(organization_id), True))
    )


async def act_as_worker(session: AsyncSession) -> None:
    """Row-level security: this transaction is the worker's (maintenance over every row)."""
    await session.execute(select(func.set_config("relay.worker", "on", True)))


async def add(session: AsyncSession, *rows: Any) -> None:
    """Insert or update the rows now (``flush``), so that their ids and defaults are known."""
    session.add_all(rows)
    await session.flush()


async def one_or_none(session: AsyncSession, statement: Select[RowT], *, lock: bool) -> RowT | None:
    """The one row ``statement`` finds, or None; with ``lock``, locked until the transaction
    ends (``FOR UPDATE``)."""
    if lock:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def first_pair(
    session: AsyncSession, statement: Select[FirstT, SecondT]
) -> tuple[FirstT, SecondT] | None:
    """The two things the first row of ``statement`` selects (a row and the row it belongs to),
    or None."""
    row = (await session.execute(statement)).first()
    return (row[0], row[1]) if row else None


async def names_by_id(
    session: AsyncSession, model: type[NamedT], ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The name of each row of ``model`` whose id is one of ``ids``, by id."""
    if not ids:
        return {}
    rows = await session.execute(
        select(col(model.id), col(model.name)).where(col(model.id).in_(ids))
    )
    return dict(rows.all())


async def lock_organization_key(
    session: AsyncSession, organization_id: uuid.UUID, key: str
) -> None:
    """Serialise an organisation's transactions that name the same key (until this transaction
    ends): a concurrent one waits here, then finds what the first one committed. A referral's
    idempotency key; ``webhook-subscriptions`` while counting them against the limit."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"{organization_id}/{key}", 0)))
    )
