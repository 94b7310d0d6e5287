"""`loyalty members`: moving members from an old program, and bulk point adjustments."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from entrypoints.cli.common import load_settings, plural, with_uow

if TYPE_CHECKING:
    from rich.progress import Progress

    from loyalty.errors import ImportRejected

members_app = typer.Typer(
    help=(
        "Move members from an old program (their opening points and tiers) and adjust points in bulk, "
        "from CSV files. Every row or none; the same file twice changes nothing."
    ),
    no_args_is_help=True,
)

CsvFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file (UTF-8, header row first).")
]


def _bar(label: str) -> Progress:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True), transient=True
    )


def _list_errors(error: ImportRejected) -> None:
    for row in error.errors:
        typer.secho(f"line {row.row}, {row.field}: {row.message}", fg=typer.colors.RED, err=True)


def _rows_in(data: bytes) -> int:
    return max(0, len(data.splitlines()) - 1)  # the header aside; a quoted line break counts twice


# Each help is one string per paragraph so the terminal wraps it, not the source's lines.
IMPORT_HELP = (
    "Create members from an old program's CSV, with their opening points and tiers.\n\n"
    "Columns: external_id,phone,name,language,opening_points,tier,joined (only phone required; tier is "
    "a tier code of this program, joined a date like 2021-03-04). A phone that is already a member's is "
    "left alone. Bad rows are listed by line and nothing is written."
)
ADJUST_HELP = (
    "Adjust members' points from a CSV: member_number,points,reason (points may be negative).\n\n"
    "One transaction: a row the rules refuse (unknown member, too few points) is listed with the "
    "others and nothing is written. The same file again changes nothing."
)


@members_app.command("import", help=IMPORT_HELP)
def import_(file: CsvFile) -> None:
    from loyalty.errors import ImportRejected
    from loyalty.member_import import import_members

    data = file.read_bytes()
    settings = load_settings()

    async def action(uow, clock):  # type: ignore[no-untyped-def]
        with _bar("Importing members") as bar:
            task = bar.add_task("members", total=_rows_in(data))
            try:
                return await import_members(
                    uow, clock, settings, data, actor="cli", progress=lambda n: bar.advance(task, n)
                )
            except ImportRejected as error:
                _list_errors(error)
                raise

    report = with_uow(action)
    typer.secho(
        f"{plural(report.created, 'member')} imported with {plural(report.opening_points, 'opening point')}; "
        f"{report.already_there:,} already members (import {report.import_id[:12]}).",
        fg=typer.colors.GREEN,
    )


@members_app.command("adjust", help=ADJUST_HELP)
def adjust(file: CsvFile) -> None:
    from loyalty.errors import ImportRejected
    from loyalty.member_import import import_adjustments

    data = file.read_bytes()
    settings = load_settings()

    async def action(uow, clock):  # type: ignore[no-untyped-def]
        with _bar("Adjusting points") as bar:
            task = bar.add_task("adjustments", total=_rows_in(data))
            try:
                return await import_adjustments(
                    uow, clock, settings, data, actor="cli", progress=lambda n: bar.advance(task, n)
                )
            except ImportRejected as error:
                _list_errors(error)
                raise

    report = with_uow(action)
    if report.replayed:
        typer.secho(f"This file was already applied (import {report.import_id[:12]}); nothing changed.", fg=typer.colors.YELLOW)
        return
    typer.secho(
        f"{plural(report.adjusted, 'adjustment')} applied, {report.points:+,} points (import {report.import_id[:12]}).",
        fg=typer.colors.GREEN,
    )
