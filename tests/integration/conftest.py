"""Fixtures of the tests that call the API over real HTTP: the app served with the test's
database and clock, and a key to call it with.

A module with numbers of its own overrides `api_settings` (or `api_uow_factory`); one whose
assertions name the key's actor (`apikey:<name>`) overrides `api_key_name`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from api.main import create_app
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.utils.api import RunningApi, bearer, new_api_key, running_api


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """The settings the served app runs with."""
    return settings


@pytest.fixture
def api_uow_factory(uow_factory: UnitOfWorkFactory) -> UnitOfWorkFactory:
    """The units of work the served app (and its key) use."""
    return uow_factory


@pytest.fixture
async def api(
    api_settings: Settings, api_uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> AsyncIterator[RunningApi]:
    async with running_api(create_app(api_settings, uow_factory=api_uow_factory, clock=clock)) as api:
        yield api


@pytest.fixture
def api_key_name() -> str:
    return "till-1"


@pytest.fixture
async def api_key(api_uow_factory: UnitOfWorkFactory, clock: FixedClock, api_key_name: str) -> str:
    """An admin key named `api_key_name`, so any route opens (tests of scopes make their own)."""
    return await new_api_key(api_uow_factory, clock, api_key_name)


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return bearer(api_key)
