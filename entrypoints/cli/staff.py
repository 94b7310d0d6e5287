"""`loyalty staff`: who may broadcast and manage campaigns from the chat."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from entrypoints.cli.common import load_settings, with_uow

if TYPE_CHECKING:  # the commands import the program when they run, so --help stays quick
    from db.models import Staff
    from db.uow import UnitOfWork
    from loyalty.clock import Clock

staff_app = typer.Typer(
    help=(
        "Grant, change and take away staff access in the chat.\n\n"
        "Staff are Telegram users (by their numeric user id; a user can see theirs with a bot "
        "like @userinfobot). They get /broadcast and /campaigns in the program's bot: owners act "
        "on every campaign, marketers on the ones they created. Changes apply at once."
    ),
    no_args_is_help=True,
)


class RoleChoice(str, Enum):
    owner = "owner"
    marketer = "marketer"
    cashier = "cashier"


TelegramId = Annotated[
    int, typer.Argument(help="The staff member's numeric Telegram user id.", min=1, metavar="TELEGRAM_ID")
]


@staff_app.command("add")
def add(
    telegram_id: TelegramId,
    role: Annotated[
        RoleChoice,
        typer.Option(
            help="owner: every campaign, and the till; marketer: broadcasts and manages their own "
            "campaigns; cashier: the till in the Mini App only, at their --store."
        ),
    ],
    name: Annotated[
        str | None, typer.Option(help="Who this is, as shown in lists. Required for someone new.")
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="The code of the store they serve at, where the till records their sales; a cashier "
            "needs one. Unset: as it was ('' for none)."
        ),
    ] = None,
) -> None:
    """Make a Telegram user staff, or change the role (and name, store) of one who already is;
    an owner's or marketer's chat command menu gets /broadcast and /campaigns."""
    from loyalty import staff

    store_code = staff.KEEP_STORE if store is None else store
    change = with_uow(
        lambda uow, clock: staff.add(
            uow, clock, telegram_id=telegram_id, role=role.value, name=name, store_code=store_code
        )
    )
    verb = "added as" if change.created else "is now"
    typer.secho(f"{change.staff.name} ({telegram_id}) {verb} {change.staff.role}.", fg=typer.colors.GREEN)
    _update_menu(telegram_id, staff=staff.runs_program(change.staff.role))


@staff_app.command("list")
def list_() -> None:
    """List staff: Telegram id, role, name, since when, and the store they serve at."""
    from loyalty import staff

    async def read(uow: UnitOfWork, clock: Clock) -> tuple[Sequence[Staff], dict[int, str]]:
        return await staff.list_staff(uow), {store.id: store.code for store in await uow.program.stores()}

    rows, store_codes = with_uow(read)
    if not rows:
        typer.echo("No staff yet: add someone with `loyalty staff add TELEGRAM_ID --role owner --name NAME`.", err=True)
        return
    for row in rows:
        store = f"\tat {store_codes[row.store_id]}" if row.store_id in store_codes else ""
        typer.echo(f"{row.telegram_id}\t{row.role}\t{row.name}\tsince {row.created_at:%Y-%m-%d}{store}")


@staff_app.command("remove")
def remove(telegram_id: TelegramId) -> None:
    """Take staff access away; their staff commands stop working at once, and their chat's
    command menu goes back to the members' one."""
    from loyalty import staff

    with_uow(lambda uow, clock: staff.remove(uow, clock, telegram_id))
    typer.secho(f"{telegram_id} is no longer staff.", fg=typer.colors.GREEN)
    _update_menu(telegram_id, staff=False)


def _update_menu(telegram_id: int, *, staff: bool) -> None:
    """Put the staff entries into the chat's command menu, or take them out. Access itself is
    already granted or gone (the staff filter reads the database), so a failure here only
    leaves the menu behind: it warns, it does not fail."""
    from aiogram.exceptions import TelegramAPIError
    from aiohttp import ClientError

    from bot.app import build_bot
    from bot.routers.staff.menu import give_staff_menu, take_staff_menu

    if staff:
        left = "their chat menu lists the staff commands once they first send /broadcast"
    else:
        left = "their chat menu still lists the staff commands; they now get a member's answer"
    settings = load_settings()
    if not settings.bot_enabled:
        typer.echo(f"BOT_TOKEN is not set: {left}.", err=True)
        return
    assert settings.bot_token is not None
    token = settings.bot_token.get_secret_value()

    async def go() -> None:
        bot = build_bot(token, settings.bot_api_url)
        try:
            await (give_staff_menu if staff else take_staff_menu)(bot, telegram_id)
        finally:
            await bot.session.close()

    try:
        asyncio.run(go())
    except (TelegramAPIError, ClientError, TimeoutError) as error:
        # "chat not found": they have not started the bot yet.
        typer.secho(f"their chat menu could not be changed ({error}): {left}.", fg=typer.colors.YELLOW, err=True)
