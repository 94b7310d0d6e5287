"""Feature routers, included in one place, private chats only."""

from __future__ import annotations

from aiogram import F, Router

from bot.routers import (
    card,
    chat_member,
    coupons,
    fallback,
    feedback,
    help,
    invite,
    language,
    nearby,
    points,
    privacy,
    rewards,
    settings,
    staff,
    start,
)


def build_root_router() -> Router:
    root = Router(name="root")
    # Members talk to the bot one to one; group chats are not part of the product.
    root.message.filter(F.chat.type == "private")
    root.callback_query.filter(F.message.chat.type == "private")
    root.edited_message.filter(F.chat.type == "private")
    root.include_routers(
        start.router(),
        card.router(),
        points.router(),
        rewards.router(),
        coupons.router(),
        invite.router(),
        nearby.router(),
        language.router(),
        settings.router(),
        privacy.router(),
        feedback.router(),
        # Before help: /cancel in the middle of /broadcast belongs to the staff flow.
        staff.router(),
        help.router(),
        chat_member.router(),
        fallback.router(),
    )
    return root
