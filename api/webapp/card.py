"""`GET /app/api/card`: the member's card, with a freshly signed QR token (loyalty/card_tokens.py)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from api.deps import ClockDep, SettingsDep, UowDep
from api.webapp.auth import MemberCaller
from api.webapp.me import MemberSummary, member_summary
from api.webapp.qr import qr_svg
from loyalty import card_tokens

router = APIRouter()


class Card(MemberSummary):
    qr: str  # the token the QR holds, which the tills accept in place of the member number
    qr_svg: str
    qr_expires_at: datetime


@router.get("/card", response_model=Card)
async def card(caller: MemberCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> Card:
    member = caller.member
    assert member is not None
    summary = await member_summary(uow, member, caller, settings.currency)
    token = card_tokens.issue_for(settings, member.id, clock.now())
    return Card(**summary.model_dump(), qr=token.token, qr_svg=qr_svg(token.token), qr_expires_at=token.expires_at)
