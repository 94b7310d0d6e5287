"""A believable sample program for an empty database: a café chain with stores on the map, a
reward catalogue, coupon templates, earning rules and a few hundred members with months of
history, so a newcomer sees receipts in value terms, tiers, segments and coupons at once.

Everything goes through the program's own rules, as a till and a back office would write it:
stores, rewards, templates and rules are created by their services; members are enrolled at a
till, fill in their profile, buy, redeem coupons and spend points on rewards. History is written
by moving a clock through the past, so every rule (bonuses, tiers, promotions, coupon days,
lots and their expiry) applies as it would have on the day. Nothing here ever runs by itself:
only `loyalty demo` calls it, and it refuses a database that holds anything of a program.

The choices (who joins when, visits, baskets, stores, redemptions) come from one seeded random
generator, so a seed gives the same program; member numbers and coupon codes are the program's
own random codes.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from db.models import CouponTemplate, Member, Purchase, Reward, Store
from db.uow import UnitOfWorkFactory
from loyalty import coupons, earning, members, rewards, stores, tags
from loyalty.campaigns.audience import Audience
from loyalty.campaigns.service import Actor, CampaignDraft, create_campaign, finish_if_drained
from loyalty.campaigns.service import start as start_campaign
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.earning import Line
from loyalty.errors import Conflict, LoyaltyError
from loyalty.idempotency import IdempotencyKey, fingerprint
from loyalty.purchases import MemberRef, PurchaseRequest, record_purchase

ACTOR = "demo"
HISTORY_DAYS = 180
CAMPAIGN_DAYS_AGO = 21  # the campaign starts with the pastry promotion
DEFAULT_MEMBERS = 300
MAX_MEMBERS = 5_000
# The member a newcomer becomes in `loyalty chat` by sharing this number: a regular with a
# receipt that is enough for 2 × Latte.
SHOWCASE_PHONE = "+8617000000000"
ZONE = "Asia/Shanghai"

WEEKDAYS = [["07:30", "21:00"]]
HOURS = {
    "mon": WEEKDAYS, "tue": WEEKDAYS, "wed": WEEKDAYS, "thu": WEEKDAYS,
    "fri": [["07:30", "22:00"]], "sat": [["08:00", "22:00"]], "sun": [["09:00", "20:00"]],
}
ALL_DAY = {day: [["00:00", "24:00"]] for day in HOURS}
OFFICE_DAYS = {day: WEEKDAYS for day in ("mon", "tue", "wed", "thu", "fri")}

STORES = [
    stores.StoreSpec("SH-NJR", "Nanjing Road", "Shanghai", ZONE, "299 Nanjing East Rd", 31.2381, 121.4846, HOURS),
    stores.StoreSpec("SH-JAT", "Jing'an Temple", "Shanghai", ZONE, "1601 Nanjing West Rd", 31.2243, 121.4462, HOURS),
    stores.StoreSpec("SH-XTD", "Xintiandi", "Shanghai", ZONE, "181 Taicang Rd", 31.2197, 121.4750, HOURS),
    stores.StoreSpec("SH-LJZ", "Lujiazui 24h", "Shanghai", ZONE, "8 Century Ave", 31.2397, 121.4998, ALL_DAY),
    stores.StoreSpec("BJ-SLT", "Sanlitun", "Beijing", ZONE, "19 Sanlitun Rd", 39.9365, 116.4477, HOURS),
    stores.StoreSpec("BJ-GMO", "Guomao", "Beijing", ZONE, "1 Jianguomenwai Ave", 39.9087, 116.4605, OFFICE_DAYS),
    stores.StoreSpec("SZ-NSH", "Nanshan", "Shenzhen", ZONE, "2 Keyuan Rd", 22.5333, 113.9304, HOURS),
    stores.StoreSpec("HZ-WLK", "West Lake", "Hangzhou", ZONE, "58 Hubin Rd", 30.2590, 120.1620, HOURS),
]

REWARDS = [
    rewards.RewardSpec("CROISSANT", {"en": "Croissant", "zh_CN": "可颂"}, 120, 1800,
                       {"en": "Butter croissant, warm from the oven.", "zh_CN": "现烤黄油可颂。"}),
    rewards.RewardSpec("AMERICANO", {"en": "Americano", "zh_CN": "美式咖啡"}, 150, 2600),
    rewards.RewardSpec("LATTE", {"en": "Latte", "zh_CN": "拿铁"}, 200, 3200,
                       {"en": "Any size, any milk.", "zh_CN": "任意杯型，任选奶。"}),
    rewards.RewardSpec("CHEESECAKE", {"en": "Cheesecake", "zh_CN": "芝士蛋糕"}, 260, 3800),
    rewards.RewardSpec("MUG", {"en": "Ceramic mug", "zh_CN": "陶瓷马克杯"}, 900, 8800, stock=40),
    rewards.RewardSpec("TOTE", {"en": "Canvas tote", "zh_CN": "帆布袋"}, 1200, 6800, min_tier="silver"),
    rewards.RewardSpec("BEANS", {"en": "House beans, 250 g", "zh_CN": "自家烘焙咖啡豆 250克"}, 2000, 12800,
                       min_tier="gold"),
]

TEMPLATES = [
    coupons.TemplateSpec(
        "WELCOME10", {"en": "10% off your next coffee", "zh_CN": "咖啡九折"}, "percent_off", 10,
        {"en": "On any order of ¥30.00 or more.", "zh_CN": "满30元可用。"},
        min_spend_minor=3000, valid_days=30, auto_issue="signup",
    ),
    coupons.TemplateSpec(
        "GOLDTREAT", {"en": "A drink on us", "zh_CN": "金卡赠饮"}, "free_item", 3200,
        {"en": "Any drink, for reaching Gold.", "zh_CN": "升级金卡，任选一杯饮品。"},
        valid_days=60, min_tier="gold", auto_issue="tier",
    ),
    coupons.TemplateSpec(
        "COMEBACK15", {"en": "¥15 off, we miss you", "zh_CN": "好久不见，立减15元"}, "amount_off", 1500,
        min_spend_minor=4000, valid_days=14, per_member_limit=3,
    ),
    coupons.TemplateSpec(
        "DOUBLEPTS", {"en": "Double points on one order", "zh_CN": "单笔双倍积分"}, "points_multiplier", 200,
        valid_days=7, per_member_limit=4,
    ),
    coupons.TemplateSpec(
        "SHANGHAI15", {"en": "15% off in Shanghai", "zh_CN": "上海门店85折"}, "percent_off", 15,
        min_spend_minor=5000, valid_days=21, cities=["Shanghai"], per_member_limit=2,
    ),
]

# (sku, category, price in minor units, weight)
MENU = [
    ("AMERICANO", "coffee", 2600, 5), ("LATTE", "coffee", 3200, 8), ("FLATWHITE", "coffee", 3400, 4),
    ("MOCHA", "coffee", 3600, 2), ("CROISSANT", "pastry", 1800, 4), ("CHEESECAKE", "pastry", 3800, 2),
    ("SANDWICH", "food", 4200, 3),
]


@dataclass(frozen=True)
class Persona:
    name: str
    weight: int
    gap_days: tuple[float, float]  # days between visits
    lapsed: bool = False


PERSONAS = [
    Persona("regular", 25, (3, 8)),
    Persona("casual", 35, (7, 20)),
    Persona("rare", 20, (25, 60)),
    Persona("lapsed", 15, (3, 10), lapsed=True),
    Persona("once", 5, (999, 999)),
]


@dataclass
class DemoReport:
    stores: int = 0
    rewards: int = 0
    coupon_templates: int = 0
    earning_rules: int = 0
    members: int = 0
    purchases: int = 0
    coupons_redeemed: int = 0
    rewards_redeemed: int = 0
    coupons_issued: int = 0
    showcase_phone: str = SHOWCASE_PHONE
    showcase_member: str = ""
    showcase_balance: int = 0
    showcase_tier: str = ""
    tiers_reached: dict[str, int] = field(default_factory=dict)
    campaign_id: int = 0


class DatabaseNotEmpty(Conflict):
    code = "database_not_empty"


async def program_contents(uow_factory: UnitOfWorkFactory) -> dict[str, int]:
    """What of a program the database holds (the seeded tiers and base rate do not count)."""
    async with uow_factory() as uow:
        return {
            name: int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (("members", Member), ("stores", Store), ("rewards", Reward),
                                ("coupon templates", CouponTemplate), ("purchases", Purchase))
        }


async def refuse_unless_empty(uow_factory: UnitOfWorkFactory) -> None:
    held = {name: count for name, count in (await program_contents(uow_factory)).items() if count}
    if held:
        what = ", ".join(f"{count:,} {name}" for name, count in held.items())
        raise DatabaseNotEmpty(
            f"this database already holds a program ({what}): the demo only fills an empty database, "
            "and nothing was written. Point DATABASE_URL at a new one, e.g. "
            "DATABASE_URL=sqlite+aiosqlite:///./demo.sqlite3 loyalty demo"
        )


def member_phone(index: int) -> str:
    return f"+86170{index:08d}"


async def build_demo(
    uow_factory: UnitOfWorkFactory,
    settings: Settings,
    *,
    now: datetime,
    seed: int = 1,
    member_count: int = DEFAULT_MEMBERS,
    progress: Callable[[int], None] = lambda done: None,
) -> DemoReport:
    """Fill an empty database with the sample program as of `now`; refuses anything else."""
    if not 1 <= member_count <= MAX_MEMBERS:
        raise ValueError(f"members: 1 to {MAX_MEMBERS:,}")
    await refuse_unless_empty(uow_factory)
    demo = _Demo(uow_factory, settings, now=now, rng=random.Random(seed))
    await demo.program()
    # Each member's life is written up to the campaign's launch, then the campaign starts on an
    # audience as it stood that day, then every life goes on to now: two steps per member.
    lives = []
    for index in range(member_count):
        life = demo.member(index)
        await anext(life, None)
        lives.append(life)
        progress(index + 1)
    await demo.campaign()
    for index, life in enumerate(lives):
        await anext(life, None)
        progress(member_count + index + 1)
    return await demo.finish()


class _Demo:
    def __init__(self, uow_factory: UnitOfWorkFactory, settings: Settings, *, now: datetime, rng: random.Random) -> None:
        self.uow_factory, self.settings, self.now, self.rng = uow_factory, settings, now, rng
        self.start = now - timedelta(days=HISTORY_DAYS)
        self.launch = now - timedelta(days=CAMPAIGN_DAYS_AGO)
        self.clock = FixedClock(self.start)
        self.zone = ZoneInfo(ZONE)
        self.report = DemoReport()
        self.orders = 0
        self.showcase: Member | None = None

    def at(self, moment: datetime) -> FixedClock:
        self.clock.set(moment)
        return self.clock

    async def program(self) -> None:
        clock = self.at(self.start)
        for spec in STORES:
            async with self.uow_factory() as uow:
                await stores.create_store(uow, clock, spec, default_timezone=self.settings.timezone, actor=ACTOR)
        for reward in REWARDS:
            async with self.uow_factory() as uow:
                await rewards.create_reward(uow, clock, reward, program_currency=self.settings.currency, actor=ACTOR)
        for template in TEMPLATES:
            async with self.uow_factory() as uow:
                await coupons.create_template(uow, clock, self.settings, template, actor=ACTOR)
        pastry_week = self.launch
        rules = [
            earning.RuleSpec("Welcome bonus", "bonus", points=50, event="signup"),
            earning.RuleSpec("First visit bonus", "bonus", points=100, event="first_purchase"),
            earning.RuleSpec("Profile bonus", "bonus", points=30, event="profile_complete"),
            earning.RuleSpec("Double points on pastries", "promotion", multiplier_pct=200, category="pastry",
                             starts_at=pastry_week, ends_at=self.now + timedelta(days=21)),
        ]
        for rule in rules:
            async with self.uow_factory() as uow:
                await earning.create_rule(uow, clock, rule, actor=ACTOR)
        self.report.stores, self.report.rewards = len(STORES), len(REWARDS)
        self.report.coupon_templates, self.report.earning_rules = len(TEMPLATES), len(rules) + 1

    # --- members ---------------------------------------------------------------------------------

    async def member(self, index: int) -> AsyncIterator[None]:
        """One member's life; pauses once, at the campaign's launch."""
        rng = self.rng
        showcase = index == 0
        persona = PERSONAS[0] if showcase else rng.choices(PERSONAS, weights=[p.weight for p in PERSONAS])[0]
        home = STORES[0] if showcase else rng.choice(STORES)
        latest_join = self.now - timedelta(days=10)
        joined = self.start + timedelta(minutes=5) + (latest_join - self.start - timedelta(minutes=5)) * (
            rng.random() * (0.3 if persona.lapsed or showcase else 1.0)
        )
        joined = self._in_opening_hours(joined)
        locale = "en" if showcase or rng.random() < 0.3 else "zh_CN"
        paused = joined >= self.launch
        if paused:
            yield
        async with self.uow_factory() as uow:
            member = await members.enrol_at_till(
                uow, self.at(joined), self.settings, phone_e164=member_phone(index),
                consent_version=self.settings.privacy_version, locale=locale, actor=ACTOR,
            )
        self.report.members += 1
        if showcase or rng.random() < 0.6:
            async with self.uow_factory() as uow:
                birthday = date(rng.randint(1965, 2004), rng.randint(1, 12), rng.randint(1, 28))
                member = await members.set_birthday(uow, self.at(joined), self.settings, member, birthday.isoformat())
            async with self.uow_factory() as uow:
                member = await members.set_city(uow, self.at(joined), self.settings, member, home.city or "")
        if not showcase and rng.random() < 0.15:
            async with self.uow_factory() as uow:
                await tags.set_member_tags(uow, self.at(joined), member, [rng.choice(["office-lunch", "student", "family"])],
                                           actor=ACTOR)

        # The showcase's last days are written by _showcase, after its regular visits.
        stop = self.now - timedelta(days=4 if showcase else 0, hours=2)
        if persona.lapsed:
            stop = self.now - timedelta(days=rng.uniform(50, 120))
        visit = joined + timedelta(minutes=rng.randint(1, 20))
        visits = 0
        while visit < stop:
            if not paused and visit >= self.launch:
                paused = True
                yield
            store = home if rng.random() < 0.8 else rng.choice(STORES)
            at = self._in_opening_hours(visit)
            await self._visit(member, self._open_on(store, at), at, showcase=showcase, visits=visits)
            visits += 1
            if persona.name == "once":
                break
            visit = visit + timedelta(days=rng.uniform(*persona.gap_days), hours=rng.uniform(-3, 3))
        if not paused:
            yield
        if persona.lapsed and rng.random() < 0.5:
            await self._issue(member, "COMEBACK15", self.now - timedelta(days=rng.uniform(1, 10)))
        if showcase:
            await self._showcase(member)

    def _in_opening_hours(self, moment: datetime) -> datetime:
        """The same day, between 09:00 and 19:59 local time, when the stores are open."""
        local = moment.astimezone(self.zone)
        if 9 <= local.hour < 20:
            return moment
        hour = 9 + self.rng.randrange(11)
        return datetime.combine(local.date(), time(hour, self.rng.randrange(60)), self.zone).astimezone(moment.tzinfo)

    def _open_on(self, store: stores.StoreSpec, at: datetime) -> stores.StoreSpec:
        """The store, or on a day it is closed the one of its city that is open."""
        day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[at.astimezone(self.zone).weekday()]
        if store.opening_hours is None or day in store.opening_hours:
            return store
        return next(s for s in STORES if s.city == store.city and s.opening_hours and day in s.opening_hours)

    def _basket(self) -> list[Line]:
        items = self.rng.choices(MENU, weights=[item[3] for item in MENU], k=self.rng.choice([1, 1, 2, 2, 2, 3, 4]))
        counted: dict[str, tuple[str, int, int]] = {}
        for sku, category, price, _ in items:
            _, _, quantity = counted.get(sku, (category, price, 0))
            counted[sku] = (category, price, quantity + 1)
        return [Line(sku=sku, category=category, quantity=quantity, amount_minor=price * quantity)
                for sku, (category, price, quantity) in counted.items()]

    async def _visit(self, member: Member, store: stores.StoreSpec, at: datetime, *, showcase: bool, visits: int,
                     lines: list[Line] | None = None) -> int:
        """A purchase at a till, with a coupon redeemed now and then, and points spent on a
        reward after it now and then. Returns the member's balance."""
        if at >= self.now:
            at = self.now - timedelta(minutes=1)
        lines = lines or self._basket()
        amount = sum(line.amount_minor for line in lines)
        self.orders += 1
        order_id = f"{store.code}-{at.astimezone(self.zone):%Y%m%d}-{self.orders:05d}"
        if not showcase and visits in (1, 2) and amount >= 3000 and self.rng.random() < 0.6:
            amount -= await self._redeem_welcome(member, store.code, order_id, amount, at)
            # The till takes the discount off the bill; the lines keep their prices, so the
            # purchase is recorded as one line of what was paid.
            lines = [Line(sku="ORDER", category=None, quantity=1, amount_minor=amount)]
        request = PurchaseRequest(
            member=MemberRef(member_number=member.member_number), order_id=order_id, channel="store",
            amount_minor=amount, currency=self.settings.currency, store_code=store.code, lines=tuple(lines),
        )
        key = IdempotencyKey(scope=f"{ACTOR}:{store.code}", key=order_id, fingerprint=fingerprint({"order": order_id}))
        async with self.uow_factory() as uow:
            answer, _ = await record_purchase(uow, self.at(at), self.settings, request, actor=ACTOR, idempotency=key)
        self.report.purchases += 1
        balance = int(answer.body["balance"])
        if not showcase and balance >= 150 and self.rng.random() < 0.2:
            balance = await self._spend(member, balance, at + timedelta(minutes=2))
        return balance

    async def _redeem_welcome(self, member: Member, store_code: str, order_id: str, amount: int, at: datetime) -> int:
        async with self.uow_factory() as uow:
            held = [c for c in await coupons.member_coupons(uow, member) if c.template.code == "WELCOME10"
                    and c.coupon.status == "issued"]
        if not held:
            return 0
        request = coupons.RedeemRequest(code=held[0].coupon.code, store_code=store_code, order_id=order_id,
                                        amount_minor=amount, currency=self.settings.currency,
                                        member_number=member.member_number)
        try:
            async with self.uow_factory() as uow:
                redeemed = await coupons.redeem(uow, self.at(at), self.settings, request, actor=ACTOR)
        except LoyaltyError:  # expired, or not for this store: the till charges the full price
            return 0
        self.report.coupons_redeemed += 1
        return int(redeemed.discount_minor)

    async def _spend(self, member: Member, balance: int, at: datetime, *, code: str | None = None) -> int:
        choices = [r for r in REWARDS if r.points_price <= balance and (code is None or r.code == code)]
        if not choices:
            return balance
        wanted = choices[-1] if code else self.rng.choice(choices)
        async with self.uow_factory() as uow:
            reward = await rewards.find_reward(uow, wanted.code)
            try:
                redemption = await rewards.redeem(uow, self.at(at), member_id=member.id, reward_id=reward.id, actor=ACTOR)
            except LoyaltyError:  # their tier may not take it yet, or it ran out
                return balance
        self.report.rewards_redeemed += 1
        return balance - redemption.points

    async def _issue(self, member: Member, template: str, at: datetime) -> None:
        try:
            async with self.uow_factory() as uow:
                await coupons.issue(uow, self.at(at), self.settings, member_id=member.id, template_code=template,
                                    actor=ACTOR)
        except LoyaltyError:
            return
        self.report.coupons_issued += 1

    async def _showcase(self, member: Member) -> None:
        """The member a newcomer becomes: a Latte redeemed before (what they care about), a
        coupon for this week and a last receipt whose points are enough for 2 × Latte."""
        at = self.now - timedelta(hours=1)
        if not 9 <= at.astimezone(self.zone).hour < 19:  # the stores' evening before, then
            evening = datetime.combine(at.astimezone(self.zone).date(), time(18, 30), self.zone)
            at = evening if evening < at else evening - timedelta(days=1)
        async with self.uow_factory() as uow:
            balance = (await uow.lock_member(member.id)).points_balance
        balance = await self._spend(member, balance, at - timedelta(days=3), code="LATTE")
        while balance >= 400:
            balance = await self._spend(member, balance, at - timedelta(minutes=30), code="LATTE")
        await self._issue(member, "DOUBLEPTS", at - timedelta(minutes=20))
        store = STORES[0]
        latte = Line(sku="LATTE", category="coffee", quantity=1, amount_minor=3200)
        # Lattes until the points pass 400 (a tier multiplier makes each worth 32 points or more).
        while balance < 400:
            balance = await self._visit(member, store, at, showcase=True, visits=99, lines=[latte])
            at += timedelta(minutes=1)

    async def campaign(self) -> None:
        """A campaign to Shanghai members with a coupon, started three weeks ago with a
        hold-out, so its report compares the two groups' purchases since. The demo's members
        have no chats, so it reached none of them: the report counts them unreachable."""
        draft = CampaignDraft(
            name="Pastry weeks in Shanghai",
            texts={
                "en": "🥐 Double points on pastries for three weeks, and 15% off in our Shanghai stores "
                      "for you, {{ tier }} member.",
                "zh_CN": "🥐 三周糕点双倍积分，另送您上海门店85折券。",
            },
            audience=Audience(cities=["Shanghai"]),
            coupon_template="SHANGHAI15",
        )
        actor = Actor(ref=ACTOR, role="owner")
        async with self.uow_factory() as uow:
            created = await create_campaign(uow, self.at(self.launch), self.settings, draft, actor=actor)
            await uow.commit()
            campaign_id = created.id
        async with self.uow_factory() as uow:
            await start_campaign(uow, self.at(self.launch), self.settings, campaign_id)
        async with self.uow_factory() as uow:
            await finish_if_drained(uow, self.at(self.launch + timedelta(minutes=1)), campaign_id)
        self.report.campaign_id = campaign_id

    async def finish(self) -> DemoReport:
        async with self.uow_factory() as uow:
            showcase = await uow.members.by_phone(SHOWCASE_PHONE)
            assert showcase is not None
            tiers = {tier.id: tier.code for tier in sorted(await uow.program.tiers(), key=lambda tier: tier.rank)}
            self.report.showcase_member = showcase.member_number
            self.report.showcase_balance = showcase.points_balance
            self.report.showcase_tier = tiers[showcase.tier_id]
            counted = await uow.session.execute(select(Member.tier_id, func.count()).group_by(Member.tier_id))
            reached = {tier_id: int(count) for tier_id, count in counted}
            self.report.tiers_reached = {code: reached[tier_id] for tier_id, code in tiers.items() if tier_id in reached}
        return self.report
