"""The staff's part of the bot: /broadcast, /campaigns and /console, for Telegram users with a row in
`staff` (loyalty/staff.py).

Everything here sits behind IsStaff, read from the database on each update, so a member never
reaches a staff handler: their /broadcast goes on to the fallback's unknown-command answer, and
a staff button they press (forged, or forwarded from a staff chat) is refused with an alert
and changes nothing."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery

from bot.callbacks import STAFF_PREFIX
from bot.filters import IsStaff
from bot.render import Texts
from bot.routers.staff import broadcast, campaigns, console, feedback


async def refuse(query: CallbackQuery, texts: Texts) -> None:
    await query.answer(texts("staff/refused"), show_alert=True)


async def stale(query: CallbackQuery, texts: Texts) -> None:
    # A staff payload no handler took: an old message's button, or one that does not unpack.
    await query.answer(texts("staff/stale"), show_alert=True)


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    root = Router(name="staff")
    guarded = Router(name="staff-only")
    guarded.message.filter(IsStaff())
    guarded.callback_query.filter(IsStaff())
    leftovers = Router(name="staff-stale")
    leftovers.callback_query.register(stale, F.data.startswith(STAFF_PREFIX))
    guarded.include_routers(broadcast.router(), campaigns.router(), console.router(), feedback.router(), leftovers)
    refusal = Router(name="staff-refusal")
    refusal.callback_query.register(refuse, F.data.startswith(STAFF_PREFIX))
    root.include_routers(guarded, refusal)
    return root
