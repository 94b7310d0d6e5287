"""The reward catalogue, and the till confirming a redeemed reward."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
