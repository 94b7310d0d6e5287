"""Members' data rights in tests: a sample export for the templates, and the scan that looks for
an erased member's data in every table and column the models define."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, BigInteger, Integer, String, Text, select

from db.encrypted_columns import ENCRYPTED_COLUMNS
from db.models import Base, Member
from db.uow import UnitOfWorkFactory
from loyalty import coupons, earning, geofence, rewards
from loyalty.campaigns.audience import Audience
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.data_export import (
    ExportedAuditEvent,
    ExportedCampaignMessage,
    ExportedCoupon,
    ExportedLedgerEntry,
    ExportedMessage,
    ExportedProfile,
    ExportedPurchase,
    ExportedPurchaseLine,
    ExportedRefund,
    ExportedRewardCode,
    MemberExport,
)
from loyalty.idempotency import IdempotencyKey, fingerprint
from loyalty.members import Consent, find_member, register_from_chat, set_birthday, set_city
from loyalty.nudges import preferences
from loyalty.nudges.sweeps import run_sweeps
from loyalty.points import adjust_points
from loyalty.purchases import MemberRef, PurchaseRequest, RefundRequest, record_purchase, record_refund
from loyalty.tags import set_member_tags
from tests.utils.campaigns import started_campaign
from tests.utils.coupons import give_coupon, make_template
from tests.utils.rewards import make_reward
from tests.utils.stores import add_stores, located_store

_AT = datetime(2026, 11, 24, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def sample_export(hostile: str = "<b>Al & Ex</b>") -> MemberExport:
    """An export with something in every section; `hostile` wherever people write text."""
    return MemberExport(
        exported_at=_AT,
        program="Loyalty Club",
        currency="CNY",
        profile=ExportedProfile(
            member_number="4260185626", phone="+8613800000123", telegram_id=7345678901, first_name=hostile, birthday=date(1990, 5, 17),
            city=hostile, language="en", time_zone="Asia/Shanghai", enrolled_via="chat", joined_at=_AT,
            campaign="ref_abc", consent_version="2026-11", consented_at=_AT, tier="gold", tier_name=f"{hostile} Gold",
            tier_since=_AT, tier_at_risk_since=_AT, points_balance=1460, chat_blocked_at=_AT, tags=["vip"],
            muted_topics=["offers", "points"], staff_role="marketer",
        ),
        points=[
            ExportedLedgerEntry(
                at=_AT, kind="earn", points=128, balance_after=128, reason="order S1-1", by="apikey:till"
            ),
            ExportedLedgerEntry(at=_AT, kind="adjust", points=-20, balance_after=108, reason=hostile, by="apikey:till"),
            ExportedLedgerEntry(at=_AT, kind="forfeit", points=-108, balance_after=0, reason=None, by="chat"),
        ],
        purchases=[
            ExportedPurchase(
                order_id="S1-1", channel="store", store=hostile, purchased_at=_AT, amount_minor=12800, currency="CNY",
                points_earned=128, refunded_minor=2800,
                lines=[ExportedPurchaseLine(sku="LATTE", category=hostile, quantity=2, amount_minor=6400)],
                refunds=[ExportedRefund(refund_id="R-1", amount_minor=2800, points_clawed_back=28, refunded_at=_AT)],
            ),
            ExportedPurchase(
                order_id="W-9", channel="online", store=None, purchased_at=_AT, amount_minor=5000, currency="CNY",
                points_earned=50, refunded_minor=0, lines=[], refunds=[],
            ),
        ],
        coupons=[
            ExportedCoupon(
                code="CP-7KQ4-M9XD-2HPA", name=hostile, status="used", source="api", issued_at=_AT,
                valid_from=date(2026, 11, 24), valid_until=date(2026, 12, 24), used_at=_AT, discount_minor=1000,
                bonus_points=20,
            )
        ],
        reward_codes=[
            ExportedRewardCode(code="RW-7KQ4", reward=hostile, points=250, status="used", issued_at=_AT, used_at=_AT)
        ],
        messages=[
            ExportedMessage(kind="points_earned", status="sent", created_at=_AT, sent_at=_AT, content={"points": 128})
        ],
        campaigns=[ExportedCampaignMessage(campaign=hostile, status="sent", sent_at=_AT)],
        audit=[ExportedAuditEvent(at=_AT, by="apikey:till", action="points.adjust", detail=hostile)],
    )


@dataclass(frozen=True)
class Trace:
    table: str
    column: str
    found: str
    value: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column} holds {self.found!r}: {self.value[:120]!r}"


def phone_needles(e164: str) -> list[str]:
    """A phone as it could be stored: +8613800138000, 8613800138000, 13800138000, 138 0013 8000."""
    digits = e164.lstrip("+")
    national = digits[2:] if digits.startswith("86") else digits
    return [e164, digits, national, f"{national[:3]} {national[3:7]} {national[7:]}"]


def birthday_needles(born: date) -> list[str]:
    """A date as it could be stored or typed: ISO (SQLite's DATE), compact, day-first, Chinese."""
    return [
        born.isoformat(),
        born.strftime("%Y%m%d"),
        born.strftime("%Y/%m/%d"),
        born.strftime("%d.%m.%Y"),
        born.strftime("%d/%m/%Y"),
        f"{born.year}年{born.month}月{born.day}日",
    ]


async def traces(
    uow_factory: UnitOfWorkFactory,
    texts: list[str],
    numbers: list[int] = (),  # type: ignore[assignment]
    *,
    decrypted: bool = False,
) -> list[Trace]:
    """Every place in the database that holds one of `texts` (in a text or JSON column, any case)
    or one of `numbers` (equal to an integer column, or as a whole number inside text). The
    tables and columns come from the models, so a new one is scanned without anyone listing it.
    `decrypted`: read the encrypted columns (db/encrypted_columns.py) as the program would, so
    what they hold is found too, not only what lies in plain."""
    encrypted = {(column.table, column.column) for column in ENCRYPTED_COLUMNS}
    patterns = [(needle, re.compile(re.escape(needle), re.IGNORECASE)) for needle in texts if needle]
    patterns += [(str(number), re.compile(rf"(?<!\d){number}(?!\d)")) for number in numbers]
    found: list[Trace] = []
    async with uow_factory() as uow:
        for table in Base.metadata.sorted_tables:
            textual = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
            integral = [c for c in table.columns if isinstance(c.type, (Integer, BigInteger))]
            if not textual and not integral:
                continue
            for row in (await uow.session.execute(select(*textual, *integral))).all():
                values = row._mapping
                for column in textual:
                    value = values[column]
                    if value is None:
                        continue
                    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                    if decrypted and (table.name, column.name) in encrypted:
                        text = uow.cipher.decrypt(text)
                    found += [Trace(table.name, column.name, needle, text) for needle, p in patterns if p.search(text)]
                for column in integral:
                    if values[column] in numbers:
                        found.append(Trace(table.name, column.name, str(values[column]), str(values[column])))
    return found


def scan_report(found: list[Trace]) -> str:
    return "\n".join(map(str, found))


# --- a member's realistic life ------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """Who the member is, everything they could be found by."""

    phone: str
    first_name: str
    last_name: str
    username: str
    birthday: date
    city: str
    telegram_id: int

    @property
    def texts(self) -> list[str]:
        return [
            *phone_needles(self.phone),
            *birthday_needles(self.birthday),
            self.first_name,
            self.last_name,
            self.username,
            self.city,
        ]


# Distinctive on purpose: none of these appears in the program's own data by chance. The birthday
# is the tests' START day (24 November), so the birthday sweep greets them.
ALEX = Person(
    phone="+8613912345678",
    first_name="Alexandrina",
    last_name="Quennell-Whitby",
    username="alexq_1990",
    birthday=date(1990, 11, 24),
    city="Zhujiajiao",
    telegram_id=7_345_678_901,
)


@dataclass(frozen=True)
class Life:
    orders: tuple[str, ...]
    refund_id: str
    campaign_id: int
    reward_code: str
    coupon_codes: tuple[str, ...]


async def lead_a_life(uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings, member_number: str) -> Life:
    """What happens to a member after signing up: a welcome coupon (the caller made its
    template), two purchases (one with lines, in a store on the map) and a partial refund, an
    adjustment whose reason names them, a coupon issued and redeemed, tags, a muted topic, a
    campaign that chose them, the nudge sweeps (their birthday is today), a reward redeemed in
    the chat, and a walk past the store with a coupon valid there. Every step through the rules
    the API, the chat and the scheduler call."""
    [_store] = await add_stores(uow_factory, [located_store("ZJJ1", 31.1145, 121.0568, clock, name="Water Town")])
    template = await make_template(uow_factory, clock, code="LIFE10", kind="amount_off", value=1000)
    nearby = await make_template(uow_factory, clock, code="NEAR20", kind="percent_off", value=20)
    reward = await make_reward(uow_factory, clock, code="MUG", price=50, name="Mug")

    def api(scope: str, key: str, body: object) -> IdempotencyKey:  # as api/routes/purchases.py keys a request
        return IdempotencyKey(scope, key, fingerprint({"body": body}))

    async with uow_factory() as uow:
        member = await find_member(uow, member_number=member_number)
    orders = ("ZJJ1-0001", "WEB-0001")
    async with uow_factory() as uow:
        await record_purchase(
            uow, clock, settings,
            PurchaseRequest(
                MemberRef(member_number=member_number), orders[0], "store", 12_800, "CNY", store_code="ZJJ1",
                lines=(earning.Line("LATTE", "coffee", 2, 6_400), earning.Line("CAKE", None, 1, 6_400)),
            ),
            actor="apikey:till-1", idempotency=api("apikey:1", orders[0], "p1"),
        )
    async with uow_factory() as uow:
        await record_purchase(
            uow, clock, settings, PurchaseRequest(MemberRef(phone_e164=ALEX.phone), orders[1], "online", 30_000, "CNY"),
            actor="apikey:shop", idempotency=api("apikey:2", orders[1], "p2"),
        )
    async with uow_factory() as uow:
        await record_refund(
            uow, clock, settings, RefundRequest(orders[0], "store", "ZJJ1-R1", 2_800, "CNY"),
            actor="apikey:till-1", idempotency=api("apikey:1", "refund:ZJJ1-R1", "r1"),
        )
    reason = (
        f"Goodwill for {ALEX.first_name} {ALEX.last_name} (@{ALEX.username}), {ALEX.phone}, "
        f"born {ALEX.birthday.isoformat()}, from {ALEX.city}"
    )
    async with uow_factory() as uow:
        await adjust_points(
            uow, clock, settings, member_number=member_number, points=500, reason=reason, actor="apikey:till-1",
            idempotency=api("apikey:1", "adjust-1", reason),
        )
    issued = await give_coupon(uow_factory, clock, member, template)
    async with uow_factory() as uow:
        await coupons.redeem(
            uow, clock, settings,
            coupons.RedeemRequest(issued.code, "ZJJ1", "ZJJ1-0002", 5_000, "CNY", member_number=member_number),
            actor="apikey:till-1",
        )
    near = await give_coupon(uow_factory, clock, member, nearby)
    async with uow_factory() as uow:
        await set_member_tags(uow, clock, member, ["vip", "water-town"], actor="apikey:crm")
    async with uow_factory() as uow:
        await preferences.set_muted(uow, clock, member, "points", True)
    campaign_id = await started_campaign(
        uow_factory, clock, settings, texts={"en": "Hi {{ member_number }}: {{ points }} points"},
        audience=Audience(tags=["vip"]), holdout_pct=0,
    )
    await run_sweeps(uow_factory, clock, settings)
    async with uow_factory() as uow:
        redeemed = await rewards.redeem_once(
            uow, clock, member_id=member.id, reward_id=reward.id, actor="chat",
            key=api(f"member:{member.id}", "redeem:n0nce-life", "mug"), expected_price=50,
        )
    async with uow_factory() as uow:
        await geofence.check_position(
            uow, clock, settings, member_id=member.id, latitude=31.1150, longitude=121.0568
        )
    return Life(orders, "ZJJ1-R1", campaign_id, redeemed.redemption.code, (issued.code, near.code))


async def sign_up(uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings) -> Member:
    """ALEX joins in the chat, as bot/routers/start.py does it (their Telegram first name kept),
    with a birthday and a city."""
    async with uow_factory() as uow:
        registration = await register_from_chat(
            uow, clock, settings, telegram_id=ALEX.telegram_id, phone_e164=ALEX.phone, locale="en",
            consent=Consent(version=settings.privacy_version, given_at=clock.now()),
            start_payload=f"ref_{ALEX.username}", first_name=ALEX.first_name,
        )
    member = registration.member
    async with uow_factory() as uow:
        await set_birthday(uow, clock, settings, member, ALEX.birthday.strftime("%d.%m.%Y"))
    async with uow_factory() as uow:
        await set_city(uow, clock, settings, member, ALEX.city)
    return member


async def lived(uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings) -> Member:
    """ALEX signed up (with a welcome coupon) and led a life."""
    await make_template(uow_factory, clock, code="WELCOME", auto_issue="signup")
    member = await sign_up(uow_factory, clock, settings)
    await lead_a_life(uow_factory, clock, settings, member.member_number)
    return member
