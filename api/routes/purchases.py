"""Purchases and refunds from tills and the online shop, and members' points."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
