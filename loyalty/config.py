"""Settings from the environment (and `.env`), one class for the whole program."""

from __future__ import annotations

import logging
from datetime import time
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TELEGRAM_API_URL = "https://api.telegram.org"
PLACEHOLDER_SECRETS = {"changethis", "change-me", "secret", ""}
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
    log_level: str = "INFO"

    secret_key: SecretStr | None = None

    program_name: str = "Loyalty Club"
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    timezone: str = "Asia/Shanghai"
    default_locale: Literal["en", "zh_CN"] = "en"
    phone_region: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    privacy_url: str = "https://example.com/privacy"
    privacy_version: str = Field(default="2026-11", min_length=1, max_length=32)

    # Points earned in a month expire at the end of the month this many months later.
    points_expiry_months: int = Field(default=12, ge=1, le=120)
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

    @field_validator("api_rate_limit", "auth_failure_limit", "auth_failure_limit_per_key")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '1200/minute': {value!r}") from exc
        return value

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

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _enforce_real_secrets(self) -> Settings:
        # A production deployment must never run with a missing or placeholder key: it encrypts
        # members' phone numbers, so a guessable key is a data leak.
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        weak = key.strip().lower() in PLACEHOLDER_SECRETS or len(key) < 32
        if weak and self.environment == "production":
            raise ValueError(
                "SECRET_KEY must be set to a random value of at least 32 characters "
                "in production (generate one with `loyalty secret`)"
            )
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def bot_enabled(self) -> bool:
        return self.bot_token is not None and bool(self.bot_token.get_secret_value())

    def require_secret_key(self) -> str:
        if self.secret_key is None or not self.secret_key.get_secret_value():
            raise RuntimeError("SECRET_KEY is not set; run `loyalty secret` to create one")
        return self.secret_key.get_secret_value()
