"""The web console for tests: staff with a signed-in httpx client, and reading its pages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select

from db.models import ConsoleSession
from db.uow import UnitOfWorkFactory
from loyalty import console_access, staff
from loyalty.clock import Clock
from loyalty.config import Settings

COOKIE = "loyalty_console"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def add_staff(uow_factory: UnitOfWorkFactory, clock: Clock, telegram_id: int, role: str, name: str = "Mia") -> None:
    async with uow_factory() as uow:
        await staff.add(uow, clock, telegram_id=telegram_id, role=role, name=name)


async def new_link(
    uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings, telegram_id: int, *, locale: str | None = None
) -> str:
    """A sign-in link's path and query, as the console serves it (/console/login?token=...)."""
    async with uow_factory() as uow:
        url = await console_access.create_link(uow, clock, settings, telegram_id, locale=locale)
    parts = urlsplit(url)
    return f"/console/login?{parts.query}"


async def sign_in(
    client: httpx.AsyncClient,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    settings: Settings,
    telegram_id: int,
    *,
    locale: str | None = None,
) -> httpx.Response:
    """Open a fresh link with `client`, which keeps the session cookie; the redirect it got."""
    response = await client.get(await new_link(uow_factory, clock, settings, telegram_id, locale=locale))
    assert response.status_code == 303, response.text
    return response


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


async def session_count(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(ConsoleSession)) or 0)
