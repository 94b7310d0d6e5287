"""Signing in to the web console over real HTTP: one-time links, sessions and their expiry,
roles read afresh on every request, CSRF on every form, the cookie's flags, sign-out, and the
`loyalty console link` command."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from api.main import create_app
from db.models import AuditEvent, ConsoleLink, ConsoleSession
from db.uow import UnitOfWorkFactory
from entrypoints.cli.main import app as cli_app
from loyalty import console_access, staff
from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.conftest import TEST_SECRET
from tests.utils.api import RunningApi, running_api
from tests.utils.console import COOKIE, add_staff, csrf_of, new_link, session_count, sign_in

OWNER, MARKETER, STRANGER = 7001, 7002, 7003


@pytest.fixture(autouse=True)
async def staff_members(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> None:
    await add_staff(uow_factory, clock, OWNER, "owner", "Olive")
    await add_staff(uow_factory, clock, MARKETER, "marketer", "Mark")


async def actions(uow_factory: UnitOfWorkFactory) -> list[str]:
    async with uow_factory() as uow:
        return list(await uow.session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.startswith("console.")).order_by(AuditEvent.id)
        ))


async def test_a_link_signs_in_once_and_only_its_hash_is_stored(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    link = await new_link(uow_factory, clock, settings, OWNER)
    token = link.split("token=")[1]
    async with uow_factory() as uow:
        [stored] = await uow.session.scalars(select(ConsoleLink))
    assert stored.token_hash == console_access.token_hash(token) and token not in stored.token_hash
    assert stored.expires_at == clock.now() + timedelta(minutes=settings.console_link_minutes)

    opened = await api.client.get(link)
    assert opened.status_code == 303 and opened.headers["location"] == "/console/"
    assert COOKIE in opened.cookies
    campaigns = await api.client.get("/console/campaigns")
    assert campaigns.status_code == 200 and 'id="staff-name"' in campaigns.text and "Olive" in campaigns.text

    async with httpx.AsyncClient(base_url=str(api.client.base_url)) as other:
        again = await other.get(link)
    assert again.status_code == 410 and "already used" in again.text and "/console" in again.text
    assert COOKIE not in again.cookies
    assert await session_count(uow_factory) == 1
    async with uow_factory() as uow:
        [row] = await uow.session.scalars(select(ConsoleSession))
    assert row.id_hash == console_access.token_hash(opened.cookies[COOKIE])
    assert await actions(uow_factory) == ["console.link", "console.sign_in", "console.sign_in_refused"]


async def test_of_two_redemptions_at_once_exactly_one_signs_in(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    link = await new_link(uow_factory, clock, settings, OWNER)
    base = str(api.client.base_url)
    async with httpx.AsyncClient(base_url=base) as first, httpx.AsyncClient(base_url=base) as second:
        answers = await asyncio.gather(first.get(link), second.get(link))
    assert sorted(answer.status_code for answer in answers) == [303, 410]
    assert sum(COOKIE in answer.cookies for answer in answers) == 1
    assert await session_count(uow_factory) == 1


async def test_of_two_redemptions_racing_in_the_rules_one_wins(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    link = await new_link(uow_factory, clock, settings, MARKETER)
    token = link.split("token=")[1]

    async def redeem() -> str:
        async with uow_factory() as uow:
            try:
                await console_access.redeem_link(uow, clock, settings, token)
            except console_access.LinkRefused as refused:
                return str(refused.reason)
            return "signed in"

    outcomes = await asyncio.gather(*(redeem() for _ in range(4)))
    assert sorted(outcomes) == ["signed in", "used", "used", "used"]
    assert await session_count(uow_factory) == 1


async def test_an_expired_link_is_refused_and_one_just_in_time_works(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    lifetime = timedelta(minutes=settings.console_link_minutes)
    late = await new_link(uow_factory, clock, settings, OWNER)
    in_time = await new_link(uow_factory, clock, settings, OWNER)
    clock.advance(lifetime - timedelta(seconds=1))
    assert (await api.client.get(in_time)).status_code == 303
    clock.advance(timedelta(seconds=1))
    refused = await api.client.get(late)
    assert refused.status_code == 410 and "expired" in refused.text
    assert "Send /console to the bot again" in refused.text
    assert await session_count(uow_factory) == 1


@pytest.mark.parametrize("token", ["", "nope", "a" * 43, "x" * 500, "bad token!", None])
async def test_an_unknown_or_malformed_token_is_a_403_page(api: RunningApi, token: str | None) -> None:
    refused = await api.client.get("/console/login", params={} if token is None else {"token": token})
    assert refused.status_code == 403 and "does not work" in refused.text and "/console" in refused.text
    assert COOKIE not in refused.cookies


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.text(max_size=80))
async def test_no_string_but_an_issued_token_opens_a_session(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, token: str
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(console_access.LinkRefused) as refused:
            await console_access.redeem_link(uow, clock, settings, token)
    assert refused.value.reason == "unknown"
    assert await session_count(uow_factory) == 0


async def test_a_link_for_someone_not_staff_is_never_made(
    uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(console_access.StaffOnly):
            await console_access.create_link(uow, clock, settings, STRANGER)
    async with uow_factory() as uow:
        assert list(await uow.session.scalars(select(ConsoleLink))) == []


async def test_a_session_ends_after_the_idle_time_without_requests(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    signed_in_at = clock.now()
    clock.advance(console_access.TOUCH_EVERY / 2)
    assert (await api.client.get("/console/campaigns")).status_code == 200
    async with uow_factory() as uow:
        [row] = await uow.session.scalars(select(ConsoleSession))
    assert row.last_seen_at == signed_in_at, "a page view within a minute of the last writes nothing"
    idle = timedelta(minutes=settings.console_idle_minutes)
    clock.set(signed_in_at + idle - timedelta(seconds=1))
    assert (await api.client.get("/console/campaigns")).status_code == 200
    for _ in range(3):  # each request restarts the idle time
        clock.advance(idle - timedelta(seconds=1))
        assert (await api.client.get("/console/campaigns")).status_code == 200
    clock.advance(idle)
    out = await api.client.get("/console/campaigns")
    assert out.status_code == 303 and out.headers["location"] == "/console/signin"
    assert await session_count(uow_factory) == 0


async def test_a_session_ends_at_its_absolute_expiry_however_active(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    lifetime = timedelta(hours=settings.console_session_hours)
    step = timedelta(minutes=settings.console_idle_minutes - 1)
    elapsed = timedelta(0)
    while elapsed + step < lifetime:
        clock.advance(step)
        elapsed += step
        assert (await api.client.get("/console/campaigns")).status_code == 200
    clock.advance(lifetime - elapsed)
    out = await api.client.get("/console/campaigns")
    assert out.status_code == 303 and out.headers["location"] == "/console/signin"


async def test_removing_a_staff_member_ends_their_sessions_at_once(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    unused = await new_link(uow_factory, clock, settings, MARKETER)
    assert (await api.client.get("/console/campaigns")).status_code == 200
    async with uow_factory() as uow:
        await staff.remove(uow, clock, MARKETER)
    assert await session_count(uow_factory) == 0
    out = await api.client.get("/console/campaigns")
    assert out.status_code == 303 and out.headers["location"] == "/console/signin"
    assert (await api.client.get(unused)).status_code == 403, "their unused links went with them"


async def test_a_marketer_gets_a_403_page_on_owner_pages_and_a_demoted_owner_at_once(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    opened = await sign_in(api.client, uow_factory, clock, settings, MARKETER)
    assert opened.headers["location"] == "/console/campaigns"
    refused = await api.client.get("/console/")
    assert refused.status_code == 403 and "Only an owner" in refused.text
    assert 'data-nav="dashboard"' not in refused.text
    assert (await api.client.get("/console/campaigns")).status_code == 200

    base = str(api.client.base_url)
    async with httpx.AsyncClient(base_url=base, timeout=60) as owner:
        await sign_in(owner, uow_factory, clock, settings, OWNER)
        assert (await owner.get("/console/")).status_code == 200
        async with uow_factory() as uow:
            await staff.add(uow, clock, telegram_id=STRANGER, role="owner", name="Next owner")  # the last owner stays
            await staff.add(uow, clock, telegram_id=OWNER, role="marketer", name=None)
        assert (await owner.get("/console/")).status_code == 403


async def test_pages_without_a_session_redirect_to_how_to_sign_in(api: RunningApi) -> None:
    for path in ("/console/", "/console/campaigns", "/console/campaigns/1"):
        out = await api.client.get(path)
        assert out.status_code == 303 and out.headers["location"] == "/console/signin", path
    htmx = await api.client.get("/console/campaigns", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/console/signin"
    page = await api.client.get("/console/signin")
    assert page.status_code == 200 and "Send /console to the program" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    chinese = await api.client.get("/console/signin", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "登录控制台" in chinese.text


@pytest.mark.parametrize(
    ("path", "form"), [("/console/logout", {}), ("/console/language", {"locale": "zh_CN", "next": "/console/campaigns"})]
)
async def test_a_form_without_the_sessions_csrf_token_is_a_403_and_changes_nothing(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings, path: str, form: dict[str, str]
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, OWNER)
    page = await api.client.get("/console/campaigns")
    token = csrf_of(page)
    for sent, headers in (
        ({}, {}),
        ({"csrf_token": "x" + token[1:]}, {}),
        ({"csrf_token": ""}, {}),
        ({}, {"X-CSRF-Token": token[:-1]}),
    ):
        refused = await api.client.post(path, data={**form, **sent}, headers=headers)
        assert refused.status_code == 403 and "was not accepted" in refused.text
    assert await session_count(uow_factory) == 1
    after = await api.client.get("/console/campaigns")
    assert after.status_code == 200 and 'lang="en"' in after.text
    # The same form with the token goes through (htmx sends it as a header).
    done = await api.client.post(path, data=form, headers={"X-CSRF-Token": token})
    assert done.status_code == 303


async def test_the_cookie_is_httponly_lax_on_console_paths_and_secure_only_in_production(
    settings: Settings, uow_factory: UnitOfWorkFactory, clock: FixedClock
) -> None:
    for environment, secure in (("test", False), ("production", True)):
        served = settings.model_copy(update={"environment": environment})
        async with running_api(create_app(served, uow_factory=uow_factory, clock=clock)) as api:
            opened = await api.client.get(await new_link(uow_factory, clock, served, OWNER))
        cookie = opened.headers["set-cookie"]
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "path", "samesite", "max-age"} <= attributes
        assert "Path=/console" in cookie and "SameSite=lax" in cookie
        assert ("secure" in attributes) is secure, (environment, cookie)


async def test_signing_out_ends_the_session_and_its_cookie(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    opened = await sign_in(api.client, uow_factory, clock, settings, OWNER)
    cookie = opened.cookies[COOKIE]
    token = csrf_of(await api.client.get("/console/campaigns"))
    out = await api.client.post("/console/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/console/signin"
    assert 'loyalty_console=""' in out.headers["set-cookie"] and "Path=/console" in out.headers["set-cookie"]
    assert await session_count(uow_factory) == 0
    async with httpx.AsyncClient(base_url=str(api.client.base_url), cookies={COOKIE: cookie}) as replay:
        assert (await replay.get("/console/campaigns")).status_code == 303, "the old cookie opens nothing"
    assert await actions(uow_factory) == ["console.link", "console.sign_in", "console.sign_out"]


async def test_pages_speak_the_language_of_the_link_and_of_the_switch(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    await sign_in(api.client, uow_factory, clock, settings, MARKETER, locale="zh_CN")
    page = await api.client.get("/console/campaigns")
    assert 'lang="zh-CN"' in page.text and "营销活动" in page.text and "退出登录" in page.text
    switched = await api.client.post(
        "/console/language", data={"locale": "en", "next": "/console/campaigns", "csrf_token": csrf_of(page)}
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/console/campaigns"
    english = await api.client.get("/console/campaigns")
    assert "Sign out" in english.text and "退出登录" not in english.text
    away = await api.client.post(
        "/console/language", data={"locale": "zh_CN", "next": "https://evil.example/", "csrf_token": csrf_of(english)}
    )
    assert away.headers["location"] == "/console/", "never redirected off the console"
    unknown = await api.client.post(
        "/console/language", data={"locale": "fr", "next": "/console/campaigns", "csrf_token": csrf_of(english)}
    )
    assert unknown.status_code == 422 and "不支持该语言" in unknown.text, "said in the session's language"
    assert "营销活动" in (await api.client.get("/console/campaigns")).text, "an unknown language changes nothing"


async def test_the_console_is_not_in_the_openapi_document(api: RunningApi) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith("/console")]


def _cli(database_url: str, *args: str) -> object:
    env = {
        "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING",
        "CONSOLE_URL": "https://loyalty.example.org/console/", "COLUMNS": "200",
    }
    return CliRunner().invoke(cli_app, ["console", "link", *args], env=env)


async def test_the_cli_prints_a_working_link_for_staff_and_refuses_anyone_else(
    api: RunningApi, settings: Settings, uow_factory: UnitOfWorkFactory, tmp_path: os.PathLike[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # never read a developer's .env
    printed = await asyncio.to_thread(_cli, settings.database_url, str(OWNER))
    assert printed.exit_code == 0, printed.output  # type: ignore[attr-defined]
    url = printed.output.strip()  # type: ignore[attr-defined]
    assert url.startswith("https://loyalty.example.org/console/login?token=")
    assert (await api.client.get(f"/console/login?{urlsplit(url).query}")).status_code == 303

    refused = await asyncio.to_thread(_cli, settings.database_url, str(STRANGER))
    assert refused.exit_code == 1  # type: ignore[attr-defined]
    lines = refused.output.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and f"{STRANGER} is not staff" in lines[0]
    async with uow_factory() as uow:
        actors = list(await uow.session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "console.link")))
    assert actors == ["cli"]


async def test_expired_links_and_ended_sessions_are_deleted_by_the_sweep(
    api: RunningApi, uow_factory: UnitOfWorkFactory, clock: FixedClock, settings: Settings
) -> None:
    link_life = timedelta(minutes=settings.console_link_minutes)
    idle = timedelta(minutes=settings.console_idle_minutes)
    started = clock.now()
    await sign_in(api.client, uow_factory, clock, settings, OWNER)  # then idle from now on
    await new_link(uow_factory, clock, settings, MARKETER)  # never used
    clock.advance(link_life - timedelta(seconds=1))
    async with uow_factory() as uow:
        assert await console_access.delete_ended(uow, clock, settings) == (0, 0)
    clock.set(started + link_life)
    async with uow_factory() as uow:
        assert await console_access.delete_ended(uow, clock, settings) == (2, 0), "the used link and the unused one"
    async with httpx.AsyncClient(base_url=str(api.client.base_url)) as other:
        await sign_in(other, uow_factory, clock, settings, MARKETER)
    clock.set(started + idle)
    async with uow_factory() as uow:
        assert await console_access.delete_ended(uow, clock, settings) == (1, 1), "the owner's idle session"
    assert await session_count(uow_factory) == 1
    async with uow_factory() as uow:
        assert list(await uow.session.scalars(select(ConsoleLink))) == []
