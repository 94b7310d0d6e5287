"""Tiers, earning rules and stores: the program's configuration, managed by the merchant."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
