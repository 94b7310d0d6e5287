"""What a large request body sent without an API key costs the API's process: its peak memory
(VmHWM) before and after a 50 MB JSON body, sent once with Content-Length and once chunked, to
POST /api/v1/members on the real server in its own process.

    python -m benchmarks.large_body [--quick] [--database sqlite|postgres|both]

Target: the peak grows by less than 5 MiB (bodies are limited to MAX_JSON_BODY_BYTES, 1 MiB, and
what is left is discarded as it arrives). Linux only: it reads /proc.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from benchmarks.common import databases, parser, report, scratch_database, served_api

TARGET_GROWTH_MIB = 5.0
CHUNK = 64 * 1024


def _server_pid(port: int) -> int:
    """The process listening on `port` that served_api started."""
    wanted = f"--port\0{port}\0".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if wanted in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
    raise RuntimeError(f"no process serves port {port}")


def _memory_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def _body(size: int) -> bytes:
    head, tail = b'{"phone": "+8613800138000", "consent": true, "note": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), CHUNK):
        yield body[start : start + CHUNK]


def run_one(kind: str, size: int) -> dict[str, object]:
    secret = secrets.token_urlsafe(48)
    body = _body(size)
    with scratch_database(kind) as url, served_api(url, secret) as base:
        pid = _server_pid(int(base.rsplit(":", 1)[1]))
        with httpx.Client(base_url=base, timeout=120) as client:
            client.get("/health")  # imports and the database pool warmed up
            before = _memory_mib(pid, "VmHWM")
            answers = []
            for label, content in (("declared", lambda: body), ("chunked", lambda: _chunks(body))):
                started = time.perf_counter()
                response = client.post(
                    "/api/v1/members", content=content(), headers={"Content-Type": "application/json"}
                )
                answers.append(
                    {"sent": label, "status": response.status_code, "seconds": round(time.perf_counter() - started, 2)}
                )
            peak = _memory_mib(pid, "VmHWM")
    result = {
        "database": kind,
        "body_mb": round(size / 1_000_000, 1),
        "peak_before_mib": round(before, 1),
        "peak_after_mib": round(peak, 1),
        "growth_mib": round(peak - before, 1),
        "answers": answers,
    }
    print(
        f"{kind:8} {result['body_mb']} MB bodies without a key: peak memory {result['peak_before_mib']} -> "
        f"{result['peak_after_mib']} MiB (+{result['growth_mib']}, target < {TARGET_GROWTH_MIB}); "
        + ", ".join(f"{a['sent']}: {a['status']} in {a['seconds']} s" for a in answers),
        flush=True,
    )
    return result


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    size = 10_000_000 if args.quick else 50_000_000
    results = [run_one(kind, size) for kind in databases(args.database)]
    worst = max(results, key=lambda r: float(r["growth_mib"]))  # type: ignore[arg-type]
    report(
        {
            "benchmark": "large_body",
            "figure": worst["growth_mib"],
            "unit": "MiB peak growth",
            "target": TARGET_GROWTH_MIB,
            "database": worst["database"],
            "runs": results,
        }
    )


if __name__ == "__main__":
    main()
