"""The Mini App's settings: the member's language, the message topics they mute, and their data,
theirs to export or erase, by the same rules as /language, /settings and /privacy in the chat.

- Export is offered as a download: the JSON file the chat's /privacy export sends (the page saves
  it). Nothing is sent to the chat, so it works for a member who blocked the bot too.
- Erasure is confirmed twice, as in the chat: the page asks "Delete your membership?", then
  `POST .../erase/ask` answers what would be lost with a short-lived signed confirmation
  (loyalty/erasure_confirmation.py), and only `POST .../erase` with that confirmation erases.
  Without it, or with a forged or old one: 422, and nothing is written.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import ClockDep, SettingsDep, UowDep
from api.webapp.auth import MemberCaller
from api.webapp.own import member_of
from loyalty import data_export, erasure, erasure_confirmation
from loyalty.config import SUPPORTED_LOCALES
from loyalty.i18n import localized
from loyalty.members import set_locale
from loyalty.nudges import preferences
from loyalty.nudges.kinds import TOPICS

router = APIRouter()

MEMBER_ACTOR = "app"  # how the ledger records what a member does in the Mini App


class TopicPublic(BaseModel):
    topic: str
    on: bool  # false: muted


class SettingsPublic(BaseModel):
    locale: str
    locales: list[str]
    topics: list[TopicPublic]


class LanguageChange(BaseModel):
    locale: str = Field(max_length=16)


class TopicChange(BaseModel):
    on: bool


class ErasureAsked(BaseModel):
    """What erasing the membership takes away, and the confirmation that erases it."""

    points: int
    coupons: int
    reward_codes: int
    tier: str
    confirmation: str
    confirm_within_seconds: int


class ErasureConfirm(BaseModel):
    confirmation: str = Field(min_length=1, max_length=80)


class ErasedPublic(BaseModel):
    member_number: str
    points_forfeited: int
    coupons_voided: int
    reward_codes_cancelled: int


def _settings(locale: str, muted: frozenset[str]) -> SettingsPublic:
    return SettingsPublic(
        locale=locale,
        locales=list(SUPPORTED_LOCALES),
        topics=[TopicPublic(topic=topic, on=topic not in muted) for topic in TOPICS],
    )


@router.get("/settings", summary="The caller's language and message topics")
async def my_settings(caller: MemberCaller, uow: UowDep) -> SettingsPublic:
    return _settings(member_of(caller).locale, await preferences.mutes(uow, member_of(caller)))


@router.put("/settings/language", summary="Set the caller's language (en or zh_CN)")
async def change_language(body: LanguageChange, caller: MemberCaller, uow: UowDep, clock: ClockDep) -> SettingsPublic:
    member = await set_locale(uow, clock, member_of(caller), body.locale)  # another: 422, nothing written
    return _settings(member.locale, await preferences.mutes(uow, member))


@router.put("/settings/topics/{topic}", summary="Mute (on: false) or unmute a topic of messages")
async def change_topic(
    topic: Annotated[str, Path(max_length=32)], body: TopicChange, caller: MemberCaller, uow: UowDep, clock: ClockDep
) -> SettingsPublic:
    muted = await preferences.set_muted(uow, clock, member_of(caller), topic, not body.on)  # unknown topic: 422
    return _settings(member_of(caller).locale, muted)


@router.get("/privacy/export", summary="Everything stored about the caller, as the chat's JSON export")
async def export_my_data(caller: MemberCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> Response:
    # A member's own read is not audited, as in the chat: the trail holds staff and API actions.
    export = await data_export.export_member(uow, settings, member_of(caller), now=clock.now())
    name = f"my-data-{export.profile.member_number}-{export.exported_at.date().isoformat()}.json"
    return Response(
        export.model_dump_json(indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.post("/privacy/erase/ask", summary="What erasing the caller's membership would take, and its confirmation")
async def ask_erase(caller: MemberCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> ErasureAsked:
    now = clock.now()
    lost = await erasure.losses(uow, settings, member_of(caller), now=now)
    return ErasureAsked(
        points=lost.points,
        coupons=lost.coupons,
        reward_codes=lost.reward_codes,
        tier=localized(lost.tier.names, caller.locale),
        confirmation=erasure_confirmation.new_token(settings.require_secret_key(), member_of(caller).member_number, now),
        confirm_within_seconds=int(erasure_confirmation.CONFIRM_FOR.total_seconds()),
    )


@router.post("/privacy/erase", summary="Erase the caller's membership for good, with the confirmation asked for")
async def erase(
    body: ErasureConfirm, caller: MemberCaller, uow: UowDep, clock: ClockDep, settings: SettingsDep
) -> ErasedPublic:
    member = member_of(caller)
    erasure_confirmation.check_token(
        settings.require_secret_key(), member.member_number, body.confirmation, clock.now()
    )
    outcome, _ = await erasure.erase_member(uow, clock, member.id, actor=MEMBER_ACTOR, audited=False)
    return ErasedPublic(
        member_number=outcome.member_number,
        points_forfeited=outcome.points_forfeited,
        coupons_voided=outcome.coupons_voided,
        reward_codes_cancelled=outcome.reward_codes_cancelled,
    )
