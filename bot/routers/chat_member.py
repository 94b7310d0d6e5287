"""Telegram tells the bot when a member blocks or unblocks it: keep the data, stop sending."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import KICKED, MEMBER, ChatMemberUpdatedFilter
from aiogram.types import ChatMemberUpdated

from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.members import set_chat_reachable


async def blocked(event: ChatMemberUpdated, uow: UnitOfWork, clock: Clock) -> None:
    await set_chat_reachable(uow, clock, event.from_user.id, reachable=False)


async def unblocked(event: ChatMemberUpdated, uow: UnitOfWork, clock: Clock) -> None:
    await set_chat_reachable(uow, clock, event.from_user.id, reachable=True)


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="chat_member")
    router.my_chat_member.register(blocked, ChatMemberUpdatedFilter(member_status_changed=KICKED))
    router.my_chat_member.register(unblocked, ChatMemberUpdatedFilter(member_status_changed=MEMBER))
    return router
