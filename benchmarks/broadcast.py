"""The campaign sender (bot.broadcast) against the sandbox's flood limits, and its ceiling.

    python -m benchmarks.broadcast [--quick] [--database sqlite|postgres|both]

The sandbox runs in a process of its own (as Telegram is elsewhere), with one chat per member;
the sender runs here with a real database (SQLite by default), claiming, rendering, sending and
recording in bulk as in production. Phases, each a fresh campaign to the first N members:
- 3,000 members at Telegram's free limit (30 msg/s global, 1 msg/s per chat): the sustained
  rate the sandbox accepted (first to last send), 429s (target: >= 97% of 30, none);
- 20,000 members at the paid limit, 1,000 msg/s (target: >= 95%);
- 20,000 members with no limit: the pipeline's ceiling, as a ratio to a bare aiohttp loop posting
  the same sendMessage requests to the same sandbox with the same concurrency (100);
- peak memory (tracemalloc) of a drain with no limit at two audience sizes (2,000 and 20,000):
  the rows are streamed in claims, so it should not grow with the audience.

Figure: the sustained rate at 30 msg/s; baseline: the limit (30); ratio: figure / limit;
target 0.97. The other phases are in printed lines and in the JSON line's "runs".
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

from benchmarks.common import databases, free_port, parser, report, scratch_database

SECRET = "benchmark-secret-key-0123456789-abcdefghijklmnop"
TOKEN = "123456789:benchmark-token"
CONCURRENCY = 100  # of the unlimited runs and of the bare loop
CHUNK = 5_000
TEXT = {"en": "Member day, {{ member_number }}: you hold {{ points }} points as {{ tier }}. See you!"}
FULL = {"free": 3_000, "paid": 20_000, "ceiling": 20_000, "memory": (2_000, 20_000)}
QUICK = {"free": 300, "paid": 3_000, "ceiling": 3_000, "memory": (500, 3_000)}


# --- the sandbox, in its own process ------------------------------------------------------------------


def serve_sandbox(port: int, users: int, global_rate: float | None, per_chat_rate: float | None) -> None:
    """`python -m benchmarks.broadcast --serve PORT USERS RATE PER_CHAT` (0 = no limit).

    The sandbox stamps a request when its loop gets to it. Its garbage collector, walking every
    message it keeps, would pause that loop for up to ~120 ms: requests that arrived evenly would
    then be stamped in one bunch and refused as a burst the sender never sent. Telegram does not
    pause so; the stand-in runs without the collector (it lives for one phase)."""
    from sandbox import SandboxLimits, SandboxServer

    async def main() -> None:
        limits = SandboxLimits().with_rates(global_rate=global_rate, per_chat_rate=per_chat_rate)
        async with SandboxServer(limits=limits, port=port) as sandbox:
            for user_id in range(1, users + 1):
                sandbox.add_user(f"Member {user_id}", user_id=user_id)
            gc.collect()
            gc.disable()
            print("ready", flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())


class Sandbox:
    def __init__(self, users: int, global_rate: float | None, per_chat_rate: float | None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        args = [str(self.port), str(users), str(global_rate or 0), str(per_chat_rate or 0)]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.broadcast", "--serve", *args], stdout=subprocess.PIPE, text=True
        )

    def __enter__(self) -> Self:
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != "ready":
            raise RuntimeError("the sandbox did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)

    def stats(self) -> dict[str, Any]:
        import httpx

        return httpx.get(f"{self.base_url}/sandbox/stats", timeout=30).json()


# --- the database ------------------------------------------------------------------------------------


async def populate(url: str, members: int) -> None:
    """Members 1..N, each with the chat of the same id."""
    from sqlalchemy import insert, select

    from db.engine import create_engine
    from db.models import Member, Tier

    now = datetime.now(UTC)
    engine = create_engine(url)
    async with engine.begin() as connection:
        tier_id = await connection.scalar(select(Tier.id).order_by(Tier.rank).limit(1))
        for first in range(1, members + 1, CHUNK):
            rows = [
                {"id": n, "member_number": f"B{n:09d}", "telegram_id": n, "locale": "en", "enrolled_via": "chat",
                 "consent_version": "bench", "consented_at": now, "points_balance": n % 5_000, "tier_id": tier_id,
                 "tier_since": now, "created_at": now, "updated_at": now}
                for n in range(first, min(members, first + CHUNK - 1) + 1)
            ]
            await connection.execute(insert(Member), rows)
    await engine.dispose()


async def new_campaign(url: str, members: int) -> int:
    """A sending campaign to members 1..N, every row due now."""
    from sqlalchemy import insert

    from db.crypto import FieldCipher
    from db.engine import create_engine, create_session_factory
    from db.models import Campaign, CampaignRecipient
    from db.uow import UnitOfWorkFactory

    now = datetime.now(UTC)
    engine = create_engine(url)
    async with engine.begin() as connection:
        campaign_id = await connection.scalar(
            insert(Campaign).values(
                name="Member day", status="sending", texts=TEXT, buttons=[], audience={}, send_at=now, holdout_pct=0,
                seed="bench", attribution_days=7, created_by="staff:1", created_at=now, started_at=now,
                audience_size=members,
            ).returning(Campaign.id)
        )
        for first in range(1, members + 1, CHUNK):
            rows = [
                {"campaign_id": campaign_id, "member_id": n, "status": "pending", "deliver_after": now, "attempts": 0,
                 "deferred": False}
                for n in range(first, min(members, first + CHUNK - 1) + 1)
            ]
            await connection.execute(insert(CampaignRecipient), rows)
    async with UnitOfWorkFactory(create_session_factory(engine), FieldCipher(SECRET))() as uow:
        await uow.campaigns.refresh_recipient_statistics()  # as a campaign's start does
        await uow.commit()
    await engine.dispose()
    assert campaign_id is not None
    return campaign_id


# --- the runs ----------------------------------------------------------------------------------------


@dataclass
class Drained:
    members: int
    seconds: float
    sent: int
    peak_kib: float | None = None

    @property
    def rate(self) -> float:
        return self.sent / self.seconds


async def drain(url: str, base_url: str, members: int, rate: float | None, *, trace: bool = False) -> Drained:
    from sqlalchemy import func, select

    from bot.broadcast import BroadcastClient, BroadcastEngine
    from db.crypto import FieldCipher
    from db.engine import create_engine, create_session_factory
    from db.models import CampaignRecipient
    from db.uow import UnitOfWorkFactory
    from entrypoints.runtime import freeze_startup_heap
    from loyalty.clock import SystemClock
    from loyalty.config import Settings

    campaign_id = await new_campaign(url, members)
    engine = create_engine(url)
    factory = UnitOfWorkFactory(create_session_factory(engine), FieldCipher(SECRET))
    settings = Settings(_env_file=None, environment="test", secret_key=SECRET, database_url=url)  # type: ignore[call-arg]
    client = BroadcastClient(TOKEN, base_url)
    sender = BroadcastEngine(
        client, factory, SystemClock(), settings, rate=rate, per_chat_rate=1.0,
        concurrency=CONCURRENCY if rate is None else None,
    )
    async with factory() as uow:
        await uow.ping()
    freeze_startup_heap()  # as `loyalty campaigns send` and `loyalty run` do before sending
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    await sender.drain(campaign_id)
    seconds = time.perf_counter() - started
    peak = None
    if trace:
        peak = tracemalloc.get_traced_memory()[1] / 1024
        tracemalloc.stop()
    async with factory() as uow:
        sent = await uow.session.scalar(
            select(func.count()).where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == "sent")
        )
    await client.close()
    await engine.dispose()
    assert sent == members, f"{sent} of {members} sent"
    return Drained(members, seconds, int(sent or 0), peak)


async def bare_loop(base_url: str, members: int) -> float:
    """sendMessage posted with aiohttp alone, CONCURRENCY at a time: what the sandbox takes."""
    import aiohttp

    queue: asyncio.Queue[int] = asyncio.Queue()
    for chat in range(1, members + 1):
        queue.put_nowait(chat)
    url = f"{base_url}/bot{TOKEN}/sendMessage"

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            chat = queue.get_nowait()
            payload = {"chat_id": chat, "text": f"Member day, B{chat:09d}: you hold {chat} points as Member. See you!",
                       "parse_mode": "HTML"}
            async with session.post(url, json=payload) as response:
                body = await response.json()
                assert body["ok"], body

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
        return members / (time.perf_counter() - started)


def run_one(kind: str, sizes: dict[str, Any]) -> dict[str, Any]:
    largest = max(sizes["free"], sizes["paid"], sizes["ceiling"], *sizes["memory"])
    result: dict[str, Any] = {"database": kind}
    with scratch_database(kind) as url:
        asyncio.run(populate(url, largest))

        for phase, limit in (("free", 30.0), ("paid", 1_000.0)):
            members = sizes[phase]
            with Sandbox(members, limit, 1.0) as sandbox:
                drained = asyncio.run(drain(url, sandbox.base_url, members, limit))
                stats = sandbox.stats()
            ratio = stats["sustained_rate"] / limit
            result[phase] = {
                "members": members, "limit": limit, "sustained": round(stats["sustained_rate"], 2),
                "ratio": round(ratio, 4), "rate_limited": stats["rate_limited"], "seconds": round(drained.seconds, 1),
            }
            print(
                f"{kind:8} {members:>6,} members at {limit:,.0f} msg/s: sustained {stats['sustained_rate']:.2f} msg/s "
                f"= {ratio:.1%} of the limit, {stats['rate_limited']} 429s, {drained.seconds:.1f} s in all",
                flush=True,
            )

        members = sizes["ceiling"]
        with Sandbox(members, None, None) as sandbox:
            bare = asyncio.run(bare_loop(sandbox.base_url, members))
        with Sandbox(members, None, None) as sandbox:
            drained = asyncio.run(drain(url, sandbox.base_url, members, None))
        result["ceiling"] = {
            "members": members, "engine": round(drained.rate, 1), "bare": round(bare, 1),
            "ratio": round(drained.rate / bare, 3),
        }
        print(
            f"{kind:8} {members:>6,} members, no limit: {drained.rate:,.0f} msg/s vs a bare aiohttp loop's "
            f"{bare:,.0f} msg/s = {drained.rate / bare:.2f}x (both {CONCURRENCY} in flight)",
            flush=True,
        )

        peaks = []
        for members in sizes["memory"]:
            with Sandbox(members, None, None) as sandbox:
                traced = asyncio.run(drain(url, sandbox.base_url, members, None, trace=True))
            assert traced.peak_kib is not None
            peaks.append({"members": members, "peak_kib": round(traced.peak_kib)})
        small, big = peaks
        growth = big["peak_kib"] / small["peak_kib"]
        result["memory"] = {"peaks": peaks, "growth": round(growth, 2)}
        print(
            f"{kind:8} peak memory of a drain (tracemalloc): {small['peak_kib']:,} KiB at {small['members']:,} members, "
            f"{big['peak_kib']:,} KiB at {big['members']:,} ({big['members'] // small['members']}x the audience, "
            f"{growth:.2f}x the memory)",
            flush=True,
        )
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        port, users, rate, per_chat = sys.argv[2:6]
        serve_sandbox(int(port), int(users), float(rate) or None, float(per_chat) or None)
        return
    parse = parser(__doc__ or "")
    parse.set_defaults(database="sqlite")
    args = parse.parse_args()
    sizes = QUICK if args.quick else FULL
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    runs = [run_one(kind, sizes) for kind in databases(args.database)]
    first = runs[0]
    report(
        {
            "benchmark": "broadcast",
            "figure": first["free"]["sustained"],
            "unit": "msg/s",
            "baseline": first["free"]["limit"],
            "ratio": first["free"]["ratio"],
            "target": 0.97,
            "database": first["database"],
            "paid_ratio": first["paid"]["ratio"],
            "paid_target": 0.95,
            "ceiling_ratio": first["ceiling"]["ratio"],
            "runs": runs,
        }
    )


if __name__ == "__main__":
    main()
