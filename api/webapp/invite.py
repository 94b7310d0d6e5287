"""`GET /app/api/invite`: the member's invite link while the referral program is on, and the
address of Telegram's share dialog carrying it (loyalty/referrals.py), as /invite gives them in
the chat."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.deps import SettingsDep, UowDep
from api.webapp.auth import MemberCaller
from api.webapp.join import bot_username
from api.webapp.words import words_for
from loyalty import referrals

router = APIRouter()


class Invite(BaseModel):
    active: bool  # the merchant's referral program is on
    link: str | None  # t.me/<bot>?start=ref_<code>; None while off, or when the bot's name is unknown
    share_url: str | None  # Telegram's share dialog with the link and a line about the program


@router.get("/invite", response_model=Invite)
async def invite(request: Request, caller: MemberCaller, uow: UowDep, settings: SettingsDep) -> Invite:
    member = caller.member
    assert member is not None
    terms = await referrals.current_terms(uow)
    if terms is None or not terms.active:
        return Invite(active=False, link=None, share_url=None)
    code = await referrals.code_for(uow, member)
    await uow.release()  # nothing held while Telegram is asked the bot's name
    username = await bot_username(request, settings)
    if username is None:
        return Invite(active=True, link=None, share_url=None)
    link = referrals.invite_link(username, code)
    pitch = words_for(caller.locale)["card.invite_pitch"].format(program=settings.program_name)
    return Invite(active=True, link=link, share_url=referrals.share_link(link, pitch))
