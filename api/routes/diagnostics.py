"""Endpoints for operating the API, with no effect on the program."""

from __future__ import annotations

from fastapi import APIRouter

from api.schemas import OkPublic

router = APIRouter(tags=["diagnostics"])


@router.get(
    "/noop",
    include_in_schema=False,  # the benchmarks' baseline, not part of the merchant's API
    summary="Authenticated no-op (diagnostics)",
    description=(
        "Checks the API key and does nothing else. Benchmarks measure the other endpoints "
        "against it: its latency is the cost of HTTP plus authentication."
    ),
)
async def noop() -> OkPublic:
    return OkPublic()
