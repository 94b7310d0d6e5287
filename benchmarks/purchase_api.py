"""Purchases through the real HTTP API against the same server's no-op endpoint.

Both run in one server process against one database, with the same client, concurrency and
authentication, so the ratio shows what recording a purchase (member lock, idempotency check,
earning rules, ledger entry and lot, tier check, notification) costs over the bare request.

    python -m benchmarks.purchase_api [--quick] [--database sqlite|postgres|both]

Target: purchase throughput >= 0.3 x the no-op's, purchase p99 <= 4 x the no-op's p99.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx

from benchmarks.common import (
    Timing,
    databases,
    parser,
    report,
    scratch_database,
    served_api,
)

CONCURRENCY = 16
TARGET_RATIO = 0.3
TARGET_P99_FACTOR = 4.0


async def _prepare(database_url: str, secret: str, members: int) -> tuple[str, list[str], str]:
    from db.crypto import FieldCipher
    from db.engine import create_engine, create_session_factory
    from db.models import Store
    from db.uow import UnitOfWorkFactory
    from loyalty.apikeys import create_api_key
    from loyalty.clock import SystemClock
    from loyalty.config import Settings
    from loyalty.members import enrol_at_till

    engine = create_engine(database_url)
    factory = UnitOfWorkFactory(create_session_factory(engine), FieldCipher(secret))
    clock = SystemClock()
    settings = Settings(_env_file=None, secret_key=secret)  # type: ignore[call-arg]
    async with factory() as uow:
        key = await create_api_key(uow, clock, "bench")
    async with factory() as uow:
        uow.session.add(Store(code="S001", name="Bench store", city="Shanghai", timezone="Asia/Shanghai", active=True, created_at=clock.now()))
        await uow.commit()
    numbers = []
    for n in range(members):
        async with factory() as uow:
            member = await enrol_at_till(
                uow, clock, settings, phone_e164=f"+86139{n:08d}", consent_version="bench", locale="en", actor="bench"
            )
            numbers.append(member.member_number)
    await engine.dispose()
    return key, numbers, "S001"


async def _load(base: str, key: str, total: int, make_request) -> Timing:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=60) as client:

        async def worker() -> None:
            for n in counter:
                started = time.perf_counter()
                response = await make_request(client, n)
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 300:
                    raise RuntimeError(f"{response.status_code}: {response.text}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return Timing(len(latencies), elapsed, latencies)


def run_one(kind: str, requests: int, members: int) -> dict[str, float | str]:
    secret = secrets.token_urlsafe(48)
    with scratch_database(kind) as url:
        key, numbers, store = asyncio.run(_prepare(url, secret, members))
        with served_api(url, secret) as base:
            run_tag = secrets.token_hex(3)

            async def noop(client: httpx.AsyncClient, n: int) -> httpx.Response:
                return await client.get("/api/v1/noop")

            async def purchase(client: httpx.AsyncClient, n: int) -> httpx.Response:
                return await client.post(
                    "/api/v1/purchases",
                    json={
                        "member": {"member_number": numbers[n % len(numbers)]},
                        "order_id": f"{run_tag}-{n}",
                        "store": store,
                        "amount_minor": 1000 + n % 50_000,
                        "currency": "CNY",
                    },
                )

            asyncio.run(_load(base, key, requests // 5, noop))  # warm-up: connections, caches
            baseline = asyncio.run(_load(base, key, requests, noop))
            figure = asyncio.run(_load(base, key, requests, purchase))
    result = {
        "database": kind,
        "purchase_rps": round(figure.throughput, 1),
        "noop_rps": round(baseline.throughput, 1),
        "ratio": round(figure.throughput / baseline.throughput, 3),
        "purchase_p50_ms": round(figure.p50 * 1000, 2),
        "purchase_p99_ms": round(figure.p99 * 1000, 2),
        "noop_p50_ms": round(baseline.p50 * 1000, 2),
        "noop_p99_ms": round(baseline.p99 * 1000, 2),
        "p99_factor": round(figure.p99 / baseline.p99, 2),
    }
    print(
        f"{kind:8} purchases {result['purchase_rps']:>7} req/s p50 {result['purchase_p50_ms']} ms "
        f"p99 {result['purchase_p99_ms']} ms | no-op {result['noop_rps']:>7} req/s p50 {result['noop_p50_ms']} ms "
        f"p99 {result['noop_p99_ms']} ms | throughput ratio {result['ratio']} (target >= {TARGET_RATIO}), "
        f"p99 factor {result['p99_factor']} (target <= {TARGET_P99_FACTOR})",
        flush=True,
    )
    return result


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    requests, members = (300, 50) if args.quick else (3000, 500)
    results = [run_one(kind, requests, members) for kind in databases(args.database)]
    worst = min(results, key=lambda r: float(r["ratio"]))
    report(
        {
            "benchmark": "purchase_api",
            "figure": worst["purchase_rps"],
            "unit": "purchases/s",
            "baseline": worst["noop_rps"],
            "ratio": worst["ratio"],
            "target": TARGET_RATIO,
            "database": worst["database"],
            "p99_factor": worst["p99_factor"],
            "p99_target": TARGET_P99_FACTOR,
            "runs": results,
        }
    )


if __name__ == "__main__":
    main()
