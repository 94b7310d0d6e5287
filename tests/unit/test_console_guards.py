"""Pure guards of the console: the CSRF comparison and where a form may send the browser back."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from api.console.pages import _same_site
from loyalty.console_access import ConsoleUser, csrf_matches, looks_like_token

USER = ConsoleUser(
    staff_id=1, telegram_id=7, name="Olive", role="owner", locale="en", csrf_secret="s3cret-Token_value",
    session_hash="0" * 64, expires_at=datetime(2026, 11, 25, tzinfo=timezone.utc),
)


@given(st.one_of(st.none(), st.text(max_size=40)))
def test_only_the_sessions_own_token_passes(presented: str | None) -> None:
    assert csrf_matches(USER, presented) is (presented == USER.csrf_secret)


@given(st.text(max_size=80))
@example("/console/../api/v1/members")
@example("/console\\@evil.example")
@example("//evil.example/console")
@example("https://evil.example/console")
@example("/console/campaigns?x=1#/..")
def test_a_form_never_sends_the_browser_off_the_console(target: str) -> None:
    landed = urlsplit(urljoin("https://loyalty.example.org/console/campaigns", _same_site(target)))
    assert landed.netloc == "loyalty.example.org" and landed.path.startswith("/console")


@given(st.text(max_size=80))
def test_a_token_has_the_shape_of_token_urlsafe(text: str) -> None:
    if looks_like_token(text):
        assert 0 < len(text) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in text)


@pytest.mark.parametrize("target", ["/console/", "/console/campaigns", "/console/?days=7&store=K-A", "/console/?store=Nanjing+Road%201", "/console/evaluation?start=2026-11-01&end=2026-11-07"])
def test_a_console_page_is_kept(target: str) -> None:
    assert _same_site(target) == target
