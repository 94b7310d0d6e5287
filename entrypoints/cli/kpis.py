"""`loyalty kpis rebuild`: build the dashboard's daily roll-ups now, in the foreground.

The scheduler builds them every night (and at start-up); this is for a first install over old
data, after fixing data by hand, or to rebuild from a date with `--since`.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from entrypoints.cli.common import plural, prepared_settings
from loyalty.config import Settings

kpis_app = typer.Typer(help="The dashboard's numbers: build the daily roll-ups.", no_args_is_help=True)

REBUILD_HELP = (
    "Build the daily roll-ups the dashboard reads, with a progress bar.\n\n"
    "Builds every past day not built yet since the first data, and the last PURCHASE_BACKDATE_DAYS + 1 days "
    "(a till may still post sales for them); with --since, every day from that date. Today is never stored: "
    "the dashboard computes it live."
)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from error


@kpis_app.command("rebuild", help=REBUILD_HELP)
def rebuild(
    since: Annotated[
        str | None, typer.Option(help="Rebuild every day from this date (YYYY-MM-DD).", metavar="DATE")
    ] = None,
) -> None:
    first = _day(since) if since is not None else None
    settings = prepared_settings(quiet=True)
    built = asyncio.run(_rebuild(settings, first))
    typer.echo(f"{plural(built, 'day')} built.")


async def _rebuild(settings: Settings, since: date | None) -> int:
    from entrypoints.services import open_services
    from loyalty.kpis import build_rollups

    console = Console(stderr=True)
    async with open_services(settings) as services:
        if since is not None and since > services.clock.now().astimezone(settings.zone).date():
            typer.secho(f"--since {since.isoformat()} is in the future: nothing to build.", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        if not console.is_terminal:
            # A log or a pipe: a plain line per day instead of a bar.
            def line(day: date, done: int, total: int) -> None:
                print(f"kpis rebuild: {day.isoformat()} ({done:,} of {total:,})", file=sys.stderr, flush=True)

            return await build_rollups(services.uow_factory, services.clock, settings, since=since, progress=line)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("Building days", total=None)

            def advance(day: date, done: int, total: int) -> None:
                bar.update(task, total=total, completed=done, description=f"Building {day.isoformat()}")

            return await build_rollups(services.uow_factory, services.clock, settings, since=since, progress=advance)
