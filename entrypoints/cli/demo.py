"""`loyalty demo`: fill an empty database with a sample café chain (loyalty/demo.py holds it)."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from entrypoints.cli.common import prepared_settings

if TYPE_CHECKING:
    from loyalty.config import Settings
    from loyalty.demo import DemoReport

DEMO_HELP = (
    "Fill an empty database with a sample program to explore: a café chain's stores on the map "
    "with opening hours, the tiers, a reward catalogue, coupon templates, earning rules and a few "
    "hundred members with six months of purchases, coupons and rewards, written through the "
    "program's own rules.\n\n"
    "It only ever runs when you type it, and refuses a database that already holds members, "
    "stores, rewards or coupon templates, writing nothing: point DATABASE_URL at a new database "
    "for it. The same --seed gives the same program."
)


def demo(
    members: Annotated[int, typer.Option(min=1, max=5_000, help="How many members to write.")] = 300,
    seed: Annotated[int, typer.Option(help="Seeds every choice the demo makes.")] = 1,
) -> None:
    from loyalty.errors import LoyaltyError

    settings = prepared_settings(quiet=True)
    started = time.monotonic()
    try:
        report = asyncio.run(_demo(settings, members=members, seed=seed))
    except LoyaltyError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    seconds = time.monotonic() - started
    tiers = ", ".join(f"{count:,} {tier}" for tier, count in report.tiers_reached.items())
    typer.secho(
        f"Demo program written in {seconds:.0f} s: {report.stores} stores, {report.rewards} rewards, "
        f"{report.coupon_templates} coupon templates, {report.earning_rules} earning rules, "
        f"{report.members:,} members ({tiers}) with {report.purchases:,} purchases, "
        f"{report.coupons_redeemed:,} coupons and {report.rewards_redeemed:,} rewards redeemed.",
        fg=typer.colors.GREEN,
    )
    typer.echo(
        f"Be member {report.showcase_member} ({report.showcase_tier}, {report.showcase_balance:,} points): "
        f"run `loyalty chat`, type /start, agree, then `:contact {report.showcase_phone}`. "
        "Segments: GET /api/v1/segments/rfm; a campaign's report: "
        f"GET /api/v1/campaigns/{report.campaign_id}/report; stores near you: 📍 in the chat."
    )


async def _demo(settings: Settings, *, members: int, seed: int) -> DemoReport:
    from datetime import datetime, timezone

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from entrypoints.runtime import open_services
    from loyalty.demo import build_demo, refuse_unless_empty

    console = Console(stderr=True)
    async with open_services(settings) as services:
        await refuse_unless_empty(services.uow_factory)
        now = datetime.now(timezone.utc)
        # Each member's history is written in two steps: up to the campaign's launch, then on to now.
        steps = 2 * members
        if not console.is_terminal:
            step = max(1, steps // 10)

            def line(done: int) -> None:
                if done % step == 0 or done == steps:
                    print(f"demo: {done:,} of {steps:,} steps of the members' history written",
                          file=sys.stderr, flush=True)

            return await build_demo(services.uow_factory, settings, now=now, seed=seed, member_count=members,
                                    progress=line)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("Members' history", total=steps)
            return await build_demo(
                services.uow_factory, settings, now=now, seed=seed, member_count=members,
                progress=lambda done: bar.update(task, completed=done),
            )
