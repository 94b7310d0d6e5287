"""`loyalty staff`: who may broadcast and manage campaigns from the chat."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Annotated, TypeVar

import typer

T = TypeVar("T")

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


TelegramId = Annotated[
    int, typer.Argument(help="The staff member's numeric Telegram user id.", min=1, metavar="TELEGRAM_ID")
]


@staff_app.command("add")
def add(
    telegram_id: TelegramId,
    role: Annotated[
        RoleChoice,
        typer.Option(help="owner: every campaign; marketer: broadcasts and manages their own campaigns."),
    ],
    name: Annotated[
        str | None, typer.Option(help="Who this is, as shown in lists. Required for someone new.")
    ] = None,
) -> None:
    """Make a Telegram user staff, or change the role (and name) of one who already is."""
    from loyalty import staff

    change = _with_uow(
        lambda uow, clock: staff.add(uow, clock, telegram_id=telegram_id, role=role.value, name=name)
    )
    verb = "added as" if change.created else "is now"
    typer.secho(f"{change.staff.name} ({telegram_id}) {verb} {change.staff.role}.", fg=typer.colors.GREEN)


@staff_app.command("list")
def list_() -> None:
    """List staff: Telegram id, role, name, since when."""
    from loyalty import staff

    rows = _with_uow(lambda uow, clock: staff.list_staff(uow))
    if not rows:
        typer.echo("No staff yet: add someone with `loyalty staff add TELEGRAM_ID --role owner --name NAME`.", err=True)
        return
    for row in rows:
        typer.echo(f"{row.telegram_id}\t{row.role}\t{row.name}\tsince {row.created_at:%Y-%m-%d}")


@staff_app.command("remove")
def remove(telegram_id: TelegramId) -> None:
    """Take staff access away; their staff commands stop working at once."""
    from loyalty import staff

    _with_uow(lambda uow, clock: staff.remove(uow, clock, telegram_id))
    typer.secho(f"{telegram_id} is no longer staff.", fg=typer.colors.GREEN)


def _with_uow(action: Callable[..., Awaitable[T]]) -> T:
    """Run one rule in one unit of work against the configured database; refusals become a
    red line and exit status 1."""
    from pydantic import ValidationError

    from loyalty.config import Settings
    from loyalty.errors import LoyaltyError
    from loyalty.runtime import configure_logging, ensure_dev_secret, open_services

    try:
        settings = Settings()
    except ValidationError as error:
        typer.secho(f"configuration error:\n{error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from error
    configure_logging(settings.log_level, quiet=True)
    settings = ensure_dev_secret(settings)

    async def go() -> T:
        async with open_services(settings) as services, services.uow_factory() as uow:
            return await action(uow, services.clock)

    try:
        return asyncio.run(go())
    except LoyaltyError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from error
