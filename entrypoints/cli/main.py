"""The `loyalty` command: run the product, manage its database, API keys, stores, staff and
campaigns."""

from __future__ import annotations

import asyncio
import secrets
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from entrypoints.cli import help_style
from entrypoints.cli.campaigns import campaigns_app
from entrypoints.cli.common import load_settings, one_line_errors, plural, prepared_settings, with_uow
from entrypoints.cli.console import console_app
from entrypoints.cli.kpis import kpis_app
from entrypoints.cli.members import members_app
from entrypoints.cli.staff import staff_app
from loyalty.config import Settings

if TYPE_CHECKING:
    from loyalty.secret_keys import RotationReport

help_style.apply()

app = typer.Typer(
    help=(
        "A loyalty program that lives in a Telegram chat.\n\n"
        "Members sign up and show their card in the bot; tills and shops use the REST API "
        "(/api/v1, documented at /docs); a scheduler sends timed pushes. Settings come from "
        "the environment or a .env file (see .env.example)."
    ),
    no_args_is_help=True,
    add_completion=False,
)
apikey_app = typer.Typer(
    help="Create, scope, list and revoke the API keys tills, shops and back offices authenticate with."
)
app.add_typer(apikey_app, name="apikey")
stores_app = typer.Typer(help="Manage the merchant's stores.")
app.add_typer(stores_app, name="stores")
app.add_typer(staff_app, name="staff")
app.add_typer(members_app, name="members")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(kpis_app, name="kpis")
app.add_typer(console_app, name="console")
secret_app = typer.Typer(help="Make a new SECRET_KEY, or move the encrypted data to a new one.")
app.add_typer(secret_app, name="secret")

SANDBOX_TOKEN = "123456789:sandbox-token-for-local-chat"


RUN_HELP = (
    "Start the bot, the API and the scheduler in one process, migrating the database first.\n\n"
    "The bot uses long polling with BOT_TOKEN against BOT_API_URL and sends what the outboxes hold (receipts, "
    "nudges, campaigns at BROADCAST_RATE); without BOT_TOKEN it stays off and only the API and the scheduler run."
)


# Each help is one string per paragraph so the terminal wraps it, not the source's lines.
@app.command(help=RUN_HELP)
def run() -> None:
    settings = prepared_settings()
    asyncio.run(_run(settings, with_bot=True))


@app.command()
def api(
    migrate: Annotated[bool, typer.Option(help="Migrate the database before serving.")] = True,
) -> None:
    """Serve only the REST API (for deployments that scale it apart from the bot)."""
    settings = prepared_settings()
    asyncio.run(_run(settings, with_bot=False, scheduler=False, migrate=migrate))


SCHEDULER_HELP = (
    "Run only the scheduler: the sweeps that expire points, review tiers, owe nudges and start "
    "campaigns whose time came, migrating the database first.\n\n"
    "Nudges found due (points about to expire, a coupon's last days, birthdays, anniversaries, "
    "a tier at risk, lapsed members) are written to the database's outbox; the bot process "
    "(`loyalty run` with BOT_TOKEN) sends them, so run one alongside. Several processes may run "
    "the scheduler against one PostgreSQL database: a database lock lets one at a time run the "
    "nudge sweeps. Sweeps every NUDGE_SWEEP_MINUTES; stops cleanly on SIGINT or SIGTERM."
)


# The help is one string so the terminal wraps its paragraphs, not the source's lines.
@app.command(help=SCHEDULER_HELP)
def scheduler(
    migrate: Annotated[bool, typer.Option(help="Migrate the database before starting.")] = True,
) -> None:
    settings = prepared_settings()
    asyncio.run(_run(settings, with_bot=False, api=False, migrate=migrate))


CHAT_HELP = (
    "Chat with the product in the terminal, as a member, through the local Bot API sandbox.\n\n"
    "No Telegram account or token is needed: the bot talks HTTP to a sandbox that behaves like Telegram. Type "
    "text to send it; `:help` lists how to press buttons, share a contact or a location, and switch between "
    "members (`:user NAME`, `:user NAME --staff`). Works with piped input too: printf '/start\\n1\\n' | loyalty chat"
)


@app.command(help=CHAT_HELP)
def chat(
    name: Annotated[str, typer.Option(help="First name of the member you chat as.")] = "Alex",
    language: Annotated[str, typer.Option(help="Telegram language code of that member (en, zh).")] = "en",
    with_api: Annotated[bool, typer.Option("--api/--no-api", help="Also serve the REST API.")] = True,
    verbose: Annotated[bool, typer.Option(help="Show the product's log lines.")] = False,
) -> None:
    from entrypoints.runtime import ApiPortTaken

    settings = prepared_settings(quiet=not verbose)
    if not verbose:
        one_line_errors()
    try:
        asyncio.run(_chat(settings, name=name, language=language, with_api=with_api))
    except ApiPortTaken as taken:
        typer.secho(
            f"API_PORT {taken.port} on {taken.host} is taken (another `loyalty chat` or `loyalty run`?): "
            "chat without the API with `loyalty chat --no-api`, or set API_PORT to a free port",
            fg=typer.colors.RED, err=True,
        )
        raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Bring the database at DATABASE_URL to the newest schema."""
    from db.crypto import FieldCipher
    from db.engine import create_engine
    from db.migrate import upgrade_database
    from entrypoints.services import check_reachable, configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    # With the key, a revision can encrypt what it finds (0011: birthdays); without it, such a
    # revision refuses to run on a database that has something to encrypt.
    key = settings.secret_key.get_secret_value() if settings.secret_key else ""

    async def go() -> None:
        probe = create_engine(settings.database_url)
        try:
            await check_reachable(probe)
        finally:
            await probe.dispose()
        await upgrade_database(settings.database_url, cipher=FieldCipher(key) if key else None)

    asyncio.run(go())


@secret_app.callback(invoke_without_command=True)
def secret(ctx: typer.Context) -> None:
    """Make a new SECRET_KEY, or move the encrypted data to a new one (`loyalty secret` alone
    prints a new key, as `loyalty secret new` does)."""
    if ctx.invoked_subcommand is None:
        typer.echo(_new_secret_key())


@secret_app.command("new")
def secret_new() -> None:
    """Print a new random SECRET_KEY to put in the environment (384 random bits)."""
    typer.echo(_new_secret_key())


def _new_secret_key() -> str:
    return secrets.token_urlsafe(48)


SECRET_ROTATE_HELP = (
    "Re-encrypt every encrypted value (phone numbers, ...) with SECRET_KEY, reading the old ones "
    "with OLD_SECRET_KEYS, with a progress bar.\n\n"
    "To change the key: set the new key as SECRET_KEY and the old one in OLD_SECRET_KEYS, restart "
    "every process (bot, API, scheduler) with both, then run this. It works next to the running "
    "program in batches of one transaction each; stopped at any moment (Ctrl-C, a kill), it is "
    "simply run again. When it finishes, the database records SECRET_KEY as its only key and "
    "OLD_SECRET_KEYS can leave the environment."
)


@secret_app.command("rotate", help=SECRET_ROTATE_HELP)
def secret_rotate(
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Values re-encrypted per transaction.")] = 500,
) -> None:
    from loyalty.secret_keys import UnreadableValue

    settings = prepared_settings(quiet=True)
    try:
        with ctrl_c_stops_between_batches() as stop:
            report = asyncio.run(_rotate(settings, batch_size, stop))
    except UnreadableValue as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    except (KeyboardInterrupt, Interrupted):
        typer.secho("Interrupted: run `loyalty secret rotate` again to finish.", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(130) from None
    typer.secho(
        f"{report.rewritten:,} of {report.seen:,} encrypted values re-encrypted with SECRET_KEY; the database "
        "now records it as its only key, so OLD_SECRET_KEYS can be removed.",
        fg=typer.colors.GREEN,
    )


ScopeOption = Annotated[
    list[str],
    typer.Option(
        "--scope",
        help="What the key may call: till (purchases, refunds, members and coupons at the till), "
        "marketing (campaigns, segments, tags, coupons, rewards) or admin (everything). Repeat it "
        "or give a comma list; till when left out.",
    ),
]


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="Who uses the key, e.g. till-store-12.")],
    scope: ScopeOption = [],  # noqa: B006 - typer reads the default, never mutates it
    expires: Annotated[
        str | None,
        typer.Option(help="When the key stops working: a number of days (90d) or a date (2027-03-01, "
        "from 00:00 that day in TIMEZONE)."),
    ] = None,
) -> None:
    """Create an API key. It is printed once; only its hash is stored."""
    from loyalty.apikeys import create_api_key, parse_expiry, parse_scopes

    settings = load_settings()

    async def action(uow, clock):  # type: ignore[no-untyped-def]
        scopes = parse_scopes(scope)
        expires_at = parse_expiry(expires, now=clock.now(), zone=settings.zone) if expires else None
        return await create_api_key(uow, clock, name, scopes=scopes, expires_at=expires_at), scopes, expires_at

    raw, scopes, expires_at = with_uow(action)
    typer.echo(raw)
    until = f", until {expires_at.astimezone(settings.zone):%Y-%m-%d %H:%M %Z}" if expires_at else ""
    typer.secho(
        f"API key {name!r} created for {_scopes_text(scopes)}{until}. Store it now: it cannot be shown again.",
        fg=typer.colors.GREEN,
        err=True,
    )


@apikey_app.command("scope")
def apikey_scope(
    name: Annotated[str, typer.Argument(help="Name the key was created with.")],
    scope: ScopeOption = [],  # noqa: B006
) -> None:
    """Change what a key may call, at once: e.g. narrow a key made before keys had scopes."""
    from loyalty.apikeys import parse_scopes, scopes_of, set_api_key_scopes

    async def action(uow, clock):  # type: ignore[no-untyped-def]
        return scopes_of(await set_api_key_scopes(uow, clock, name, parse_scopes(scope)))

    typer.secho(f"API key {name!r} may now call {_scopes_text(with_uow(action))}.", err=True)


@apikey_app.command("revoke")
def apikey_revoke(name: Annotated[str, typer.Argument(help="Name the key was created with.")]) -> None:
    """Revoke an API key at once; requests with it get 401 from then on."""
    from loyalty.apikeys import revoke_api_key

    key = with_uow(lambda uow, clock: revoke_api_key(uow, clock, name))
    typer.secho(f"API key {key.name!r} revoked at {key.revoked_at:%Y-%m-%d %H:%M:%S %Z}.", err=True)


def _scopes_text(scopes: frozenset[str]) -> str:
    from loyalty.apikeys import Scope

    return " + ".join(scope.value for scope in Scope if scope in scopes)


APIKEY_LIST_HELP = (
    "List API keys: name, prefix, state, scopes, expiry and last use; never the keys themselves.\n\n"
    "A key made before keys had scopes may call everything: it is marked, so it can be narrowed with "
    "`loyalty apikey scope NAME --scope till`."
)


@apikey_app.command("list", help=APIKEY_LIST_HELP)
def apikey_list() -> None:
    from loyalty.apikeys import scopes_of

    settings = load_settings()

    async def listing(uow, clock):  # type: ignore[no-untyped-def]
        return list(await uow.api_keys.all()), clock.now()

    keys, now = with_uow(listing)

    def local(moment):  # type: ignore[no-untyped-def]
        return f"{moment.astimezone(settings.zone):%Y-%m-%d %H:%M}"

    for key in keys:
        if key.revoked_at:
            state = f"revoked {key.revoked_at.astimezone(settings.zone):%Y-%m-%d}"
        elif key.expires_at and key.expires_at <= now:
            state = f"expired {local(key.expires_at)}"
        else:
            state = "active"
        scopes = _scopes_text(scopes_of(key))
        if key.scopes is None:
            scopes += " (made before scopes: narrow it with `loyalty apikey scope`)"
        expiry = f"expires {local(key.expires_at)}" if key.expires_at else "no expiry"
        used = f"last used {local(key.last_used_at)}" if key.last_used_at else "never used"
        typer.echo(
            f"{key.name}\t{key.prefix}…\t{state}\t{scopes}\t{expiry}\t{used}\t"
            f"created {key.created_at.astimezone(settings.zone):%Y-%m-%d}"
        )


@stores_app.command("import")
def stores_import(
    file: Annotated[
        typer.FileText,
        typer.Argument(
            help="CSV (UTF-8) with a header row: code,name,city,timezone,address,latitude,longitude,hours "
            "(only code and name required; hours as JSON, e.g. {\"mon\": [[\"08:00\", \"22:00\"]]}).",
            encoding="utf-8-sig",
        ),
    ],
) -> None:
    """Create or update stores by code from a CSV, in one transaction: every row or none.

    Bad rows are listed (row number as a spreadsheet counts, field, reason) and nothing is written."""
    import csv

    from loyalty.errors import StoreImportRejected
    from loyalty.stores import import_stores

    text = file.read()
    rows = max(0, sum(1 for _ in csv.reader(text.splitlines())) - 1)
    settings = load_settings()

    async def action(uow, clock):  # type: ignore[no-untyped-def]
        with typer.progressbar(length=rows, label="Importing stores", file=sys.stderr) as bar:
            try:
                return await import_stores(
                    uow, clock, text, default_timezone=settings.timezone, actor="cli", progress=bar.update
                )
            except StoreImportRejected as error:
                bar.finish()
                for row in error.errors:
                    typer.secho(f"row {row.row}, {row.field}: {row.message}", fg=typer.colors.RED, err=True)
                raise

    report = with_uow(action)
    typer.secho(
        f"{plural(report.total, 'store')} imported: {report.created} created, {report.updated} updated.",
        fg=typer.colors.GREEN,
    )


async def _run(
    settings: Settings, *, with_bot: bool, api: bool = True, scheduler: bool = True, migrate: bool = True
) -> None:
    import logging

    from bot.app import build_bot, build_dispatcher
    from bot.broadcast import BroadcastClient
    from entrypoints.runtime import run_until_stopped
    from entrypoints.services import open_services

    log = logging.getLogger("loyalty")
    async with open_services(settings, migrate=migrate) as services:
        bot = dispatcher = broadcast_client = None
        if with_bot and settings.bot_enabled:
            assert settings.bot_token is not None
            bot = build_bot(settings.bot_token.get_secret_value(), settings.bot_api_url)
            broadcast_client = BroadcastClient(settings.bot_token.get_secret_value(), settings.bot_api_url)
            dispatcher = build_dispatcher(settings=settings, uow_factory=services.uow_factory, clock=services.clock)
            log.info("bot polling %s", settings.bot_api_url)
        elif with_bot:
            log.warning("BOT_TOKEN is not set: the bot is off; running the API and the scheduler")
        await run_until_stopped(
            services=services, api=api, bot=bot, dispatcher=dispatcher, scheduler=scheduler,
            broadcast_client=broadcast_client,
        )


class Interrupted(Exception):
    """Ctrl-C, honoured between two batches."""


class StopRequest:
    def __init__(self) -> None:
        self.asked = False

    def check(self) -> None:
        if self.asked:
            raise Interrupted()


@contextmanager
def ctrl_c_stops_between_batches() -> Iterator[StopRequest]:
    """Ctrl-C asks the work to stop after the batch it is on, which is committed. asyncio's own
    handler would cancel the task wherever it waits, and a cancellation that lands while the
    database layer cleans up can be lost, so the work would run on to the end as if no one had
    asked. A second Ctrl-C interrupts at once."""
    stop = StopRequest()

    def asked(signum: int, frame: FrameType | None) -> None:
        if stop.asked:
            raise KeyboardInterrupt
        stop.asked = True

    previous = signal.signal(signal.SIGINT, asked)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


async def _rotate(settings: Settings, batch_size: int, stop: StopRequest) -> RotationReport:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from entrypoints.services import open_services
    from loyalty.secret_keys import RotationProgress, encrypted_value_count, rotate_secret_key

    console = Console(stderr=True)
    async with open_services(settings) as services:
        total = await encrypted_value_count(services.uow_factory)
        if not console.is_terminal:
            # A log or a pipe: a plain line per batch instead of a bar.
            read = 0

            def line(batch: RotationProgress) -> None:
                nonlocal read
                read += batch.seen
                print(f"secret rotate: {read:,} of {total:,} values read ({batch.column.name})",
                      file=sys.stderr, flush=True)
                stop.check()

            return await rotate_secret_key(services.uow_factory, services.clock, batch_size=batch_size, progress=line)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("Re-encrypting", total=total)

            def advance(batch: RotationProgress) -> None:
                bar.advance(task, batch.seen)
                stop.check()

            return await rotate_secret_key(services.uow_factory, services.clock, batch_size=batch_size, progress=advance)


async def _chat(settings: Settings, *, name: str, language: str, with_api: bool) -> None:
    from bot.app import build_bot, build_dispatcher
    from bot.broadcast import BroadcastClient
    from entrypoints.runtime import run_until_stopped
    from entrypoints.services import open_services
    from sandbox.limits import SandboxLimits
    from sandbox.middleware import HandlingMiddleware
    from sandbox.server import SandboxServer
    from sandbox.state import SandboxUser
    from sandbox.terminal import run_terminal_chat

    # A person chats here, or a script pipes lines in far faster than anyone types: the sandbox
    # keeps Telegram's rates but allows a longer burst per chat (the tests cover strict limits).
    async with SandboxServer(limits=SandboxLimits(per_chat_burst=30)) as sandbox, open_services(settings) as services:
        bot = build_bot(SANDBOX_TOKEN, sandbox.base_url)
        dispatcher = build_dispatcher(settings=settings, uow_factory=services.uow_factory, clock=services.clock)
        dispatcher.update.outer_middleware(HandlingMiddleware(sandbox))
        user = sandbox.add_user(name, language_code=language)

        async def make_staff(member: SandboxUser) -> str:
            # Through the program's own staff rules, as `loyalty staff add` does.
            from loyalty import staff

            async with services.uow_factory() as uow:
                change = await staff.add(
                    uow, services.clock, telegram_id=member.id, role="owner", name=member.full_name, actor="chat"
                )
            return f"{change.staff.name} (id {member.id}) is staff: {change.staff.role}; try /broadcast"

        if with_api:
            from entrypoints.runtime import bind_api_socket

            # A taken port is found before the chat prints its greeting (the socket is bound again
            # to serve).
            bind_api_socket(settings.api_host, settings.api_port).close()
            print(
                f"(API on http://{settings.api_host}:{settings.api_port}/docs; "
                "create a key with `loyalty apikey create NAME`)",
                file=sys.stderr,
            )
        await run_until_stopped(
            services=services,
            api=with_api,
            bot=bot,
            dispatcher=dispatcher,
            scheduler=True,
            broadcast_client=BroadcastClient(SANDBOX_TOKEN, sandbox.base_url),
            foreground=lambda: run_terminal_chat(sandbox, user, make_staff=make_staff),
        )


# Only ever run by hand; its heavy imports wait inside the command.
from entrypoints.cli.demo import DEMO_HELP, demo  # noqa: E402

app.command(help=DEMO_HELP)(demo)


def main() -> None:
    """The `loyalty` command. A SECRET_KEY the database was not written with, or a database, port
    or bot token that cannot be used (CannotStart), stops any command with one line, wherever it
    is found."""
    from entrypoints.services import CannotStart
    from loyalty.secret_keys import SecretKeyMismatch

    try:
        app()
    except SecretKeyMismatch as error:
        typer.secho(f"configuration error: {error}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except CannotStart as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
