"""The ``relay`` command: serve the API, run migrations, export the OpenAPI document."""

import json
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from api import __version__
from api.cli_import import import_app
from api.errors import RelayError as RelayErrorForCli
from api.languages import LANGUAGES

if TYPE_CHECKING:
    import uuid

    from alembic.config import Config
    from pydantic import ValidationError
    from sqlalchemy.ext.asyncio import AsyncSession

    from api.config import Settings
    from api.models.people import UserRole
    from api.schemas.clients import ClientPublic
    from api.services.audit import Action
    from api.services.people import Invited, UserSummary

T = TypeVar("T")

# No pretty tracebacks: their local variables could print the data being imported.
app = typer.Typer(
    help="Relay: referral network and service-directory API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="Database schema migrations (run as the owner role).", no_args_is_help=True
)
demo_app = typer.Typer(help="The fictional demo network.", no_args_is_help=True)
orgs_app = typer.Typer(help="Partner organisations.", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth clients of partner organisations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(demo_app, name="demo")
app.add_typer(import_app, name="import")
app.add_typer(clients_app, name="clients")
keys_app = typer.Typer(help="Master keys of the personal data of referrals.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
users_app = typer.Typer(
    help="People's accounts (the operator's work): invitations, roles, resets, deactivation.",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ClientIdArgument = Annotated[str, typer.Argument(help="The client's client_id.")]
UserIdArgument = Annotated[str, typer.Argument(help="The person's user id (relay users list).")]

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
        "api.main:create_served_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        # X-Forwarded-For is believed only from the proxies named (RELAY_TRUSTED_PROXIES): from
        # anyone else it would let a caller choose the address its budgets are counted on.
        proxy_headers=bool(settings.proxy_networks),
        forwarded_allow_ips=[str(network) for network in settings.proxy_networks] or None,
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


def _run_in_transaction(work: "Callable[[AsyncSession, Settings], Awaitable[T]]") -> T:
    """Run ``work`` in one committed transaction as the application role."""
    import asyncio

    from api.config import Settings
    from api.db import create_engine, create_sessionmaker, transaction

    async def run() -> T:
        settings = Settings()
        engine = create_engine(settings)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                return await work(session, settings)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except RelayErrorForCli as error:
        typer.echo(f"error: {error.title}: {error.detail or ''}".rstrip(": "), err=True)
        raise typer.Exit(1) from error
    except Exception as error:
        # The message of a database error can quote the row it refused: print where, not what.
        from api.logging import exception_location

        where = exception_location(error)
        typer.echo(
            f"error: unexpected {where['exception_type']} at {where['frames'][-1]}; "
            "nothing was written",
            err=True,
        )
        raise typer.Exit(1) from None


def _emit(data: dict[str, Any], as_json: bool, secret_note: bool = False) -> None:
    if as_json:
        typer.echo(json.dumps(data, default=str, indent=2))
        return
    for key, value in data.items():
        typer.echo(f"{key}: {value}")
    if secret_note and data.get("client_secret"):
        typer.echo("Store the client_secret now: Relay keeps only its hash.", err=True)


@keys_app.command("generate")
def keys_generate(
    version: Annotated[int, typer.Option(min=1, help="The version of the new key.")] = 1,
) -> None:
    """Print a new master key entry for RELAY_MASTER_KEYS (version:base64url)."""
    from api.crypto import generate_master_key

    typer.echo(generate_master_key(version))


@audit_app.command("generate-key")
def audit_generate_key() -> None:
    """Print a new Ed25519 key for RELAY_AUDIT_SIGNING_KEY, and its public half (a JWK)."""
    import base64
    import json
    import secrets

    seed = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    typer.echo(f"RELAY_AUDIT_SIGNING_KEY={seed}")
    from api.config import Settings
    from api.services.audit import SigningKey

    public = SigningKey.of(Settings(audit_signing_key=seed)).jwk()
    typer.echo(f"public key (GET /v1/audit/public-key): {json.dumps(public)}", err=True)


@audit_app.command("verify")
def audit_verify(as_json: JsonOption = False) -> None:
    """Recompute the audit chain and check the signed checkpoints. Exit status 1 when broken,
    naming the first sequence number that does not hold."""
    import json

    from api.services import audit

    async def work(session: "AsyncSession", settings: "Settings") -> dict[str, Any]:
        return (await audit.verify(session, settings)).as_dict()

    report = _run_in_transaction(work)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    elif report["ok"]:
        archived = report["archived_through"]
        typer.echo(
            f"audit chain intact: {report['events_checked']} events, "
            f"{report['checkpoints_checked']} signed checkpoints "
            f"({report['unsealed_events']} events not yet sealed)"
            + (
                f"; from the signed checkpoint at seq {archived} (archived before)"
                if archived
                else ""
            )
        )
    else:
        typer.echo(
            f"audit chain BROKEN at seq {report['first_broken_seq']}: {report['problem']}",
            err=True,
        )
    if not report["ok"]:
        raise typer.Exit(1)


@keys_app.command("rotate-master")
def keys_rotate_master() -> None:
    """Re-wrap every referral's data key with the newest master key in RELAY_MASTER_KEYS."""
    from api.services import keys

    async def work(session: "AsyncSession", settings: "Settings") -> dict[str, int]:
        return await keys.rotate_master(session, settings)

    summary = _run_in_transaction(work)
    typer.echo(
        f"re-wrapped {summary['rewrapped']} data keys with master key version "
        f"{summary['version']} ({summary['current']} already were)"
    )


@demo_app.command("load")
def demo_load(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Load only into a directory with no organisation.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Load the fictional demo network (idempotent); in development, its demo people too."""
    from api.config import Environment
    from api.services import demo

    async def work(session: "AsyncSession", settings: "Settings") -> dict[str, int]:
        counts = await demo.load(session, only_if_empty=if_empty)
        if settings.environment is Environment.development:
            people = await demo.load_people(session, settings)
            if people:
                counts["user_account"] = people
        return counts

    counts = _run_in_transaction(work)
    if as_json:
        typer.echo(json.dumps(counts))
    elif counts:
        typer.echo("Demo network loaded: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
    else:
        typer.echo("Demo network already present (or directory not empty): nothing loaded.")


@demo_app.command("credentials")
def demo_credentials(as_json: JsonOption = False) -> None:
    """Print working client credentials of the demo partner (development only; the secret is
    replaced on every call)."""
    from api.config import Environment, Settings
    from api.services import demo

    if Settings().environment is not Environment.development:
        typer.echo("error: demo credentials exist only in development", err=True)
        raise typer.Exit(2)

    async def work(session: "AsyncSession", settings: "Settings") -> dict[str, str]:
        return await demo.partner_credentials(session, settings.secret_key.get_secret_value())

    credentials = _run_in_transaction(work)
    settings = Settings()
    people = demo.people_credentials(settings)
    if as_json:
        typer.echo(json.dumps({**credentials, "people": people}))
        return
    typer.echo(
        "Demo partner credentials (development only):\n"
        f"  client_id:     {credentials['client_id']}\n"
        f"  client_secret: {credentials['client_secret']}\n"
        f'  token:  curl -s -u "{credentials["client_id"]}:{credentials["client_secret"]}" '
        f"-d grant_type=client_credentials {settings.token_endpoint}"
    )
    typer.echo(
        f"Demo people (development only), at {settings.issuer}/app/sign-in: login name or "
        "phone, then the password:"
    )
    for person in people:
        login = f"{person['login']}" + (f" or {person['phone']}" if person["phone"] else "")
        typer.echo(f"  {person['role']:<11} {login}  password: {person['password']}")
        if person["totp_secret"]:
            typer.echo(
                f"{'':14}TOTP secret: {person['totp_secret']} (add it to an authenticator app, "
                f"or: {person['totp_code_now']})"
            )


@app.command("export")
def export(
    export_format: Annotated[str, typer.Argument(metavar="FORMAT", help="hsds, csv or geojson")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write; - for standard output.")
    ] = Path("-"),
    area: Annotated[
        str | None, typer.Option(help="Only services in (or reaching into) this admin area id.")
    ] = None,
    audience: Annotated[
        str,
        typer.Option(
            help="public (default: what anyone may see), partners (adds partner records), "
            "confidential (adds shelters' positions: handle the file accordingly)."
        ),
    ] = "public",
) -> None:
    """Export the directory as HSDS JSON, CSV or GeoJSON."""
    import sys
    import uuid as uuid_module

    from api.auth.viewer import Viewer
    from api.services import exports

    try:
        chosen = exports.ExportFormat(export_format)
        area_id = uuid_module.UUID(area) if area else None
    except ValueError as error:
        typer.echo("error: FORMAT is hsds, csv or geojson; --area is an area id", err=True)
        raise typer.Exit(2) from error
    viewers = {
        "public": Viewer(sees_partner_records=False, cleared=False),
        "partners": Viewer(sees_partner_records=True, cleared=False),
        "confidential": Viewer(sees_partner_records=True, cleared=True),
    }
    if audience not in viewers:
        typer.echo("error: --audience is public, partners or confidential", err=True)
        raise typer.Exit(2)

    async def work(session: "AsyncSession", settings: "Settings") -> int:
        if str(output) == "-":
            return await exports.write(session, viewers[audience], chosen, sys.stdout, area_id)
        with output.open("w", encoding="utf-8", newline="") as handle:
            return await exports.write(session, viewers[audience], chosen, handle, area_id)

    count = _run_in_transaction(work)
    typer.echo(f"exported {count} services ({audience} view)", err=True)


@orgs_app.command("create")
def orgs_create(
    name: Annotated[str, typer.Option(help="The organisation's name.")],
    kind: Annotated[str, typer.Option(help="police, health, shelter, ngo, legal, ...")],
    operator: Annotated[
        bool,
        typer.Option(
            "--operator",
            help="Relay's operating organisation (one at most): where operators' accounts are.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Register a partner organisation (or, with --operator, Relay's operating one)."""
    from pydantic import ValidationError

    from api.schemas.organizations import OrganizationCreate, OrganizationPublic
    from api.services import audit, organizations

    try:
        body = OrganizationCreate(name=name, kind=kind)
    except ValidationError as error:
        typer.echo(f"error: {_validation_summary(error)}", err=True)
        raise typer.Exit(2) from error

    async def work(session: "AsyncSession", settings: "Settings") -> dict[str, Any]:
        created = await organizations.create(session, body, operator=operator)
        await audit.record(
            session,
            audit.CLI,
            audit.Action.admin_create,
            "organization",
            [created.id],
            [created.id],
        )
        return OrganizationPublic.model_validate(created).model_dump(mode="json")

    _emit(_run_in_transaction(work), as_json)


@orgs_app.command("list")
def orgs_list(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOption = False,
) -> None:
    """List organisations."""
    from api.schemas.organizations import OrganizationPublic
    from api.services import organizations

    async def work(session: "AsyncSession", settings: "Settings") -> list[dict[str, Any]]:
        rows, _ = await organizations.page(session, limit=limit, offset=offset)
        return [OrganizationPublic.model_validate(row).model_dump(mode="json") for row in rows]

    rows = _run_in_transaction(work)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['id']}  {row['kind']:<14} {row['status']:<10} {row['name']}")


def _change_client(
    change: "Callable[[AsyncSession, Settings], Awaitable[ClientPublic]]",
    action: "Action",
    as_json: bool,
    *,
    secret_note: bool = False,
) -> None:
    """Make the operator's change of a client, record it in the audit trail (actor: the CLI)
    and print the client."""
    from api.services import audit

    async def work(session: "AsyncSession", settings: "Settings") -> dict[str, Any]:
        client = await change(session, settings)
        await audit.record(
            session, audit.CLI, action, "oauth_client", [client.client_id], [client.organization_id]
        )
        return client.model_dump(mode="json")

    _emit(_run_in_transaction(work), as_json, secret_note)


@clients_app.command("create")
def clients_create(
    org: Annotated[str, typer.Option(help="Organisation id.")],
    scopes: Annotated[str, typer.Option(help='Space-separated, e.g. "directory:read".')],
    name: Annotated[str, typer.Option(help="A name to tell the client apart.")] = "default",
    jwks_file: Annotated[
        Path | None, typer.Option(help="Public JWKS (JSON): the client uses private_key_jwt.")
    ] = None,
    auth_method: Annotated[
        str | None, typer.Option(help="client_secret_basic (default), client_secret_post.")
    ] = None,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="A public client (a mobile or desktop app): no secret; needs --redirect-uri.",
        ),
    ] = False,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            "--redirect-uri",
            help="Where the app is sent back with a code (repeat for several): the client acts "
            "for people. https://…, or http://127.0.0.1/… for a public native app.",
        ),
    ] = None,
    any_organisation: Annotated[
        bool,
        typer.Option(
            "--any-organisation",
            help="People of every organisation may let the app act for them (not only its own's).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Register an OAuth client; prints its client_id and (once) its secret."""
    from pydantic import ValidationError

    from api.schemas.clients import ClientCreate
    from api.services import clients
    from api.services.audit import Action

    if public and (auth_method or jwks_file):
        typer.echo("error: a public client has no secret and no keys", err=True)
        raise typer.Exit(2)
    jwks = None
    if jwks_file is not None:
        try:
            jwks = json.loads(jwks_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            typer.echo(f"error: cannot read a JSON JWKS from {jwks_file}", err=True)
            raise typer.Exit(2) from error
    try:
        body = ClientCreate.model_validate(
            {
                "organization_id": org,
                "name": name,
                "scopes": scopes.split(),
                "auth_method": "none" if public else auth_method,
                "jwks": jwks,
                "redirect_uris": redirect_uri or [],
                "any_organization": any_organisation,
            }
        )
    except ValidationError as error:
        typer.echo(f"error: {_validation_summary(error)}", err=True)
        raise typer.Exit(2) from error

    def create(session: "AsyncSession", settings: "Settings") -> "Awaitable[ClientPublic]":
        return clients.create(session, settings.secret_key.get_secret_value(), body)

    _change_client(create, Action.admin_create, as_json, secret_note=True)


@clients_app.command("rotate-secret")
def clients_rotate_secret(
    client_id: ClientIdArgument,
    as_json: JsonOption = False,
) -> None:
    """Replace a client's secret; prints the new one once."""
    from api.services import clients
    from api.services.audit import Action

    def rotate(session: "AsyncSession", settings: "Settings") -> "Awaitable[ClientPublic]":
        return clients.rotate_secret(session, settings.secret_key.get_secret_value(), client_id)

    _change_client(rotate, Action.admin_rotate_secret, as_json, secret_note=True)


@clients_app.command("disable")
def clients_disable(
    client_id: ClientIdArgument,
    as_json: JsonOption = False,
) -> None:
    """Disable a client for good and revoke its tokens."""
    from api.services import clients
    from api.services.audit import Action

    def disable(session: "AsyncSession", settings: "Settings") -> "Awaitable[ClientPublic]":
        return clients.disable(session, client_id)

    _change_client(disable, Action.admin_disable, as_json)


def _identifier(value: str, what: str) -> "uuid.UUID":
    """An id typed on the command line, or exit 2 saying what it is (``what``)."""
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        typer.echo(f"error: {what}", err=True)
        raise typer.Exit(2) from None


def _user_id(value: str) -> "uuid.UUID":
    return _identifier(value, "a user id is a UUID, as `relay users list` prints it")


def _role(value: str) -> "UserRole":
    from api.models.people import UserRole

    try:
        return UserRole(value)
    except ValueError:
        roles = ", ".join(role.value for role in UserRole)
        typer.echo(f"error: --role is one of {roles}", err=True)
        raise typer.Exit(2) from None


def _summary_dict(user: "UserSummary") -> dict[str, Any]:
    import dataclasses

    return {**dataclasses.asdict(user), "role": user.role.value, "active": user.active}


def _print_invitation(invited: "Invited", as_json: bool) -> None:
    body = {
        "user": _summary_dict(invited.user),
        "code": invited.code,
        "link": invited.link,
        "expires_at": invited.expires_at,
        "purpose": invited.purpose.value,
    }
    if as_json:
        typer.echo(json.dumps(body, default=str, indent=2))
        return
    who = invited.user.login_name or invited.user.phone
    typer.echo(
        f"{invited.purpose.value.replace('_', ' ')} invitation for {who} "
        f"({invited.user.role.value}), user id {invited.user.id}\n"
        f"  code:    {invited.code}\n"
        f"  link:    {invited.link}\n"
        f"  expires: {invited.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    typer.echo(
        "Hand the code (or the link) to the person only: it sets their password, once. "
        "Relay keeps only its hash.",
        err=True,
    )


@users_app.command("invite")
def users_invite(
    org: Annotated[str, typer.Option(help="The organisation's id.")],
    role: Annotated[str, typer.Option(help="volunteer, caseworker, org_admin or operator.")],
    name: Annotated[str, typer.Option(help="The display name others see.")],
    login: Annotated[str | None, typer.Option(help="A login name (a-z, 0-9, . _ -).")] = None,
    phone: Annotated[str | None, typer.Option(help="A phone number: +, country code.")] = None,
    language: Annotated[
        str, typer.Option(help="Preferred language: " + ", ".join(LANGUAGES) + ".")
    ] = "en",
    as_json: JsonOption = False,
) -> None:
    """Create a person's account and print, once, the invitation code (and link) with which
    they set their password."""
    from api.services import audit, people

    chosen = _role(role)
    invite = partial(
        people.invite,
        by=audit.CLI,
        organization_id=_organization_id(org),
        role=chosen,
        display_name=name,
        login_name=login,
        phone=phone,
        preferred_language=language,
    )
    _print_invitation(_run_in_transaction(invite), as_json)


def _organization_id(value: str) -> "uuid.UUID":
    return _identifier(value, "--org is an organisation id, as `relay orgs list` prints it")


@users_app.command("list")
def users_list(
    org: Annotated[str, typer.Option(help="The organisation's id.")],
    as_json: JsonOption = False,
) -> None:
    """List an organisation's people, with their last sign-in."""
    from rich.console import Console
    from rich.table import Table

    from api.services import audit, people

    organization_id = _organization_id(org)

    async def work(session: "AsyncSession", settings: "Settings") -> list["UserSummary"]:
        return await people.list_users(session, audit.CLI, organization_id)

    users = _run_in_transaction(work)
    if as_json:
        typer.echo(json.dumps([_summary_dict(user) for user in users], default=str, indent=2))
        return
    table = Table("user id", "role", "login", "name", "state", "last sign-in")
    for user in users:
        state = (
            "deactivated"
            if not user.active
            else "invited"
            if user.invitation_expires_at is not None
            else "active, TOTP"
            if user.second_factor
            else "active"
        )
        table.add_row(
            str(user.id),
            user.role.value,
            user.login_name or user.phone or "",
            user.display_name,
            state,
            f"{user.last_sign_in_at:%Y-%m-%d %H:%M}" if user.last_sign_in_at else "never",
        )
    Console(width=160).print(table)


@users_app.command("deactivate")
def users_deactivate(user_id: UserIdArgument, as_json: JsonOption = False) -> None:
    """Deactivate a person: they can no longer sign in, their sessions and tokens end now."""
    from api.services import audit, people

    chosen = _user_id(user_id)

    async def work(session: "AsyncSession", settings: "Settings") -> dict[str, Any]:
        return _summary_dict(await people.deactivate(session, settings, audit.CLI, chosen))

    _emit(_run_in_transaction(work), as_json)


@users_app.command("reset")
def users_reset(user_id: UserIdArgument, as_json: JsonOption = False) -> None:
    """Reset a person's account now (password, authenticator, recovery codes, sessions and
    tokens all end) and print, once, the code with which they set a new password."""
    from api.services import audit, people

    chosen = _user_id(user_id)

    async def work(session: "AsyncSession", settings: "Settings") -> "Invited":
        return await people.reset(session, settings, audit.CLI, chosen)

    _print_invitation(_run_in_transaction(work), as_json)


@users_app.command("set-role")
def users_set_role(
    user_id: UserIdArgument,
    role: Annotated[str, typer.Argument(help="volunteer, caseworker, org_admin or operator.")],
    as_json: JsonOption = False,
) -> None:
    """Give a person another role (their sessions and tokens end)."""
    from api.services import audit, people

    chosen_user, chosen_role = _user_id(user_id), _role(role)

    async def work(session: "AsyncSession", settings: "Settings") -> dict[str, Any]:
        changed = await people.change_role(session, settings, audit.CLI, chosen_user, chosen_role)
        return _summary_dict(changed)

    _emit(_run_in_transaction(work), as_json)


@users_app.command("notify")
def users_notify(
    user_id: UserIdArgument,
    remove: Annotated[
        bool, typer.Option("--remove", help="Stop telling the person of urgent referrals.")
    ] = False,
) -> None:
    """Tell a person of new urgent referrals to their organisation, by e-mail or SMS: the
    address or phone number (+ and the country code) is read from standard input (a prompt),
    never from the command line, where the process list and the shell's history would keep
    it."""
    from api.services import audit, notify

    chosen = _user_id(user_id)
    typed = "" if remove else typer.prompt("E-mail address or phone number", err=True)

    async def work(session: "AsyncSession", settings: "Settings") -> str:
        if remove:
            await notify.remove_contact(session, audit.CLI, chosen)
            return "The person will not be told of urgent referrals."
        contact = await notify.set_contact(session, audit.CLI, chosen, typed)
        return f"The person will be told of urgent referrals by {contact.channel.value}."

    typer.echo(_run_in_transaction(work))


def _validation_summary(error: "ValidationError") -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
        for issue in error.errors()
    )


def main() -> None:  # pragma: no cover - console entry for `python -m api.cli`
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
