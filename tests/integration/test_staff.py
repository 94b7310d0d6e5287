"""Staff accounts: granting, changing and taking away a role (loyalty.staff), and the
`loyalty staff` commands an operator runs, against the real database."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from db.models import AuditEvent, Staff
from db.uow import UnitOfWorkFactory
from entrypoints.cli.staff import staff_app
from loyalty import staff
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.errors import InvalidInput, LastOwner, NotFound
from sandbox import SandboxServer
from tests.conftest import START, TEST_SECRET
from tests.utils.coupons import add_store


async def staff_rows(uow_factory: UnitOfWorkFactory) -> list[tuple[int, str, str]]:
    async with uow_factory() as uow:
        return [(row.telegram_id, row.role, row.name) for row in await staff.list_staff(uow)]


async def test_add_changes_the_role_of_an_existing_member_and_remove_takes_access(
    uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    async with uow_factory() as uow:
        change = await staff.add(uow, clock, telegram_id=1001, role="marketer", name=" Mia ")
    assert change.created and change.staff.name == "Mia"
    async with uow_factory() as uow:
        assert await staff.role_of(uow, 1001) == "marketer"
        change = await staff.add(uow, clock, telegram_id=1001, role="owner", name=None)
    assert not change.created and change.staff.name == "Mia", "the name stays unless given"
    assert await staff_rows(uow_factory) == [(1001, "owner", "Mia")]

    async with uow_factory() as uow:
        await staff.add(uow, clock, telegram_id=1002, role="owner", name="Noor")
        await staff.remove(uow, clock, 1001)
    async with uow_factory() as uow:
        assert await staff.role_of(uow, 1001) is None
        actions = list(await uow.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["staff.add", "staff.update", "staff.add", "staff.remove"]


async def test_the_last_owner_can_be_neither_removed_nor_demoted(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    async with uow_factory() as uow:
        await staff.add(uow, clock, telegram_id=1001, role="owner", name="Mia")
        await staff.add(uow, clock, telegram_id=1002, role="marketer", name="Noor")
    for attempt in (
        lambda uow: staff.remove(uow, clock, 1001),
        lambda uow: staff.add(uow, clock, telegram_id=1001, role="marketer", name=None),
    ):
        async with uow_factory() as uow:
            with pytest.raises(LastOwner):
                await attempt(uow)
    assert await staff_rows(uow_factory) == [(1002, "marketer", "Noor"), (1001, "owner", "Mia")]
    async with uow_factory() as uow:
        assert list(await uow.session.scalars(select(AuditEvent.action))) == ["staff.add", "staff.add"]


async def test_two_owners_removing_each_other_at_once_leave_one(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    async with uow_factory() as uow:
        await staff.add(uow, clock, telegram_id=1001, role="owner", name="Mia")
        await staff.add(uow, clock, telegram_id=1002, role="owner", name="Noor")

    async def remove(telegram_id: int) -> str:
        try:
            async with uow_factory() as uow:
                await staff.remove(uow, clock, telegram_id)
        except LastOwner:
            return "refused"
        return "removed"

    outcomes = await asyncio.gather(remove(1001), remove(1002))
    assert sorted(outcomes) == ["refused", "removed"]
    [(_, role, _)] = await staff_rows(uow_factory)
    assert role == "owner"


@pytest.mark.parametrize(
    ("telegram_id", "role", "name", "field"),
    [(0, "owner", "A", "telegram_id"), (-5, "owner", "A", "telegram_id"), (1, "admin", "A", "role"),
     (1, "owner", "  ", "name"), (1, "owner", "x" * 65, "name"), (1, "owner", None, "name")],
)
async def test_bad_input_is_refused_and_writes_nothing(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, telegram_id: int, role: str, name: str | None, field: str
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(InvalidInput) as refused:
            await staff.add(uow, clock, telegram_id=telegram_id, role=role, name=name)
    assert refused.value.details["field"] == field
    assert await staff_rows(uow_factory) == []
    async with uow_factory() as uow:
        with pytest.raises(NotFound):
            await staff.remove(uow, clock, 42)


async def test_two_grants_at_once_leave_one_row(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    async def grant(role: str) -> None:
        async with uow_factory() as uow:
            await staff.add(uow, clock, telegram_id=7, role=role, name="Sam")

    outcomes = await asyncio.gather(grant("owner"), grant("marketer"), return_exceptions=True)
    [(telegram_id, role, name)] = await staff_rows(uow_factory)
    assert (telegram_id, name) == (7, "Sam") and role in ("owner", "marketer")
    # Made owner first, Sam is the only owner, whom the second grant may not demote.
    assert [type(outcome) for outcome in outcomes if outcome is not None] in ([], [LastOwner])


def run(database_url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    env = {
        "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING",
        "COLUMNS": "200",  # error boxes unwrapped
        **(env or {}),
    }
    return CliRunner().invoke(staff_app, list(args), env=env)


async def test_adding_staff_puts_the_staff_commands_in_their_chat_menu_and_removing_takes_them_out(
    settings: Settings, tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with SandboxServer() as sandbox:
        mia = sandbox.add_user("Mia").id
        stranger = sandbox.add_user("Not started", started=False).id
        scope = {"type": "chat", "chat_id": mia}

        def menus() -> list[list[str]]:
            return [[entry["command"] for entry in sandbox.commands(scope=scope, language_code=language)]
                    for language in ("", "zh")]

        env = {"BOT_TOKEN": sandbox.token, "BOT_API_URL": sandbox.base_url}
        added = await asyncio.to_thread(run, settings.database_url, "add", str(mia), "--role", "owner", "--name", "Mia", env=env)
        assert added.exit_code == 0 and "could not be changed" not in added.output, added.output
        assert all("broadcast" in menu and "campaigns" in menu and "points" in menu for menu in menus())

        removed = await asyncio.to_thread(run, settings.database_url, "remove", str(mia), env=env)
        assert removed.exit_code == 0 and f"{mia} is no longer staff." in removed.output, removed.output
        assert "could not be changed" not in removed.output
        assert menus() == [[], []]

        # Someone who has not started the bot yet is staff all the same; the menu comes later.
        early = await asyncio.to_thread(
            run, settings.database_url, "add", str(stranger), "--role", "marketer", "--name", "Sam", env=env
        )
        assert early.exit_code == 0 and "added as marketer" in early.output, early.output
        assert "once they first send /broadcast" in early.output


async def test_the_cli_adds_lists_changes_and_removes_staff(
    settings: Settings, uow_factory: UnitOfWorkFactory, tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # never read a developer's .env
    url = settings.database_url

    async def cli(*args: str) -> Result:
        return await asyncio.to_thread(run, url, *args)

    empty = await cli("list")
    assert empty.exit_code == 0 and "No staff yet" in empty.output

    added = await cli("add", "5550001", "--role", "marketer", "--name", "Mia Wong")
    assert added.exit_code == 0, added.output
    assert "Mia Wong (5550001) added as marketer." in added.output
    changed = await cli("add", "5550001", "--role", "owner")
    assert changed.exit_code == 0 and "Mia Wong (5550001) is now owner." in changed.output
    listed = await cli("list")
    assert "5550001\towner\tMia Wong\tsince " in listed.output
    await add_store(uow_factory, FixedClock(START), "S1")
    cashier = await cli("add", "5550009", "--role", "cashier", "--store", "S1", "--name", "Cai")
    assert cashier.exit_code == 0, cashier.output
    assert "5550009\tcashier\tCai\tsince " in (listed := (await cli("list")).output)
    assert listed.split("5550009", 1)[1].splitlines()[0].endswith("\tat S1")
    assert (await cli("remove", "5550009")).exit_code == 0

    for args, message in (
        (("add", "5550002", "--role", "admin", "--name", "X"), "'admin' is not one of"),
        (("add", "5550002", "--role", "owner"), "a new staff member needs a name"),
        (("add", "0", "--role", "owner", "--name", "X"), "greater than or equal to 1"),
        (("add", "abc", "--role", "owner", "--name", "X"), "Invalid value for 'TELEGRAM_ID'"),
        (("remove", "5550002"), "no staff member has Telegram id 5550002"),
    ):
        refused = await cli(*args)
        assert refused.exit_code != 0 and message in refused.output, (args, refused.output)
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Staff)) == 1

    kept = await cli("remove", "5550001")
    assert kept.exit_code != 0 and "the program's last owner stays an owner" in kept.output
    assert (await cli("add", "5550003", "--role", "owner", "--name", "Noor")).exit_code == 0
    removed = await cli("remove", "5550001")
    assert removed.exit_code == 0 and "5550001 is no longer staff." in removed.output
    assert "BOT_TOKEN is not set" in removed.output, "the menu was left as it was, and the operator is told"
    assert await staff_rows(uow_factory) == [(5550003, "owner", "Noor")]

    helped = await cli("--help")
    assert "Grant, change and take away staff access" in helped.output
    for command in ("add", "list", "remove"):
        assert command in helped.output
