"""``relay import``: public datasets into the directory (health facilities, administrative areas,
Open Referral HSDS feeds). Every import command lives here.

api/cli.py mounts ``import_app``; this module does not import api/cli.py, so that line can sit
at the top of it. Runs as the application role, like the other commands. Facilities are
committed batch by batch (whole facilities only: see api/importers/facilities.py), so a
re-run after a failure finishes the job; areas and HSDS feeds in one transaction. Progress goes
to stderr and only to a terminal; the summary to stdout; refused rows to a CSV report, never to
the screen. Every run is recorded as an import job (its counts and its report of rejected
rows), which the operator's page lists (``api/services/import_jobs.py``).
"""

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from api.importers.report import ImportReport

import_app = typer.Typer(
    help="Import public datasets (health facilities, administrative areas, HSDS feeds) into the "
    "directory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # their local variables would print the rows being imported
)

Advance = Callable[[int], None]
Result = TypeVar("Result")
Work = Callable[["AsyncSession", Advance], Awaitable[Result]]

_ISO3 = re.compile(r"[A-Za-z]{3}")
_COUNTRY = re.compile(r"[A-Za-z]{2,3}")


class Importer(Protocol):
    """An importer of api/importers/ given the options of its command: what ``_import`` gives
    it is what every importer takes (the session, the file, where the report goes, the progress
    bar's ``advance``)."""

    def __call__(
        self, session: "AsyncSession", path: Path, *, report_path: Path | None, advance: Advance
    ) -> Awaitable["ImportReport"]: ...


class FacilityMapping(StrEnum):
    who_kemri = "who-kemri"
    healthsites = "healthsites"


JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]
ReportOption = Annotated[
    Path | None,
    typer.Option(
        "--report",
        dir_okay=False,
        help="CSV report of the rows refused and why. Default: .local/reports/.",
    ),
]


def _count_rows(path: Path) -> int:
    """Lines after the header: the progress bar's total (a quoted line break counts twice)."""
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(lines - 1, 0)


def _run(work: Work[Result], *, label: str, total: int | None, batches_committed: bool) -> Result:
    """Run ``work`` with a session as the application role and a progress bar on stderr;
    commit at the end (``work`` may commit batches of its own before)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from api.config import Settings
    from api.db import create_engine, create_sessionmaker
    from api.importers import ImportFileError

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )

    async def run(advance: Advance) -> Result:
        engine = create_engine(Settings())
        try:
            async with create_sessionmaker(engine)() as session:
                try:
                    report = await work(session, advance)
                except BaseException:
                    await session.rollback()
                    raise
                await session.commit()
                return report
        finally:
            await engine.dispose()

    try:
        with progress:
            task = progress.add_task(label, total=total)
            return asyncio.run(run(lambda rows: progress.advance(task, rows)))
    except ImportFileError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    except Exception as error:
        # A database error's message can quote the row it refused: print where, not what.
        from api.logging import exception_location

        where = exception_location(error)
        written = (
            "batches committed before it hold whole facilities; run the command again to finish"
            if batches_committed
            else "nothing was written"
        )
        typer.echo(
            f"error: unexpected {where['exception_type']} at {where['frames'][-1]}; {written}",
            err=True,
        )
        raise typer.Exit(1) from None


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    typer.echo(f"{summary['kind']} from {summary['file']} (source {summary['source']})")

    def line(label: str, value: Any) -> None:
        typer.echo(
            f"  {label:<20}{value:>9,}" if isinstance(value, int) else f"  {label:<20}{value}"
        )

    for key in ("rows_read", "rows_selected", "created", "updated", "already_present", "rejected"):
        line(key.replace("_", " "), summary[key])
        if key == "rejected":
            for reason, count in summary["rejected_by_reason"].items():
                typer.echo(f"    {count:>9,}  {reason}")
    if summary["imported_with_notes"]:
        line("imported with notes", sum(summary["imported_with_notes"].values()))
        for reason, count in summary["imported_with_notes"].items():
            typer.echo(f"    {count:>9,}  {reason}")
    if any(summary["created_rows"].values()):
        rows = ", ".join(f"{n:,} {table}" for table, n in summary["created_rows"].items() if n)
        typer.echo(f"  rows written: {rows}")
    if "parents_linked" in summary:
        line("parents linked", summary["parents_linked"])
    line("seconds", f"{summary['seconds']:>9}")
    line("report", summary["report"])


def _import(
    importer: Importer,
    path: Path,
    report: Path | None,
    as_json: bool,
    *,
    label: str,
    total: int | None,
    batches_committed: bool,
) -> None:
    """Run ``importer`` on ``path`` (``_run``), its report written to ``report`` (by default,
    where the importer puts it); record it as an import job (what the operator's page lists)
    and print its summary."""
    from api.services import import_jobs

    async def work(session: "AsyncSession", advance: Advance) -> "ImportReport":
        done = await importer(session, path, report_path=report, advance=advance)
        await import_jobs.record(session, done)
        return done

    result = _run(work, label=label, total=total, batches_committed=batches_committed)
    _print_summary(result.summary(), as_json)


@import_app.command("facilities")
def import_facilities(
    csv_file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file."),
    ],
    mapping: Annotated[
        FacilityMapping, typer.Option(help="Which dataset the file is: its columns' meaning.")
    ],
    country: Annotated[
        list[str] | None,
        typer.Option(help="Only rows of this ISO 3166 alpha-3 country; repeat for more."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after N selected rows.")] = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import health facilities (WHO/KEMRI or healthsites.io CSV): idempotent, batch by batch."""
    from api.importers import facilities

    countries = country or []
    if not all(_ISO3.fullmatch(code) for code in countries):
        typer.echo("error: --country takes ISO 3166 alpha-3 codes, e.g. BFA", err=True)
        raise typer.Exit(2)

    def importer(
        session: "AsyncSession", path: Path, *, report_path: Path | None, advance: Advance
    ) -> Awaitable["ImportReport"]:
        return facilities.import_facilities(
            session,
            path,
            mapping.value,
            countries=countries,
            limit=limit,
            report_path=report_path,
            after_batch=session.commit,
            advance=advance,
        )

    _import(
        importer,
        csv_file,
        report,
        as_json,
        label=f"{mapping.value} facilities",
        total=None if limit else _count_rows(csv_file),
        batches_committed=True,
    )


@import_app.command("areas")
def import_areas(
    geojson_file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="A GeoJSON file."),
    ],
    level: Annotated[
        int, typer.Option(min=0, max=5, help="0 country, 1 region, 2 district, 3 commune...")
    ],
    name_property: Annotated[
        str | None,
        typer.Option(help="Property holding the name (default: shapeName, NAME or DISTRICT)."),
    ] = None,
    code_property: Annotated[
        str | None, typer.Option(help="Property holding the code (default: shapeISO).")
    ] = None,
    country: Annotated[
        str | None,
        typer.Option(help="Country code to record on every area (default: shapeGroup)."),
    ] = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import administrative areas (polygons) from GeoJSON: idempotent, one transaction."""
    from api.importers import areas

    if country is not None and not _COUNTRY.fullmatch(country):
        typer.echo("error: --country takes an ISO 3166 code, e.g. MDG", err=True)
        raise typer.Exit(2)

    importer = partial(
        areas.import_areas,
        level=level,
        name_property=name_property,
        code_property=code_property,
        country=country,
    )
    _import(
        importer, geojson_file, report, as_json, label="areas", total=None, batches_committed=False
    )


@import_app.command("hsds")
def import_hsds(
    path: Annotated[
        Path,
        typer.Argument(exists=True, help="An HSDS JSON file, or a folder of HSDS CSV tables."),
    ],
    source: Annotated[
        str | None, typer.Option(help="Name of the feed (default: the file or folder name).")
    ] = None,
    kind: Annotated[str, typer.Option(help="Kind given to the feed's organisations.")] = "ngo",
    time_zone: Annotated[str, typer.Option(help="IANA time zone of the feed's hours.")] = "UTC",
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import an Open Referral HSDS feed: idempotent, one transaction; rejected rows are listed
    with their reason in the report."""
    import time

    from api.importers.hsds import HsdsImportResult, import_feed
    from api.importers.report import default_report_path
    from api.models.organization import OrganizationKind
    from api.services import import_jobs

    try:
        organization_kind = OrganizationKind(kind)
    except ValueError as error:
        typer.echo("error: --kind must be one of " + ", ".join(OrganizationKind), err=True)
        raise typer.Exit(2) from error
    feed = source or path.stem
    started = time.monotonic()

    async def work(session: "AsyncSession", advance: Advance) -> HsdsImportResult:
        done = await import_feed(
            session, path, source=feed, kind=organization_kind, time_zone=time_zone
        )
        await import_jobs.record(session, done.report(feed, path.name))  # the operator's page
        return done

    result = _run(work, label=f"HSDS feed {feed}", total=None, batches_committed=False)
    report_path = result.write(report or default_report_path("hsds", feed))
    summary = {
        "source": feed,
        "read": result.read,
        "created": result.created,
        "updated": result.updated,
        "already_present": result.present,
        "rejected": len(result.rejected),
        "report": str(report_path),
        "seconds": round(time.monotonic() - started, 2),
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    for key, value in summary.items():
        typer.echo(f"{key}: {value}")


if __name__ == "__main__":  # pragma: no cover - `python -m api.cli_import` before it is mounted
    import_app()
