"""Imports as jobs the operator sees: every ``relay import …`` run records what it read, its
counts (created, updated in place because the source row changed, already present, rejected by
reason) and its CSV report of rejected rows, which ``/app/operator`` lists and offers to
download. The report holds fixed phrases and source ids only (``api/importers/report.py``)."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.errors import NotFound
from api.importers.report import ImportReport
from api.models.directory import ImportJob
from api.repositories import import_jobs as repository
from api.services.organizations import operator_only

LISTED = 20


class ImportJobNotFound(NotFound, code="import-job-not-found"): ...


async def record(session: AsyncSession, report: ImportReport) -> ImportJob:
    job = ImportJob(
        kind=report.kind,
        source=report.source,
        file=report.file,
        counts={key: value for key, value in report.summary().items() if key != "report"},
        report=report.csv_text(),
    )
    await repository.add(session, job)
    return job


async def latest(session: AsyncSession, principal: Principal) -> list[ImportJob]:
    operator_only(principal)
    return await repository.latest(session, LISTED)


async def report_csv(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> str:
    operator_only(principal)
    found = await repository.report(session, job_id)
    if found is None:
        raise ImportJobNotFound("No import job with this id.")
    return found
