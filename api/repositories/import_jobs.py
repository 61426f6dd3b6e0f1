"""Import jobs: each run of ``relay import …`` and what it did."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.directory import ImportJob


async def add(session: AsyncSession, job: ImportJob) -> None:
    session.add(job)
    await session.flush()


async def latest(session: AsyncSession, limit: int) -> list[ImportJob]:
    """The latest jobs, without their reports."""
    statement = (
        select(ImportJob)
        .order_by(col(ImportJob.finished_at).desc(), col(ImportJob.id))
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def report(session: AsyncSession, job_id: uuid.UUID) -> str | None:
    found: str | None = await session.scalar(
        select(col(ImportJob.report)).where(col(ImportJob.id) == job_id)
    )
    return found
