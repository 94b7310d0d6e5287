"""Shapes every part of the API shares."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ErrorPublic(BaseModel):
    detail: str
    code: str | None = None


class HealthPublic(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]


class OkPublic(BaseModel):
    ok: Literal[True] = True

