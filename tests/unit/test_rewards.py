"""Rewards without a database: redemption codes, offers, button payloads and texts."""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import rewards_view as view
from bot.render import texts_for
from db.models import Reward, Tier
from loyalty import codes, rewards
from loyalty.config import SUPPORTED_LOCALES
from sandbox.formatting import parse_html
from tests.utils.rewards import TEMPLATE_SAMPLE

CODE_SHAPE = re.compile(r"^RW-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


# --- redemption codes ------------------------------------------------------------------------


def test_codes_are_grouped_crockford_base32_with_at_least_60_bits() -> None:
    assert len(set(codes.ALPHABET)) == len(codes.ALPHABET) == 32
    assert not set("ILOU") & set(codes.ALPHABET), "no look-alikes of 1, 0 or V"
    assert codes.BITS == codes.SYMBOLS * math.log2(len(codes.ALPHABET)) >= 60
    code = rewards.new_redemption_code()
    assert CODE_SHAPE.match(code), code
    assert len(code) <= 24, "fits reward_redemptions.code"


def test_codes_do_not_repeat_and_use_the_whole_alphabet() -> None:
    drawn = [rewards.new_redemption_code() for _ in range(5000)]
    assert len(set(drawn)) == len(drawn)
    symbols = Counter("".join(code[3:].replace("-", "") for code in drawn))
    assert set(symbols) == set(codes.ALPHABET)
    # 60,000 symbols over 32 values: each close to 1,875; a biased generator would stray far.
    assert all(1500 < count < 2250 for count in symbols.values()), symbols


@pytest.mark.parametrize(
    "typed",
    [
        "RW-7KQ4-M9XD-2HPA",
        "rw-7kq4-m9xd-2hpa",
        "RW7KQ4M9XD2HPA",
        "7KQ4M9XD2HPA",
        "7kq4-m9xd-2hpa",
        " RW 7KQ4 M9XD 2HPA ",
        "RW--7KQ4-M9XD-2HPA",
    ],
)
def test_a_code_is_found_however_it_is_typed(typed: str) -> None:
    assert rewards.normalize_redemption_code(typed) == "RW-7KQ4-M9XD-2HPA"


def test_look_alikes_read_as_crockford_says() -> None:
    assert rewards.normalize_redemption_code("RW-OO1I-L000-0000") == "RW-0011-1000-0000"


@pytest.mark.parametrize(
    "typed",
    ["", "RW", "RW-7KQ4-M9XD", "RW-7KQ4-M9XD-2HPA-1", "RW-7KQ4-M9XD-2HPU", "XX-7KQ4-M9XD-2HPA", "RW-7KQ4-M9XD-2HP!", "R" * 100],
)
def test_what_cannot_be_a_code_is_none(typed: str) -> None:
    assert rewards.normalize_redemption_code(typed) is None


@given(st.text(max_size=40))
def test_normalising_is_idempotent_and_total(typed: str) -> None:
    normal = rewards.normalize_redemption_code(typed)
    assert normal is None or (CODE_SHAPE.match(normal) and rewards.normalize_redemption_code(normal) == normal)


# --- offers ----------------------------------------------------------------------------------


def reward(**values: object) -> Reward:
    base: dict[str, object] = {
        "id": 7, "code": "LATTE", "names": {"en": "Latte", "zh_CN": "拿铁"}, "descriptions": {}, "points_price": 250,
        "cash_value_minor": 3200, "currency": "CNY", "stock": None, "min_tier_rank": 0,
        "active_from": None, "active_until": None, "active": True,
    }
    return Reward(**(base | values))


def tier(code: str, rank: int) -> Tier:
    return Tier(id=rank + 1, code=code, rank=rank, names={"en": code.title(), "zh_CN": code})


TIERS = [tier("member", 0), tier("silver", 1), tier("gold", 2), tier("black", 5)]


def test_on_offer_is_half_open() -> None:
    window = reward(active_from=NOW, active_until=NOW + timedelta(days=1))
    assert not rewards.is_on_offer(window, NOW - timedelta(microseconds=1))
    assert rewards.is_on_offer(window, NOW)
    assert rewards.is_on_offer(window, NOW + timedelta(days=1) - timedelta(microseconds=1))
    assert not rewards.is_on_offer(window, NOW + timedelta(days=1))
    assert not rewards.is_on_offer(reward(active=False), NOW)
    assert rewards.is_on_offer(reward(), NOW)


def test_tier_for_rank_is_the_lowest_tier_at_or_above() -> None:
    assert rewards.tier_for_rank(TIERS, 0).code == "member"  # type: ignore[union-attr]
    assert rewards.tier_for_rank(TIERS, 2).code == "gold"  # type: ignore[union-attr]
    assert rewards.tier_for_rank(TIERS, 3).code == "black"  # type: ignore[union-attr]
    assert rewards.tier_for_rank(TIERS, 6) is None


@pytest.mark.parametrize(
    ("available", "stock", "tier_ok", "reason"),
    [
        (250, None, True, None),
        (249, None, True, "insufficient_points"),
        (1000, 0, True, "out_of_stock"),
        (0, 0, True, "out_of_stock"),
        (0, 0, False, "tier"),
        (1000, 1, False, "tier"),
    ],
)
def test_the_most_fundamental_reason_is_given(available: int, stock: int | None, tier_ok: bool, reason: str | None) -> None:
    offer = rewards.RewardOffer(reward(stock=stock), available, stock is None or stock > 0, tier_ok, TIERS[2])
    assert offer.reason == reason and offer.can_redeem == (reason is None)
    assert offer.points_short == max(0, 250 - available)


# --- buttons and texts -----------------------------------------------------------------------


def test_callback_payloads_fit_telegram_at_their_largest() -> None:
    largest = [
        view.RewardsPage(page=view.MAX_PAGE),
        view.RewardDetail(reward_id=view.MAX_ROW_ID, page=view.MAX_PAGE),
        view.RewardAsk(reward_id=view.MAX_ROW_ID, page=view.MAX_PAGE),
        view.RewardConfirm(reward_id=view.MAX_ROW_ID, price=view.MAX_ROW_ID, nonce="x" * 24),
        view.MyCodes(page=view.MAX_PAGE),
        view.ShowCode(redemption_id=view.MAX_ROW_ID),
    ]
    for payload in largest:
        packed = payload.pack()
        assert len(packed.encode()) <= 64, packed
        assert type(payload).unpack(packed) == payload


def test_nonces_are_unguessable_and_fit() -> None:
    nonces = {view.new_nonce() for _ in range(1000)}
    assert len(nonces) == 1000
    for nonce in nonces:
        view.RewardConfirm(reward_id=1, price=1, nonce=nonce)  # validates


@pytest.mark.parametrize(
    "data",
    ["rwd:0:1", "rwd:2147483648:1", "rwd:-1:1", "rwp:0", "rwp:10001", "rwc:1:0:AAAAAAAAAAAA", "rwc:1:5:a", "rwc:1:5:bad/chars!!"],
)
def test_out_of_range_payloads_do_not_unpack(data: str) -> None:
    kind = {"rwd": view.RewardDetail, "rwp": view.RewardsPage, "rwc": view.RewardConfirm}[data[:3]]
    with pytest.raises(ValueError):
        kind.unpack(data)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize(
    "reason", [None, "insufficient_points", "out_of_stock", "tier", "inactive", "price_changed", "page", "used", "cancelled", "stale"]
)
def test_every_reason_reads_in_every_locale(locale: str, reason: str | None) -> None:
    texts = texts_for(locale)
    sample = TEMPLATE_SAMPLE | {"reason": reason}
    if reason is not None:
        alert = texts("rewards/refused", **sample)
        assert alert and len(alert) <= 200 and "<" not in alert.replace("&lt;", "")
        assert (alert == texts("rewards/refused", **(sample | {"reason": "stale"}))) == (reason == "stale")
    detail = texts("rewards/detail", **sample)
    parse_html(detail)
    assert "<b>Al" not in detail


def test_sample_covers_every_rewards_template() -> None:
    for locale in SUPPORTED_LOCALES:
        texts = texts_for(locale)
        for key in texts.keys():
            if key.startswith("rewards/"):
                parse_html(texts(key, **TEMPLATE_SAMPLE))


def test_confirmation_reads_as_promised() -> None:
    offer = rewards.RewardOffer(reward(), 1460, True, True, TIERS[0])
    assert view.confirm_text(texts_for("en"), offer, available=1460) == (
        "Redeem <b>Latte</b> for <b>250</b> points? You'll have 1,210 left."
    )
    assert "拿铁" in view.confirm_text(texts_for("zh_CN"), offer, available=1460)


def test_merchant_names_are_not_escaped_in_buttons_but_are_in_messages() -> None:
    texts = texts_for("en")
    fish = reward(names={"en": "Fish & Chips", "zh_CN": "炸鱼薯条"})
    page = rewards.CataloguePage((rewards.RewardOffer(fish, 0, True, True, TIERS[0]),), 1, 5, 1, 0)
    [[button], [_my_codes]] = view.catalogue_keyboard(texts, page).inline_keyboard
    assert button.text == "Fish & Chips · 250 pts"
    assert "Fish &amp; Chips" in view.detail_text(texts, page.offers[0])
