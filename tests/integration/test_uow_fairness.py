"""Short transactions in a loop never starve a unit of work waiting for the connection: a
returned connection goes to the unit of work that was waiting for it, not back to the loop that
gave it up (on SQLite a process has one connection, so this is what lets a purchase in between
the spans of a sweep)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from db.uow import UnitOfWorkFactory


async def test_a_waiting_unit_of_work_gets_the_connection_between_a_loops_transactions(
    one_connection: UnitOfWorkFactory,
) -> None:
    order: list[str] = []
    first_open, other_asking = asyncio.Event(), asyncio.Event()

    async def loop_of_transactions() -> None:
        for number in range(10):
            async with one_connection() as uow:
                await uow.session.execute(text("SELECT 1"))  # holds the connection from here
                if number == 0:
                    first_open.set()
                    await other_asking.wait()
                order.append(f"loop {number}")
                await uow.commit()

    async def one_more() -> None:
        await first_open.wait()
        async with one_connection() as uow:
            other_asking.set()  # the loop resumes only once this task waits for the connection below
            await uow.session.execute(text("SELECT 1"))
            order.append("other")
            await uow.commit()

    await asyncio.gather(loop_of_transactions(), one_more())
    assert order.index("other") == 1, order
