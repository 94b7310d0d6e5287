"""The OpenAPI document is the API's contract: Schemathesis sends every operation requests made
from it, valid ones and ones that break it, and every answer must be documented (status code,
content type, headers, body schema) and none may be a server error. Against the ASGI app in
process, on the database of the run (SQLite, or PostgreSQL with TEST_DATABASE_URL).

Deterministic (derandomized, no example database) and bounded: MAX_EXAMPLES per operation
(CONTRACT_EXAMPLES=200 in the environment for a deeper run). Each request carries a key that
may call every operation (`admin_key`); a test of scopes or rate limits adds its keys, and any
answer it documents, here: CHECKS say what every answer must hold."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from db.models import Coupon
from db.uow import UnitOfWorkFactory
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.conftest import START
from tests.utils.api import bearer, new_api_key
from tests.utils.campaigns import add_member
from tests.utils.coupons import add_store, make_template
from tests.utils.members import TEST_SETTINGS

EXAMPLE_MEMBER = "4260185626"
EXAMPLE_COUPON = "CP-7KQ4-M9XD-2HPA"
MAX_EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
async def admin_key(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> str:
    """A key for every operation, and what the document's examples name (member 4260185626,
    store S001, coupon template WELCOME10 and a coupon of it, CP-7KQ4-M9XD-2HPA), so those
    requests and their variations reach the rules instead of a 404."""
    await add_store(uow_factory, clock, "S001", city="Shanghai")
    template = await make_template(uow_factory, clock, code="WELCOME10", kind="percent_off", value=10)
    member_id = await add_member(uow_factory, clock, member_number=EXAMPLE_MEMBER)
    async with uow_factory() as uow:
        uow.session.add(Coupon(
            template_id=template.id, member_id=member_id, code=EXAMPLE_COUPON, status="issued", source="api",
            issued_at=clock.now(), valid_from=clock.now().date(), valid_until=clock.now().date() + timedelta(days=30),
        ))
        await uow.commit()
    return await new_api_key(uow_factory, clock, "contract")


@pytest.fixture
def app(settings: Settings, admin_key: str) -> Iterator[FastAPI]:
    # The app opens its own engine in its lifespan: Schemathesis runs it in an event loop of
    # its own, where the test's connections cannot go.
    yield create_app(settings, clock=FixedClock(START))
    asgi.shutdown_lifespans()  # closes that engine


# The document every app serves (it does not depend on the settings' database or keys).
schema = schemathesis.openapi.from_dict(create_app(TEST_SETTINGS).openapi())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES, deterministic=True
)


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented_and_never_with_a_server_error(
    case: schemathesis.Case, app: FastAPI, admin_key: str
) -> None:
    case.call_and_validate(app=app, headers=bearer(admin_key), checks=CHECKS)


# Operations whose path names something that may not exist, yet answer no 404: PUT creates it.
NO_404 = {("put", "/api/v1/tiers/{code}")}


def test_every_operation_naming_a_resource_documents_its_404() -> None:
    """What random requests rarely reach (a well-formed member number nobody has) is checked
    on the document itself."""
    document = create_app(TEST_SETTINGS).openapi()
    missing = [
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if any(parameter["in"] == "path" for parameter in operation.get("parameters", []))
        and "404" not in operation["responses"]
        and (method, path) not in NO_404
    ]
    assert missing == []
