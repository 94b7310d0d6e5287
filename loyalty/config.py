"""Settings from the environment (and `.env`), one class for the whole program."""

from __future__ import annotations

import logging
import math
import re
from datetime import time
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from zxcvbn import zxcvbn

TELEGRAM_API_URL = "https://api.telegram.org"
PLACEHOLDER_SECRETS = {"changethis", "change-me", "secret", ""}
# What DATABASE_URL may start with, and what to write instead of the schemes people reach for
# first (the synchronous drivers' names, which the program cannot use).
DATABASE_URL_EXAMPLES = "sqlite+aiosqlite:///./loyalty.sqlite3 or postgresql+asyncpg://USER:PASSWORD@HOST:5432/NAME"
ASYNC_SCHEMES = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql"}
SYNC_SCHEMES = {
    "sqlite": "sqlite+aiosqlite", "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg", "postgresql+psycopg": "postgresql+asyncpg",
}
# Hosts of example addresses (RFC 2606 and .env.example): fine on a laptop, never in front of members.
PLACEHOLDER_HOSTS = ("example.com", "example.org", "example.net")
BOT_TOKEN_SHAPE = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
# A key must take at least 2**80 guesses as zxcvbn estimates them: its pattern matching sees
# through repeats, sequences, keyboard walks and dictionary words (those score under 60 bits).
# It credits random text with about 3.3 bits a character but finds short "sequences" in some
# random keys too: over thousands of random 32-character hex keys the lowest score was 92 bits,
# so the bar sits well under that, or it would refuse one random key in twenty.
SECRET_KEY_MIN_BITS = 80
SECRET_KEY_MIN_LENGTH = 32
# zxcvbn's time grows with the length (0.1 s at 128 characters); the first characters suffice.
ESTIMATED_PREFIX = 128
SUPPORTED_LOCALES = ("en", "zh_CN")

log = logging.getLogger(__name__)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./loyalty.sqlite3"
    redis_url: str | None = None

    bot_token: SecretStr | None = None
    bot_api_url: str = TELEGRAM_API_URL

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    # The largest request body the API reads, in bytes: a text/csv body (a store import; 8 MiB
    # is some 40,000 stores) and any other (JSON; the largest, a campaign, is a few kilobytes).
    # A larger one is a 413 before it is read.
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_csv_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    log_level: str = "INFO"

    secret_key: SecretStr | None = None
    # Keys the data may still be encrypted with while `loyalty secret rotate` moves it to
    # SECRET_KEY: read with, never written with. Comma-separated.
    old_secret_keys: SecretStr | None = None

    program_name: str = "Loyalty Club"
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    timezone: str = "Asia/Shanghai"
    default_locale: Literal["en", "zh_CN"] = "en"
    phone_region: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    privacy_url: str = "https://example.com/privacy"
    privacy_version: str = Field(default="2026-11", min_length=1, max_length=32)

    # Points earned in a month expire at the end of the month this many months later.
    points_expiry_months: int = Field(default=12, ge=1, le=120)
    # How late a till may post a purchase (its `purchased_at`): a till that was offline uploads
    # its sales when it is back, and a shop closed over a holiday week (Golden Week, New Year)
    # posts up to a week late. Older sales take a manual adjustment; without a bound, a purchase
    # dated into a birthday month or an old promotion earns its multiplier. Ahead of the
    # server's clock, only 5 minutes of drift are accepted.
    purchase_backdate_days: int = Field(default=7, ge=0, le=90)
    # Tiers are earned on spend and visits over this rolling window...
    tier_window_months: int = Field(default=12, ge=1, le=60)
    # ...and a member who no longer qualifies keeps the tier this long before stepping down one.
    tier_grace_days: int = Field(default=30, ge=0, le=365)

    # "Offers near me" lists the open stores within this many metres of a shared location.
    nearby_radius_m: int = Field(default=3000, ge=100, le=100_000)
    # A member sharing a live location who comes this close to a store where one of their
    # coupons is valid gets one push: once per store per day, at most `geofence_daily_cap` a
    # day in all, and never in quiet hours (the member's local time, start included, end not).
    geofence_radius_m: int = Field(default=150, ge=20, le=5_000)
    geofence_daily_cap: int = Field(default=2, ge=0, le=20)
    quiet_hours_start: time = time(22, 0)
    quiet_hours_end: time = time(8, 0)

    # Nudges (loyalty/nudges): warnings this many days before points expire (largest first), and
    # before a coupon's last day; a member with no purchase for `win_back_days` is asked back.
    # At most `nudges_per_week` nudges reach a member in any 7 days, whatever their kinds.
    expiry_warning_days: list[int] = Field(default=[30, 7], min_length=1, max_length=5)
    coupon_warning_days: int = Field(default=3, ge=1, le=60)
    win_back_days: int = Field(default=60, ge=7, le=730)
    nudges_per_week: int = Field(default=3, ge=1, le=50)
    nudge_sweep_minutes: int = Field(default=15, ge=1, le=1440)

    # Campaigns (loyalty/campaigns): broadcasts and nudges together go out at most
    # `broadcast_rate` messages a second in all (Telegram's free limit is 30; paid broadcasts
    # allow up to 1,000) and one a second into any chat. A share of each audience
    # (`campaign_holdout_pct` %, chosen at random but reproducibly) gets nothing, to measure
    # what the campaign changed over `campaign_attribution_days` after it starts. A row a sender claimed and did not finish
    # within `broadcast_lease_seconds` (the sender died) is sent again.
    broadcast_rate: float = Field(default=30.0, gt=0, le=1000)
    broadcast_per_chat_rate: float = Field(default=1.0, gt=0, le=30)
    broadcast_lease_seconds: int = Field(default=60, ge=1, le=3600)
    campaign_holdout_pct: int = Field(default=10, ge=0, le=50)
    campaign_attribution_days: int = Field(default=7, ge=1, le=90)

    # The API's guards (api/ratelimit.py), in the notation of the `limits` library ("1200/minute",
    # "20/second", "1000/hour"), each over a moving window: requests per API key; failed
    # authentications per client address, and per presented key (a revoked or expired key retried
    # in a loop); beyond them a 429 with Retry-After. The counts live in memory, or in Redis
    # when REDIS_URL is set, so several API processes share them.
    api_rate_limit: str = "1200/minute"
    auth_failure_limit: str = "20/minute"
    auth_failure_limit_per_key: str = "5/minute"
    # Hand adjustments of points through the API: at most this many points (gains and losses
    # added up as absolute values) per API key per day in TIMEZONE.
    adjustment_daily_cap: int = Field(default=50_000, ge=0, le=10**12)
    # What a point costs the merchant, in minor units of CURRENCY (0.5: two points cost a fen):
    # the dashboard's points liability is the outstanding points times this.
    point_cost_minor: Decimal = Field(default=Decimal(1), ge=0, le=10**6, max_digits=12)

    # The web console (/console): a staff member signs in with a one-time link from the bot (or
    # `loyalty console link`), valid `console_link_minutes`. A session ends after
    # `console_idle_minutes` without a request, and `console_session_hours` after sign-in
    # whatever happens. CONSOLE_URL is the console's public address, which the links point to;
    # unset, the API's own address (http://API_HOST:API_PORT/console), which works on this machine.
    console_link_minutes: int = Field(default=10, ge=1, le=60)
    console_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    console_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    console_url: str = ""
    # Feedback (loyalty/feedback.py): a purchase at a store asks "how likely are you to recommend
    # us?" this long after it (then held by quiet hours and the weekly cap like any nudge), at most
    # once per member per `feedback_min_days`; `feedback_points` for answering (0: none).
    feedback_delay_minutes: int = Field(default=180, ge=0, le=7 * 24 * 60)
    feedback_min_days: int = Field(default=30, ge=1, le=365)
    feedback_points: int = Field(default=0, ge=0, le=10_000)

    # The Mini App at /app/ (api/webapp): WEBAPP_URL is its public HTTPS address, which the
    # chat's menu button and /card's button open (unset: no button; Telegram opens only https).
    # Init data older than `webapp_init_data_max_age` seconds is refused: Telegram signs it once,
    # when the app opens, and a copy must not stay good for ever. The card's QR is a token that
    # lives `card_token_seconds` (the page draws a new one every minute).
    webapp_url: str = ""
    webapp_init_data_max_age: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    card_token_seconds: int = Field(default=90, ge=30, le=3600)

    @field_validator("api_rate_limit", "auth_failure_limit", "auth_failure_limit_per_key")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '1200/minute': {value!r}") from exc
        return value

    @field_validator("console_url")
    @classmethod
    def _console_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"not an address like https://loyalty.example.com/console: {value!r}")
        return value

    @field_validator("webapp_url")
    @classmethod
    def _webapp_url(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"https://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"not an https:// address like https://loyalty.example.com/app/: {value!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_database_url(cls, value: str) -> str:
        # Never quote the value back: it may hold the database's password.
        scheme, separator, rest = value.strip().partition("://")
        scheme = scheme.lower()
        if scheme in SYNC_SCHEMES:
            raise ValueError(
                f"{scheme}:// has no async driver: write {SYNC_SCHEMES[scheme]}:// instead (the rest stays as it is)"
            )
        if not separator or not rest or scheme not in ASYNC_SCHEMES:
            raise ValueError(f"not a database URL the program can use: write {DATABASE_URL_EXAMPLES}")
        return value.strip()

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        token = value.get_secret_value().strip() if value is not None else ""
        if token and not BOT_TOKEN_SHAPE.fullmatch(token):
            raise ValueError(
                "not a bot token (digits, a colon, then letters, digits, - and _): "
                "copy it again from @BotFather, whole"
            )
        return SecretStr(token) if value is not None else None

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("expiry_warning_days")
    @classmethod
    def _distinct_leads(cls, value: list[int]) -> list[int]:
        if any(not 1 <= days <= 365 for days in value) or len(set(value)) != len(value):
            raise ValueError("expiry warnings are distinct numbers of days from 1 to 365")
        return sorted(value, reverse=True)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        # Every amount the program keeps is Money in this currency (loyalty/money.py).
        from loyalty.money import is_currency_code

        if not is_currency_code(value):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _console_url_default(self) -> Settings:
        if not self.console_url:
            self.console_url = f"http://{self.api_host}:{self.api_port}/console"
        return self

    @model_validator(mode="after")
    def _enforce_real_secrets(self) -> Settings:
        # A production deployment must never run with a missing, placeholder or guessable key:
        # it encrypts members' phone numbers, so a guessable key is a data leak. Elsewhere a
        # weak key is a warning, so tests and first runs need no ceremony.
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        weakness = secret_key_weakness(key)
        if weakness is not None and self.environment == "production":
            raise ValueError(
                f"SECRET_KEY {weakness}: production needs a random one (make one with `loyalty secret new`)"
            )
        if weakness is not None and key:
            log.warning("SECRET_KEY %s: fine for development, refused in production", weakness)
        listed = self.old_secret_keys.get_secret_value().strip() if self.old_secret_keys else ""
        if listed and not self.old_keys():
            raise ValueError("OLD_SECRET_KEYS lists no key: leave it unset, or list the old keys separated by commas")
        if self.environment == "production" and is_placeholder_url(self.privacy_url):
            what = "the example address" if "://" in self.privacy_url else "not an address (https://…)"
            raise ValueError(f"PRIVACY_URL is {what}: production needs the address of your own privacy terms")
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def bot_enabled(self) -> bool:
        return self.bot_token is not None and bool(self.bot_token.get_secret_value())

    def require_secret_key(self) -> str:
        if self.secret_key is None or not self.secret_key.get_secret_value():
            raise RuntimeError("SECRET_KEY is not set; run `loyalty secret new` to create one")
        return self.secret_key.get_secret_value()

    def old_keys(self) -> list[str]:
        """OLD_SECRET_KEYS as a list. Old keys are not checked for strength: moving away from a
        weak key must stay possible."""
        raw = self.old_secret_keys.get_secret_value() if self.old_secret_keys else ""
        return [key.strip() for key in raw.split(",") if key.strip()]


def secret_key_weakness(key: str) -> str | None:
    """Why `key` is too weak to protect members' data, or None."""
    if not key.strip():
        return "is not set"
    if key.strip().lower() in PLACEHOLDER_SECRETS:
        return "is a placeholder"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"is shorter than {SECRET_KEY_MIN_LENGTH} characters"
    if estimated_bits(key) < SECRET_KEY_MIN_BITS:
        return f"is too easy to guess (under {SECRET_KEY_MIN_BITS} bits: repeated, sequential or common text)"
    return None


def is_placeholder_url(url: str) -> bool:
    """Whether `url` is an example address (https://example.com/privacy), or no address at all."""
    from urllib.parse import urlsplit

    host = (urlsplit(url.strip()).hostname or "").lower()
    return not host or any(host == example or host.endswith("." + example) for example in PLACEHOLDER_HOSTS)


@lru_cache(maxsize=16)
def estimated_bits(key: str) -> float:
    """log2 of the number of guesses zxcvbn estimates `key` takes (its first characters)."""
    prefix = key[:ESTIMATED_PREFIX]
    return float(zxcvbn(prefix, max_length=ESTIMATED_PREFIX)["guesses_log10"]) * math.log2(10)


def environment_variable(field: str) -> str:
    """The environment variable that sets a Settings field."""
    return (str(Settings.model_config.get("env_prefix") or "") + field).upper()


_FIELD_IN_SETTINGS_ERROR = re.compile(r'field "([A-Za-z0-9_]+)"')


def explain(error: ValidationError | SettingsError) -> list[str]:
    """A configuration error as short lines an operator can act on: each names the environment
    variable and what is wrong with it, never the value it was given (it may be a secret)."""
    if isinstance(error, SettingsError):
        match = _FIELD_IN_SETTINGS_ERROR.search(str(error))
        name = environment_variable(match.group(1)) if match else "a setting"
        return [f"{name}: cannot be read (a list is written as JSON, e.g. [30, 7])"]
    lines = []
    for problem in error.errors(include_input=False, include_url=False, include_context=False):
        message = str(problem["msg"]).removeprefix("Value error, ")
        location = problem["loc"]
        lines.append(f"{environment_variable(str(location[0]))}: {message}" if location else message)
    return lines
