"""The console's settings: CONSOLE_URL defaults to the API's own address and must be an http(s)
address; the lifetimes have sane bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from loyalty.config import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_console_url_defaults_to_the_apis_own_address() -> None:
    assert settings().console_url == "http://127.0.0.1:8080/console"
    assert settings(api_host="0.0.0.0", api_port=9000).console_url == "http://0.0.0.0:9000/console"
    assert settings(console_url=" https://loyalty.example.org/console/ ").console_url == "https://loyalty.example.org/console"


@pytest.mark.parametrize("url", ["ftp://x.example.org/console", "loyalty.example.org", "https://", "https://a b/console"])
def test_a_console_url_that_is_no_web_address_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="console_url"):
        settings(console_url=url)


@pytest.mark.parametrize(
    "values", [{"console_link_minutes": 0}, {"console_idle_minutes": 0}, {"console_session_hours": 0}, {"console_link_minutes": 61}]
)
def test_lifetimes_out_of_bounds_are_refused(values: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        settings(**values)
