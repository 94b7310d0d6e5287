"""`loyalty campaigns`: send a campaign from the terminal and see how recent campaigns went.

`send` drives one campaign in the foreground with the same sender the bot process runs
(bot.broadcast), so an operator can push a member-day announcement out and watch it go; it
is safe next to a running bot: both claim rows, neither sends one twice. Interrupting it
hands the rows it has not started back; rows in flight go again after the lease.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from entrypoints.cli.common import prepared_settings
from loyalty.config import Settings

campaigns_app = typer.Typer(help="Send campaigns and see how they went.", no_args_is_help=True)
console = Console(stderr=True)
POLL_SECONDS = 1.0  # the progress bar's refresh from the database
LONG_WAIT = 3_600.0  # a send waits at most this long at a time for rows due later (quiet hours)


SEND_HELP = (
    "Send a campaign now, in the foreground, with a progress bar (rate and time left).\n\n"
    "A scheduled campaign whose time has come is started first (its recipients chosen, the hold-out set aside). "
    "Sends at BROADCAST_RATE messages a second through BOT_TOKEN and BOT_API_URL; waits for members whose quiet "
    "hours hold their message, unless interrupted."
)


# The help is one string per paragraph so the terminal wraps it, not the source's lines.
@campaigns_app.command("send", help=SEND_HELP)
def send(
    campaign_id: Annotated[
        int, typer.Argument(help="The campaign's id (see `loyalty campaigns list`).", metavar="CAMPAIGN_ID")
    ],
) -> None:
    from loyalty.errors import LoyaltyError

    settings = prepared_settings(quiet=True)
    if settings.bot_token is None:
        typer.secho("BOT_TOKEN is not set: nothing can be sent.", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    try:
        asyncio.run(_send(settings, campaign_id))
    except LoyaltyError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from error


@campaigns_app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 20,
) -> None:
    """Recent campaigns, newest first, with their status and what became of their messages."""
    settings = prepared_settings(quiet=True)
    table = asyncio.run(_listing(settings, limit))
    Console().print(table)


async def _send(settings: Settings, campaign_id: int) -> None:
    from bot.broadcast import BroadcastClient, BroadcastEngine
    from db.models import CampaignStatus
    from entrypoints.services import freeze_startup_heap, open_services
    from loyalty.campaigns import service

    assert settings.bot_token is not None
    async with open_services(settings) as services:
        factory, clock = services.uow_factory, services.clock
        async with factory() as uow:
            campaign = await service.get_campaign(uow, campaign_id)
            if campaign.status == CampaignStatus.SCHEDULED:
                due = service.due_at(campaign)
                if due > clock.now():
                    typer.secho(f"campaign {campaign_id} is scheduled for {due:%Y-%m-%d %H:%M %Z}; not due yet.",
                                fg=typer.colors.YELLOW, err=True)
                    raise typer.Exit(1)
                await service.start(uow, clock, settings, campaign_id)
                campaign = await service.get_campaign(uow, campaign_id)
        if campaign.status != CampaignStatus.SENDING:
            typer.secho(f"campaign {campaign_id} is {campaign.status}: nothing to send.", fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(0 if campaign.status == CampaignStatus.DONE else 1)
        client = BroadcastClient(settings.bot_token.get_secret_value(), settings.bot_api_url)
        engine = BroadcastEngine(client, factory, clock, settings)
        freeze_startup_heap()
        try:
            with _bar() as bar:
                task = bar.add_task(campaign.name, total=None, rate=0.0, eta="")
                watcher = asyncio.create_task(_watch(factory, clock, campaign_id, bar, task))
                try:
                    await _send_until_done(engine, factory, clock, campaign_id)
                finally:
                    watcher.cancel()
                await _show(factory, clock, campaign_id, bar, task)
        finally:
            await client.close()
        async with factory() as uow:
            progress = await service.progress(uow, clock, campaign_id)
    typer.echo(summary(progress))


async def _send_until_done(engine, factory, clock, campaign_id: int) -> None:  # type: ignore[no-untyped-def]
    """Drain; while rows are held for later (quiet hours), wait for them and drain again."""
    from db.models import CampaignStatus
    from loyalty.campaigns import service

    while True:
        await engine.drain(campaign_id)
        async with factory() as uow:
            progress = await service.progress(uow, clock, campaign_id)
            if progress.status != CampaignStatus.SENDING or not progress.pending + progress.sending:
                return
            moment = await uow.campaign_outbox.next_due({campaign_id}, lease_seconds=engine.lease.total_seconds())
        if moment is None:
            return
        wait = max(1.0, min(LONG_WAIT, (moment - clock.now()).total_seconds()))
        console.print(f"{progress.pending:,} messages are held until {_local(moment)} (quiet hours); waiting.")
        await asyncio.sleep(wait)


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.1f} msg/s"), TextColumn("{task.fields[eta]}"), TimeElapsedColumn(),
        console=console,
    )


async def _watch(factory, clock, campaign_id: int, bar: Progress, task: TaskID) -> None:  # type: ignore[no-untyped-def]
    while True:
        await _show(factory, clock, campaign_id, bar, task)
        await asyncio.sleep(POLL_SECONDS)


async def _show(factory, clock, campaign_id: int, bar: Progress, task: TaskID) -> None:  # type: ignore[no-untyped-def]
    from loyalty.campaigns import service

    async with factory() as uow:
        progress = await service.progress(uow, clock, campaign_id)
    eta = f"ETA {progress.eta_seconds:,.0f} s" if progress.eta_seconds is not None else ""
    bar.update(task, total=progress.total - progress.held_out, completed=progress.done, rate=progress.rate, eta=eta)


def summary(progress) -> str:  # type: ignore[no-untyped-def]
    return (
        f"campaign {progress.campaign_id} {progress.status}: {progress.sent:,} sent, {progress.failed:,} failed, "
        f"{progress.skipped:,} skipped ({progress.opted_out:,} opted out, {progress.unreachable:,} unreachable), "
        f"{progress.held_out:,} held out, {progress.cancelled:,} cancelled, {progress.pending + progress.sending:,} left"
    )


async def _listing(settings: Settings, limit: int) -> Table:
    from entrypoints.services import open_services
    from loyalty.campaigns import service

    table = Table("id", "name", "status", "when", "sent", "failed", "skipped", "held out", "left")
    async with open_services(settings) as services, services.uow_factory() as uow:
        for campaign in await service.list_campaigns(uow, limit=limit):
            progress = await service.progress(uow, services.clock, campaign.id)
            when = (
                _local(campaign.send_at, settings) if campaign.send_at is not None
                else f"{campaign.local_date} {campaign.local_time} local"
            )
            table.add_row(
                str(campaign.id), campaign.name, campaign.status, when, f"{progress.sent:,}", f"{progress.failed:,}",
                f"{progress.skipped:,}", f"{progress.held_out:,}", f"{progress.pending + progress.sending:,}",
            )
    return table


def _local(moment: datetime, settings: Settings | None = None) -> str:
    """In the program's zone."""
    zone = (settings or prepared_settings(quiet=True)).zone
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"


if __name__ == "__main__":
    campaigns_app()
