"""Moving from an old program (loyalty.member_import): members with opening balances and tiers,
and bulk adjustments, all rows or none, idempotent, against the real database; and the
`loyalty members` commands."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from db.models import AuditEvent, LedgerEntry, Member
from db.uow import UnitOfWorkFactory
from entrypoints.cli.main import app
from loyalty import ledger
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.errors import ImportRejected
from loyalty.member_import import OPENING_REASON, import_adjustments, import_members, parse_member_csv
from tests.conftest import TEST_SECRET
from tests.utils.members import next_phone

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "samples" / "members-import.csv"
HEADER = "external_id,phone,name,language,opening_points,tier,joined\n"


def members_csv(*rows: str) -> bytes:
    return (HEADER + "".join(f"{row}\n" for row in rows)).encode()


async def counts(uow_factory: UnitOfWorkFactory) -> tuple[int, int, int]:
    async with uow_factory() as uow:
        members = await uow.session.scalar(select(func.count()).select_from(Member))
        entries = await uow.session.scalar(select(func.count()).select_from(LedgerEntry))
        audits = await uow.session.scalar(select(func.count()).select_from(AuditEvent))
    return members or 0, entries or 0, audits or 0


async def test_members_come_with_opening_balances_and_tiers_and_a_second_upload_changes_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    gold, plain = next_phone(), next_phone()
    data = members_csv(
        f"A-1,{gold},Li Lei,zh_CN,1200,gold,2021-03-04",
        f"A-2,{plain.removeprefix('+86')},,,,,",  # the national form, as an old till kept it
    )
    async with uow_factory() as uow:
        report = await import_members(uow, clock, settings, data, actor="staff:7")
    assert (report.created, report.already_there, report.opening_points) == (2, 0, 1200)
    async with uow_factory() as uow:
        first = await uow.members.by_phone(gold)
        second = await uow.members.by_phone(plain)
        assert first is not None and second is not None
        tiers = {tier.id: tier.code for tier in await uow.program.tiers()}
        assert (tiers[first.tier_id], first.points_balance, first.locale, first.telegram_id) == ("gold", 1200, "zh_CN", None)
        assert first.created_at.astimezone(settings.zone).date().isoformat() == "2021-03-04" and first.enrolled_via == "import"
        assert uow.members.first_name_of(first) == "Li Lei"
        assert (tiers[second.tier_id], second.points_balance, second.locale) == ("member", 0, "en")
        [entry] = (await uow.session.scalars(select(LedgerEntry).where(LedgerEntry.member_id == first.id))).all()
        assert (entry.kind, entry.points, entry.reason) == (ledger.LedgerKind.ADJUST, 1200, OPENING_REASON)
        assert entry.actor == f"import:{report.import_id[:12]}"
    before = await counts(uow_factory)

    async with uow_factory() as uow:
        again = await import_members(uow, clock, settings, data, actor="staff:7")
    assert (again.created, again.already_there, again.opening_points) == (0, 2, 0)
    members, entries, _ = await counts(uow_factory)
    assert (members, entries) == before[:2]


async def test_every_bad_row_is_listed_by_line_and_nothing_is_written(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    good, twice = next_phone(), next_phone()
    data = members_csv(
        f"A-1,{good},Ann,en,10,,",  # line 2: fine
        "A-2,not a phone,Bob,en,0,,",
        f"A-3,{next_phone()},Cy,fr,0,,",
        f"A-4,{next_phone()},Di,en,-5,,",
        f"A-5,{next_phone()},Ed,en,0,platinum,",
        f"A-6,{next_phone()},Fa,en,0,,2999-01-01",
        f"A-7,{twice},Gu,en,0,,",
        f"A-8,{twice},Ha,en,0,,",
        f"A-1,{next_phone()},Io,en,0,,",
        f"A-10,{next_phone()},Jo,en,lots,,",
    )
    before = await counts(uow_factory)
    async with uow_factory() as uow:
        with pytest.raises(ImportRejected) as refused:
            await import_members(uow, clock, settings, data, actor="staff:7")
    listed = [(row.row, row.field) for row in refused.value.errors]
    assert listed == [
        (3, "phone"), (4, "language"), (5, "opening_points"), (6, "tier"), (7, "joined"), (9, "phone"),
        (10, "external_id"), (11, "opening_points"),
    ]
    assert "line 8" in refused.value.errors[5].message and "platinum" in refused.value.errors[3].message
    assert await counts(uow_factory) == before, "not even the good row on line 2"


@pytest.mark.parametrize(
    ("data", "field"),
    [(b"phone,points\n+8613800138000,5\n", "header"), (b"name\nAnn\n", "header"), (HEADER.encode(), "row"),
     (b"\xff\xfe\x00p", "file")],
)
async def test_a_file_of_the_wrong_shape_is_refused(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, data: bytes, field: str
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(ImportRejected) as refused:
            await import_members(uow, clock, settings, data, actor="cli")
    assert [row.field for row in refused.value.errors] == [field]
    assert (await counts(uow_factory))[0] == 0


async def imported(uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, points: int) -> str:
    phone = next_phone()
    async with uow_factory() as uow:
        report = await import_members(uow, clock, settings, members_csv(f",{phone},,,{points},,"), actor="cli")
    return report.member_numbers[0]


async def balance(uow_factory: UnitOfWorkFactory, number: str) -> int:
    async with uow_factory() as uow:
        member = await uow.members.by_number(number)
        assert member is not None
        return member.points_balance


async def test_bulk_adjustments_apply_once_and_a_refused_row_stops_them_all(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    ann = await imported(uow_factory, clock, settings, 100)
    bob = await imported(uow_factory, clock, settings, 0)
    data = f"member_number,points,reason\n{ann},-30,double entry\n{bob},50,goodwill\n{ann},5,goodwill\n".encode()
    async with uow_factory() as uow:
        report = await import_adjustments(uow, clock, settings, data, actor="staff:7")
    assert (report.adjusted, report.points, report.replayed) == (3, 25, False)
    assert (await balance(uow_factory, ann), await balance(uow_factory, bob)) == (75, 50)
    before = await counts(uow_factory)

    async with uow_factory() as uow:
        again = await import_adjustments(uow, clock, settings, data, actor="staff:7")
    assert again.replayed and again.adjusted == 3
    assert await counts(uow_factory) == before

    # Too few points (line 3), an unknown member (line 4), bad cells (lines 5 and 6): none applies.
    unknown = "1234567897"
    bad = f"member_number,points,reason\n{bob},10,fine\n{ann},-1000,too much\n{unknown},5,who\n{bob},0,zero\n12,5,\n".encode()
    async with uow_factory() as uow:
        with pytest.raises(ImportRejected) as refused:
            await import_adjustments(uow, clock, settings, bad, actor="staff:7")
    assert [(row.row, row.field) for row in refused.value.errors] == [
        (5, "points"), (6, "member_number"),
    ], "rows of the wrong form are listed before any is applied"
    fixed = f"member_number,points,reason\n{bob},10,fine\n{ann},-1000,too much\n{unknown},5,who\n".encode()
    async with uow_factory() as uow:
        with pytest.raises(ImportRejected) as refused:
            await import_adjustments(uow, clock, settings, fixed, actor="staff:7")
    assert [row.row for row in refused.value.errors] == [3, 4]
    assert "available" in refused.value.errors[0].message
    assert (await balance(uow_factory, ann), await balance(uow_factory, bob)) == (75, 50)
    assert await counts(uow_factory) == before


async def test_the_cli_imports_with_a_progress_bar_and_lists_bad_lines(
    settings: Settings, uow_factory: UnitOfWorkFactory, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = Path(str(tmp_path))
    monkeypatch.chdir(folder)  # never read a developer's .env
    env = {"DATABASE_URL": settings.database_url, "SECRET_KEY": TEST_SECRET, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING"}
    good, bad = folder / "good.csv", folder / "bad.csv"
    good.write_bytes(members_csv(f"A-1,{next_phone()},Ann,en,40,silver,", f"A-2,{next_phone()},Bob,en,0,,"))
    bad.write_bytes(members_csv(f"A-1,{next_phone()},Ann,en,40,silver,", "A-2,nope,Bob,en,0,,"))

    def cli(*args: str) -> Result:
        return CliRunner().invoke(app, ["members", *args], env=env)

    refused = await asyncio.to_thread(cli, "import", str(bad))
    assert refused.exit_code == 1 and "line 3, phone" in refused.output
    assert (await counts(uow_factory))[0] == 0
    done = await asyncio.to_thread(cli, "import", str(good))
    assert done.exit_code == 0, done.output
    assert "2 members imported with 40 opening points; 0 already members" in done.output
    again = await asyncio.to_thread(cli, "import", str(good))
    assert "0 members imported" in again.output and "2 already members" in again.output
    assert (await counts(uow_factory))[0] == 2

    async with uow_factory() as uow:
        numbers = [member.member_number for member in await uow.session.scalars(select(Member).order_by(Member.id))]
    adjustments = folder / "adjust.csv"
    adjustments.write_text(f"member_number,points,reason\n{numbers[0]},-40,moved twice\n{numbers[1]},15,welcome\n")
    applied = await asyncio.to_thread(cli, "adjust", str(adjustments))
    assert applied.exit_code == 0 and "2 adjustments applied, -25 points" in applied.output, applied.output
    replayed = await asyncio.to_thread(cli, "adjust", str(adjustments))
    assert replayed.exit_code == 0 and "already applied" in replayed.output
    assert [await balance(uow_factory, number) for number in numbers] == [0, 15]


async def test_the_documented_sample_imports_as_documented(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    data = await asyncio.to_thread(SAMPLE.read_bytes)
    async with uow_factory() as uow:
        report = await import_members(uow, clock, settings, data, actor="cli")
    assert (report.created, report.opening_points) == (3, 1550)


BAD_CELLS = {
    "phone": "A-{n},12,x,en,0,,",
    "language": "A-{n},{phone},x,de,0,,",
    "opening_points": "A-{n},{phone},x,en,1.5,,",
    "tier": "A-{n},{phone},x,en,0,diamond,",
    "joined": "A-{n},{phone},x,en,0,,04/03/2021",
}


@given(lines=st.lists(st.sampled_from([None, *BAD_CELLS]), min_size=1, max_size=12))
@hypothesis_settings(max_examples=40, deadline=None)
def test_the_listed_lines_are_exactly_the_bad_ones(lines: list[str | None]) -> None:
    """Wherever bad lines fall among good ones, each is listed once with its column, and a file
    without one parses whole."""
    rows = [
        (f"A-{n},{next_phone()},x,en,{n},gold,2020-01-01" if bad is None else BAD_CELLS[bad].format(n=n, phone=next_phone()))
        for n, bad in enumerate(lines)
    ]
    data = members_csv(*rows)
    expected = [(n + 2, bad) for n, bad in enumerate(lines) if bad is not None]
    try:
        parsed = parse_member_csv(data, tier_codes=frozenset({"member", "gold"}), phone_region="CN", today=date(2026, 1, 1))
    except ImportRejected as refused:
        assert [(row.row, row.field) for row in refused.errors] == expected
    else:
        assert not expected and [row.line for row in parsed] == list(range(2, len(lines) + 2))
        assert [row.opening_points for row in parsed] == list(range(len(lines)))


async def test_two_uploads_of_one_file_at_once_make_each_member_once(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    data = members_csv(*(f"A-{n},{next_phone()},x,en,10,," for n in range(20)))

    async def upload() -> object:
        async with uow_factory() as uow:
            try:
                return await import_members(uow, clock, settings, data, actor="cli")
            except ImportRejected as refused:
                return refused

    outcomes = await asyncio.gather(upload(), upload())
    created = sorted(getattr(outcome, "created", 0) for outcome in outcomes)
    assert created[1] == 20 and created[0] == 0
    members, entries, _ = await counts(uow_factory)
    assert (members, entries) == (20, 20)
