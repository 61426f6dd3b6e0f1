"""The ``relay`` command: serve the API, run migrations, export the OpenAPI document."""

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api import __version__

if TYPE_CHECKING:
    from alembic.config import Config

app = typer.Typer(help="Relay: referral network and service-directory API.", no_args_is_help=True)
db_app = typer.Typer(
    help="Database schema migrations (run as the owner role).", no_args_is_help=True
)
app.add_typer(db_app, name="db")

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
OPENAPI_PATH = REPOSITORY_ROOT / "openapi" / "openapi.json"


def alembic_config() -> "Config":
    """alembic.ini from the working directory (container image) or the source tree."""
    from alembic.config import Config

    for candidate in (Path.cwd() / "alembic.ini", REPOSITORY_ROOT / "alembic.ini"):
        if candidate.is_file():
            return Config(str(candidate))
    typer.echo("alembic.ini not found: run relay from the repository or image root", err=True)
    raise typer.Exit(2)


@app.command()
def version() -> None:
    """Print Relay's version."""
    typer.echo(__version__)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default RELAY_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default RELAY_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Serve the API with uvicorn."""
    import uvicorn

    from api.config import Settings

    settings = Settings()
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        proxy_headers=False,
        server_header=False,
        log_config=None,
        access_log=False,
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Run every job once, then exit.")] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between ticks.")] = 1.0,
) -> None:
    """Run the background worker until SIGINT or SIGTERM."""
    import asyncio

    from api.config import Settings
    from api.worker import run_worker

    asyncio.run(run_worker(Settings(), once=once, interval=interval))


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Migrate the database up to REVISION (default: head)."""
    from alembic import command

    command.upgrade(alembic_config(), revision)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision: an id, -1, or base.")],
) -> None:
    """Migrate the database down to REVISION."""
    from alembic import command

    command.downgrade(alembic_config(), revision)


@db_app.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    from alembic import command

    command.current(alembic_config())


@app.command()
def openapi(
    output: Annotated[Path, typer.Option(help="Where to write the document.")] = OPENAPI_PATH,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if the file differs instead of writing it.")
    ] = False,
) -> None:
    """Export the OpenAPI document the app serves to openapi/openapi.json."""
    from api.main import create_app

    document = json.dumps(create_app().openapi(), indent=2, ensure_ascii=False) + "\n"
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != document:
            typer.echo(f"{output} is out of date: run `make openapi`", err=True)
            raise typer.Exit(1)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)


def main() -> None:  # pragma: no cover - console entry for `python -m api.cli`
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
