"""`loyalty console`: the web console, from the terminal."""

from __future__ import annotations

from typing import Annotated

import typer

from entrypoints.cli.common import load_settings, with_uow

console_app = typer.Typer(
    help=(
        "The web console at /console, where owners see the dashboard and marketers the campaigns.\n\n"
        "Staff sign in without a password, with a one-time link: they send /console to the bot, "
        "or an operator prints one here."
    ),
    no_args_is_help=True,
)


@console_app.command("link")
def link(
    telegram_id: Annotated[
        int, typer.Argument(help="The staff member's numeric Telegram user id.", min=1, metavar="TELEGRAM_ID")
    ],
) -> None:
    """Print a one-time sign-in link to the console for a staff member (it works once, for
    CONSOLE_LINK_MINUTES, and points at CONSOLE_URL)."""
    from loyalty import console_access

    settings = load_settings()
    url = with_uow(lambda uow, clock: console_access.create_link(uow, clock, settings, telegram_id, actor="cli"))
    typer.echo(url)
