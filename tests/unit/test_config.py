"""Settings errors as an operator reads them, and the SECRET_KEY strength check."""

from __future__ import annotations

import base64
import logging
import random
import secrets

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from loyalty.config import Settings, explain, secret_key_weakness

STRONG = secrets.token_urlsafe(48)
WEAK_BUT_LONG = ["a" * 32, "abc" * 11, "abcabc" * 20, "0123456789abcdef" * 2, "password" * 5, "x" * 200]


def urlsafe(random_bytes: bytes) -> str:
    """What `secrets.token_urlsafe` makes of these bytes."""
    return base64.urlsafe_b64encode(random_bytes).rstrip(b"=").decode()


def load(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def problems(**values: object) -> list[str]:
    with pytest.raises((ValidationError, SettingsError)) as caught:
        load(**values)
    return explain(caught.value)


@pytest.mark.parametrize("key", WEAK_BUT_LONG)
def test_production_refuses_long_but_guessable_keys(key: str) -> None:
    [line] = problems(environment="production", secret_key=key)
    assert line.startswith("SECRET_KEY ") and "loyalty secret new" in line
    assert key[:4] not in line.replace("SECRET_KEY", ""), "no part of the key is echoed"


def test_random_keys_of_32_characters_and_more_pass() -> None:
    """Random bytes as `loyalty secret new` and `secrets` encode them: a thousand keys from a
    seeded generator (so a failure is reproducible), none refused. Hypothesis's strategies
    favour zeros and repeats, which are weak keys indeed, so they are not used here."""
    rng = random.Random(20261206)
    shapes = [(bytes.hex, 16), (bytes.hex, 32), (urlsafe, 24), (urlsafe, 48)]  # 32 characters and up
    keys = [encode(rng.randbytes(size)) for encode, size in shapes for _ in range(250)]
    assert all(len(key) >= 32 for key in keys)
    assert [key for key in keys if secret_key_weakness(key) is not None] == []
    production = load(environment="production", secret_key=keys[0], privacy_url="https://shop.cn/privacy")
    assert production.require_secret_key() == keys[0]


def test_development_warns_about_a_weak_key_without_showing_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="loyalty.config"):
        settings = load(environment="development", secret_key="ab" * 20)
    assert settings.require_secret_key() == "ab" * 20
    [record] = caplog.records
    assert "SECRET_KEY is too easy to guess" in record.getMessage() and "abab" not in record.getMessage()


def test_errors_name_the_environment_variable_not_the_field() -> None:
    assert problems(timezone="Mars/Olympus_Mons") == ["TIMEZONE: unknown time zone 'Mars/Olympus_Mons'"]
    [port] = problems(api_port=70000)
    assert port.startswith("API_PORT: ") and "api_port" not in port
    lines = problems(currency="yuan", log_level="LOUD", environment="staging")
    assert sorted(line.split(":")[0] for line in lines) == ["CURRENCY", "ENVIRONMENT", "LOG_LEVEL"]
    assert not any("validation error" in line or "input_value" in line or "pydantic" in line for line in lines)


def test_a_secret_in_a_bad_setting_is_never_echoed() -> None:
    key = "s3cr3t-" + "q" * 40
    lines = problems(environment="production", secret_key=key, old_secret_keys=" , ")
    assert all(key[:7] not in line and "qqqq" not in line for line in lines)


def test_old_keys_are_a_comma_separated_list() -> None:
    settings = load(secret_key=STRONG, old_secret_keys=" old-one , old-two,,")
    assert settings.old_keys() == ["old-one", "old-two"]
    assert "old-one" not in repr(settings)
    assert problems(secret_key=STRONG, old_secret_keys=" , ") == [
        "OLD_SECRET_KEYS lists no key: leave it unset, or list the old keys separated by commas"
    ]


def test_a_list_setting_that_is_not_json_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPIRY_WARNING_DAYS", "30 and 7")
    assert problems() == ["EXPIRY_WARNING_DAYS: cannot be read (a list is written as JSON, e.g. [30, 7])"]


def test_a_database_url_needs_an_async_driver_and_is_never_echoed() -> None:
    assert problems(database_url="postgresql://loyalty:hunter2@db/loyalty") == [
        "DATABASE_URL: postgresql:// has no async driver: write postgresql+asyncpg:// instead (the rest stays as it is)"
    ]
    assert problems(database_url="sqlite:///./loyalty.sqlite3") == [
        "DATABASE_URL: sqlite:// has no async driver: write sqlite+aiosqlite:// instead (the rest stays as it is)"
    ]
    [line] = problems(database_url="mysql+aiomysql://loyalty:hunter2@db/loyalty")
    assert line.startswith("DATABASE_URL: not a database URL the program can use") and "hunter2" not in line
    assert load(database_url="postgresql+asyncpg://u:p@db/loyalty").database_url == "postgresql+asyncpg://u:p@db/loyalty"


def test_a_bot_token_has_the_shape_botfather_gives_it() -> None:
    [line] = problems(bot_token="AAH-secret-part-only")
    assert line.startswith("BOT_TOKEN: not a bot token") and "secret-part" not in line
    assert not load(bot_token="").bot_enabled
    assert load(bot_token=" 123456789:AAH-x_y ").bot_token.get_secret_value() == "123456789:AAH-x_y"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("https://example.com/privacy", "the example address"),
        ("https://www.example.org/terms", "the example address"),
        ("privacy", "not an address (https://…)"),
    ],
)
def test_production_refuses_an_example_privacy_address(url: str, what: str) -> None:
    assert problems(environment="production", secret_key=STRONG, privacy_url=url) == [
        f"PRIVACY_URL is {what}: production needs the address of your own privacy terms"
    ]
    assert load(environment="development", privacy_url=url).privacy_url == url


@pytest.mark.parametrize("url", ["http://loyalty.example.com/app/", "loyalty.example.com/app", "https://", "https://a b/"])
def test_webapp_url_is_an_https_address_or_unset(url: str) -> None:
    assert any("https://" in problem for problem in problems(webapp_url=url))


def test_webapp_url_unset_means_no_mini_app_button() -> None:
    assert load().webapp_url == ""
    assert load(webapp_url=" https://loyalty.example.com/app/ ").webapp_url == "https://loyalty.example.com/app/"
