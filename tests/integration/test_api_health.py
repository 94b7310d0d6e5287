"""`/health` tells a busy database from a dead one: a unit of work that cannot get its
connection or the write lock in time, while the database still answers a read made aside, is
`busy` (200); a database that cannot be read is `unreachable` (503)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from api.main import create_app
from api.routes import health
from db.crypto import FieldCipher
from db.engine import create_engine, create_session_factory
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.conftest import TEST_SECRET
from tests.utils.api import RunningApi, running_api

BUSY = {"status": "busy", "database": "busy", "secret_key": "unknown"}


@pytest.fixture(autouse=True)
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # How long /health waits for a connection before it reads aside: short, so a test holding
    # the connection gets its answer soon (nothing here asserts on time).
    monkeypatch.setattr(health, "WRITE_WAIT_SECONDS", 0.2)


@pytest.fixture
def api_uow_factory(one_connection: UnitOfWorkFactory) -> UnitOfWorkFactory:
    return one_connection


async def test_a_database_held_by_a_long_transaction_is_busy_not_unreachable(
    api: RunningApi, one_connection: UnitOfWorkFactory
) -> None:
    assert (await api.client.get("/health")).json() == {"status": "ok", "database": "ok", "secret_key": "ok"}
    async with one_connection() as sweep:
        # A long job in this process: it holds the connection (and on SQLite the write lock).
        await sweep.session.execute(text("SELECT 1"))
        response = await api.client.get("/health")
        assert response.status_code == 200 and response.json() == BUSY
    assert (await api.client.get("/health")).json() == {"status": "ok", "database": "ok", "secret_key": "ok"}


async def test_another_process_holding_the_sqlite_write_lock_makes_it_busy(
    settings: Settings, uow_factory: UnitOfWorkFactory, database_url: str, clock: FixedClock
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no database-wide write lock")
    other_process = create_engine(database_url)
    try:
        async with running_api(create_app(settings, uow_factory=uow_factory, clock=clock)) as api:
            async with other_process.begin():  # BEGIN IMMEDIATE: the write lock, until the block ends
                response = await api.client.get("/health")
            # Released: the unit of work /health gave up on gets the lock now, and the next one is ok.
            assert (await api.client.get("/health")).json() == {"status": "ok", "database": "ok", "secret_key": "ok"}
        assert response.status_code == 200 and response.json() == BUSY
    finally:
        await other_process.dispose()


async def test_a_slow_database_that_cannot_be_read_is_unreachable(
    settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    """The program's connection is held, and the database file was removed under the running
    process (its open connection still works; nothing else can open the file): 503."""
    path = tmp_path / "moved-away.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", pool_size=1, max_overflow=0)
    factory = UnitOfWorkFactory(create_session_factory(engine), FieldCipher(TEST_SECRET))
    try:
        async with factory() as held:
            await held.session.execute(text("CREATE TABLE t (x INTEGER)"))
            path.unlink()
            async with running_api(create_app(settings, uow_factory=factory, clock=clock)) as api:
                response = await api.client.get("/health")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable", "secret_key": "unknown"}


async def test_the_openapi_document_describes_each_answer(api: RunningApi) -> None:
    document = (await api.client.get("/openapi.json")).json()
    answers = document["paths"]["/health"]["get"]["responses"]
    assert set(answers) == {"200", "413", "503"}  # 413: any body too large, before it is read
    for code in ("200", "503"):
        assert answers[code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HealthPublic"}
    fields = document["components"]["schemas"]["HealthPublic"]["properties"]
    assert fields["status"]["enum"] == ["ok", "busy", "unavailable"]
    assert fields["database"]["enum"] == ["ok", "busy", "unreachable"]
    assert fields["secret_key"]["enum"] == ["ok", "mismatch", "unknown"]
    assert "busy" in answers["200"]["description"] and "busy" in document["paths"]["/health"]["get"]["description"]
