"""What a staff handler works with, handed over as one argument (`ctx`) instead of six.

StaffContextMiddleware is an inner middleware: it runs after the filters, so the staff role
IsStaff found is there to take, and only for the handlers of the routers it is registered on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

from bot.render import Texts
from db.models import Member
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.staff import Role

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class StaffContext:
    uow: UnitOfWork
    texts: Texts
    clock: Clock
    settings: Settings
    staff_role: Role
    member: Member | None  # the staff member's own membership, if they have one


class StaffContextMiddleware(BaseMiddleware):
    """Puts a StaffContext in the handler's data as `ctx`, from what the outer middlewares,
    the dispatcher and IsStaff put there."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        data["ctx"] = StaffContext(
            uow=data["uow"],
            texts=data["texts"],
            clock=data["clock"],
            settings=data["settings"],
            staff_role=data["staff_role"],
            member=data.get("member"),
        )
        return await handler(event, data)
