"""A campaign's evaluation, a range's evaluation and a preview (with its minimum detectable lift)
over a program of 100,000 members, to show that a merchant's page answers in a couple of seconds at most.

    python -m benchmarks.evaluation [--quick] [--database sqlite|postgres|both]

The population is written straight to the tables: members joined over the last two years, 0 to
8 purchases each over the last 120 days (a tenth refunded in part), and a campaign to every
member started 20 days ago, 10 % held out, a coupon for each recipient used by one in twenty.

Figure: the slowest of the three, median of RUNS calls, on the slower database; baseline: the
campaign report alone (the causal side the evaluation reuses); target: at most TARGET_MS.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import insert

from benchmarks.common import databases, parser, report, scratch_database

MEMBERS = 100_000
QUICK_MEMBERS = 10_000
RUNS = 5
TARGET_MS = 2_000.0
CHUNK = 5_000
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
STARTED = NOW - timedelta(days=20)
SECRET = "benchmark-secret-key-0123456789-abcdefghijklmnop"


async def _fill(factory: Any, members: int) -> int:
    from db.models import Campaign, CampaignRecipient, Coupon, CouponTemplate, Member, Purchase

    rng = random.Random(7)
    async with factory() as uow:
        tier = await uow.program.entry_tier()
        template = CouponTemplate(
            code="BENCH", names={"en": "Bench"}, descriptions={}, kind="amount_off", value=1000, currency="CNY",
            min_spend_minor=0, valid_days=30, per_member_limit=1, min_tier_rank=0, active=True, created_at=NOW,
        )
        campaign = Campaign(
            name="Bench", status="done", texts={"en": "Hi"}, buttons=[], audience={}, send_at=STARTED,
            holdout_pct=10, seed="bench", attribution_days=7, created_by="apikey:1", created_at=STARTED,
            started_at=STARTED, coupon_template_id=None,
        )
        uow.session.add_all([template, campaign])
        await uow.flush()
        template_id, campaign_id = template.id, campaign.id
        await uow.commit()
    order = 0
    for first in range(1, members + 1, CHUNK):
        ids = range(first, min(first + CHUNK, members + 1))
        member_rows, purchase_rows, coupon_rows, recipient_rows = [], [], [], []
        for member_id in ids:
            joined = NOW - timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60))
            member_rows.append({
                "id": member_id, "member_number": f"9{member_id:09d}", "telegram_id": 10_000_000 + member_id,
                "locale": "en", "enrolled_via": "chat", "consent_version": "bench", "consented_at": joined,
                "points_balance": 0, "tier_id": tier.id, "tier_since": joined, "created_at": joined,
                "updated_at": joined,
            })
            for _ in range(rng.randrange(0, 9)):
                order += 1
                at = NOW - timedelta(minutes=rng.randrange(0, 120 * 24 * 60))
                amount = rng.randrange(500, 30_000)
                purchase_rows.append({
                    "member_id": member_id, "order_id": f"B{order}", "channel": "store", "amount_minor": amount,
                    "currency": "CNY", "purchased_at": at, "points_earned": 0,
                    "refunded_minor": amount // 2 if rng.random() < 0.1 else 0, "created_at": at,
                })
            held_out = rng.random() < 0.1
            used = not held_out and rng.random() < 0.05
            coupon_rows.append({
                "id": member_id, "template_id": template_id, "member_id": member_id, "code": f"BENCH-{member_id}",
                "status": "used" if used else "issued", "source": "campaign", "issued_at": STARTED,
                "valid_from": date(2026, 11, 1), "valid_until": date(2026, 12, 31),
                "used_at": STARTED + timedelta(days=rng.randrange(0, 7)) if used else None,
                "discount_minor": 1000 if used else None,
            })
            recipient_rows.append({
                "campaign_id": campaign_id, "member_id": member_id, "status": "held_out" if held_out else "sent",
                "deliver_after": STARTED, "deferred": False, "attempts": 0,
                "coupon_id": None if held_out else member_id,
            })
        async with factory() as uow:
            for model, rows in ((Member, member_rows), (Purchase, purchase_rows), (Coupon, coupon_rows),
                                (CampaignRecipient, recipient_rows)):
                for start in range(0, len(rows), 2_000):
                    await uow.session.execute(insert(model), rows[start:start + 2_000])
            await uow.commit()
    return campaign_id


async def _median_ms(factory: Any, call: Callable[[Any], Awaitable[object]]) -> float:
    times = []
    for _ in range(RUNS):
        async with factory() as uow:
            began = time.perf_counter()
            await call(uow)
            times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def _measure(url: str, members: int) -> dict[str, float]:
    from sqlalchemy import text

    from db.crypto import FieldCipher
    from db.engine import create_engine, create_session_factory
    from db.uow import UnitOfWorkFactory
    from loyalty.campaigns.audience import Audience
    from loyalty.campaigns.evaluation import evaluate_campaign, evaluate_range
    from loyalty.campaigns.report import campaign_report
    from loyalty.campaigns.service import CampaignDraft, preview
    from loyalty.clock import FixedClock
    from loyalty.config import Settings

    engine = create_engine(url)
    factory = UnitOfWorkFactory(create_session_factory(engine), FieldCipher(SECRET))
    settings = Settings(_env_file=None, database_url=url, secret_key=SECRET)  # type: ignore[call-arg]
    clock = FixedClock(NOW)
    began = time.perf_counter()
    campaign_id = await _fill(factory, members)
    fill_s = time.perf_counter() - began
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    draft = CampaignDraft(name="Next", texts={"en": "Hi"}, audience=Audience(), holdout_pct=10)
    first = (NOW - timedelta(days=30)).astimezone(settings.zone).date()
    try:
        return {
            "fill_s": fill_s,
            "report_ms": await _median_ms(factory, lambda uow: campaign_report(uow, clock, settings, campaign_id)),
            "campaign_ms": await _median_ms(
                factory, lambda uow: evaluate_campaign(uow, clock, settings, campaign_id)
            ),
            "range_ms": await _median_ms(
                factory, lambda uow: evaluate_range(uow, clock, settings, first, first + timedelta(days=6))
            ),
            "preview_ms": await _median_ms(factory, lambda uow: preview(uow, clock, settings, draft, samples=1)),
        }
    finally:
        await engine.dispose()


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    members = QUICK_MEMBERS if args.quick else MEMBERS
    results: dict[str, dict[str, float]] = {}
    for kind in databases(args.database):
        with scratch_database(kind) as url:
            result = asyncio.run(_measure(url, members))
        results[kind] = result
        print(
            f"{kind}: {members:,} members written in {result['fill_s']:.0f} s; campaign evaluation "
            f"{result['campaign_ms']:.0f} ms (its report alone {result['report_ms']:.0f} ms), range evaluation "
            f"{result['range_ms']:.0f} ms, preview with the minimum detectable lift {result['preview_ms']:.0f} ms "
            f"(medians of {RUNS})",
            flush=True,
        )
    if not results:
        raise SystemExit("no database to run on")
    worst = max(results.values(), key=lambda r: max(r["campaign_ms"], r["range_ms"], r["preview_ms"]))
    figure = max(worst["campaign_ms"], worst["range_ms"], worst["preview_ms"])
    report({
        "benchmark": "evaluation",
        "figure": round(figure, 1),
        "unit": "ms",
        "baseline": round(worst["report_ms"], 1),
        "ratio": round(figure / worst["report_ms"], 2),
        "target_ms": TARGET_MS,
        "members": members,
        "databases": {kind: {k: round(v, 1) for k, v in r.items()} for kind, r in results.items()},
        "met": figure <= TARGET_MS,
    })


if __name__ == "__main__":
    main()
