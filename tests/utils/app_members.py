"""Members calling the Mini App's member screens over real HTTP: their `Authorization: tma …`
header, signed with a test bot's token as Telegram would sign it."""

from __future__ import annotations

from pydantic import SecretStr

from loyalty.clock import Clock
from loyalty.config import Settings
from tests.utils.webapp import sign_init_data, telegram_user, tma

BOT_TOKEN = "123456789:AAH-member-screens-test-token-000000"


def with_bot_token(settings: Settings) -> Settings:
    return settings.model_copy(update={"bot_token": SecretStr(BOT_TOKEN)})


def app_auth(clock: Clock, telegram_id: int, *, language_code: str = "en") -> dict[str, str]:
    return tma(sign_init_data(BOT_TOKEN, telegram_user(telegram_id, language_code=language_code), clock.now()))
