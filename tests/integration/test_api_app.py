"""The app as a whole: health, the OpenAPI document, its own database lifespan, error bodies."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.main import create_app
from db.crypto import FieldCipher
from db.engine import create_engine, create_session_factory
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.conftest import TEST_SECRET
from tests.utils.api import RunningApi, bearer, new_api_key, running_api


@pytest.fixture
async def unreachable_factory(tmp_path: Path) -> AsyncIterator[UnitOfWorkFactory]:
    # SQLite cannot open a file in a directory that does not exist: a database that is "down".
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'db.sqlite3'}")
    yield UnitOfWorkFactory(create_session_factory(engine), FieldCipher(TEST_SECRET))
    await engine.dispose()


async def test_health_checks_the_database_without_a_key(api: RunningApi) -> None:
    response = await api.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "secret_key": "ok"}


async def test_health_is_503_when_the_database_is_unreachable(
    settings: Settings, unreachable_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    app = create_app(settings, uow_factory=unreachable_factory, clock=clock)
    async with running_api(app) as api:
        response = await api.client.get("/health")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "database": "unreachable", "secret_key": "unknown"}

        # Anything else that needs the database fails as JSON too, without internals.
        failed = await api.client.get("/api/v1/noop", headers=bearer("lk_whatever"))
        assert failed.status_code == 500
        assert failed.json() == {"detail": "internal server error", "code": "internal_error"}
        assert "sqlite" not in failed.text.lower()


async def test_unknown_paths_and_methods_answer_json(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    # Under /api/v1, only a caller with a key learns which paths exist.
    assert (await api.client.get("/api/v1/nothing-here")).status_code == 401
    missing = await api.client.get("/api/v1/nothing-here", headers=bearer(await new_api_key(uow_factory, clock)))
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong_method = await api.client.delete("/health")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/json"


async def test_the_docs_work_offline_from_the_api_s_own_assets(api: RunningApi) -> None:
    """No CDN: every script and stylesheet the docs pages load is served by this API."""
    for page in ("/docs", "/redoc"):
        html = (await api.client.get(page)).text
        assets = re.findall(r'(?:src|href)=["\']([^"\']+\.(?:js|css))["\']', html)
        assert assets, page
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
            fetched = await api.client.get(asset)
            assert fetched.status_code == 200 and len(fetched.content) > 10_000, asset


async def test_openapi_lists_the_routes_and_the_bearer_scheme(
    api: RunningApi, settings: Settings
) -> None:
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == f"{settings.program_name} merchant API"
    assert document["info"]["description"]
    assert document["info"]["version"]

    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert {
        ("GET", "/health"),
        ("GET", "/api/v1/members"),
        ("POST", "/api/v1/members"),
        ("GET", "/api/v1/members/{member_number}"),
        ("POST", "/api/v1/purchases"),
        ("POST", "/api/v1/refunds"),
        ("GET", "/api/v1/members/{member_number}/points"),
        ("GET", "/api/v1/tiers"),
        ("GET", "/api/v1/rewards"),
    } <= set(operations)
    assert ("GET", "/api/v1/noop") not in operations, "the benchmarks' baseline is not the merchant's API"
    for (method, path), operation in operations.items():
        if path.startswith("/api/v1"):
            assert operation.get("security") == [{"ApiKey": []}], (method, path)
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "ApiKey": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "lk_...",
            "description": schemes["ApiKey"]["description"],
        }
    }
    for (method, path), operation in operations.items():
        if path.startswith("/api/v1"):
            assert operation["security"] == [{"ApiKey": []}], (method, path)
            assert "401" in operation["responses"], (method, path)
        else:
            assert "security" not in operation, (method, path)

    lookup = operations[("GET", "/api/v1/members")]
    assert "no rows" in lookup["description"]  # the filtered lookup's answer is documented
    assert "409" in operations[("POST", "/api/v1/members")]["responses"]
    assert "404" in operations[("GET", "/api/v1/members/{member_number}")]["responses"]
    member_fields = document["components"]["schemas"]["MemberPublic"]["properties"]
    assert "phone_masked" in member_fields and "phone" not in member_fields
    assert "birthday" not in member_fields and "has_birthday" in member_fields


async def test_without_a_factory_the_lifespan_opens_and_closes_its_own_database(
    settings: Settings, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    key = await new_api_key(uow_factory, clock, "till-1")  # same database, written by the fixture
    app = create_app(settings, clock=clock)
    assert not hasattr(app.state, "uow_factory")
    async with running_api(app) as api:
        assert isinstance(app.state.uow_factory, UnitOfWorkFactory)
        health = await api.client.get("/health")
        assert health.json() == {"status": "ok", "database": "ok", "secret_key": "ok"}
        noop = await api.client.get("/api/v1/noop", headers=bearer(key))
        assert noop.status_code == 200
        members = await api.client.get("/api/v1/members", headers=bearer(key))
        assert members.json()["count"] == 0
    assert not hasattr(app.state, "uow_factory")  # shut down: the engine is gone with it


async def test_without_a_secret_key_the_lifespan_refuses_to_start(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"secret_key": None}))
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover
    assert not hasattr(app.state, "uow_factory")
