"""Offers near me: a shared location (the menu's request_location button, or any location sent)
answers with the nearest open stores within the configured radius, nearest first, each with the
member's coupons that store takes today and a button that sends the store as a venue for
navigation, then the offers every member gets now. With none open nearby, the nearest store
anywhere is shown instead. Guests may use it too, with a hint to join.

A live location keeps moving after that, as edited messages: each position is checked against
the stores' geofences (loyalty/geofence.py), which may owe the member one push.

What is near, and noting the member's time zone, is loyalty/nearby.py; this module answers.
Telegram only sends possible coordinates, but an update can be forged: impossible ones are
refused politely. A venue button's store id is re-checked when pressed (active, on the map)."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import StoreVenueCallback
from bot.coupons_view import coupon_buttons
from bot.render import Texts, plain
from db.models import Member
from db.uow import UnitOfWork
from loyalty import geo, geofence, nearby, stores
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import InvalidInput, StoreNotFound

log = logging.getLogger(__name__)


def _entry(hit: stores.NearbyStore, coupons_here: list[dict[str, Any]]) -> dict[str, object]:
    store = hit.store
    return {
        "name": store.name,
        "address": store.address or store.city,
        "distance": hit.distance_m,
        "coupons": coupons_here,
    }


def _keyboard(texts: Texts, hits: list[stores.NearbyStore], shown: list[dict[str, Any]]) -> InlineKeyboardMarkup:
    """Directions to each store, then a "show code" button for each coupon mentioned."""
    builder = InlineKeyboardBuilder()
    for hit in hits:
        builder.button(
            text=texts("nearby/buttons/navigate", name=plain(hit.store.name)),
            callback_data=StoreVenueCallback(store_id=hit.store.id),
        )
    builder.adjust(1)
    if shown:
        builder.attach(InlineKeyboardBuilder.from_markup(coupon_buttons(texts, shown)))
    return builder.as_markup()


async def show_nearby(
    message: Message, member: Member | None, uow: UnitOfWork, clock: Clock, texts: Texts, settings: Settings
) -> None:
    assert message.location is not None
    try:
        near = await nearby.what_is_near(
            uow, clock, settings, member,
            latitude=message.location.latitude, longitude=message.location.longitude, locale=texts.locale,
        )
    except InvalidInput:  # impossible coordinates: only a forged update carries them
        await message.answer(texts("nearby/bad_location"))
        return
    hits, nearest, by_store = near.hits, near.nearest, near.coupons_by_store
    # Each coupon once in the buttons, even when several of the stores take it.
    shown = list({coupon["id"]: coupon for listed in by_store.values() for coupon in listed}.values())
    is_member = member is not None
    if hits:
        await message.answer(
            texts(
                "nearby/list",
                stores=[_entry(hit, by_store.get(hit.store.id, [])) for hit in hits],
                offers=near.offers,
                coupon_count=len(shown),
                is_member=is_member,
            ),
            reply_markup=_keyboard(texts, hits, shown),
        )
        return
    anyway = nearest[0] if nearest else None
    await message.answer(
        texts(
            "nearby/none",
            radius=settings.nearby_radius_m,
            store=_entry(anyway, by_store.get(anyway.store.id, [])) if anyway else None,
            open_now=anyway is not None and geo.is_open(anyway.store.opening_hours, anyway.store.timezone, near.at),
            is_member=is_member,
        ),
        reply_markup=_keyboard(texts, nearest, shown) if nearest else None,
    )


async def live_location_moved(
    message: Message, member: Member | None, uow: UnitOfWork, clock: Clock, settings: Settings
) -> None:
    """A live location moved (Telegram sends it as an edited message): a push is owed if the
    member walked into a store's geofence with a coupon valid there. It goes out through the
    outbox; nothing is answered here, the member did not write anything."""
    assert message.location is not None
    if member is None:
        return
    try:
        check = await geofence.check_position(
            uow, clock, settings, member_id=member.id,
            latitude=message.location.latitude, longitude=message.location.longitude,
        )
    except InvalidInput:  # impossible coordinates: a forged update
        return
    log.debug("live location of member %s: %s", member.member_number, check.outcome)


async def send_venue(
    query: CallbackQuery, callback_data: StoreVenueCallback, uow: UnitOfWork, texts: Texts
) -> None:
    try:
        store = await stores.find_store_by_id(uow, callback_data.store_id)
    except StoreNotFound:  # forged, or closed down since the list was sent
        store = None
    await uow.release()
    if store is None or store.latitude is None or store.longitude is None or query.message is None:
        await query.answer(texts("nearby/unknown_store"), show_alert=True)
        return
    await query.answer()
    assert query.bot is not None
    await query.bot.send_venue(
        chat_id=query.message.chat.id,
        latitude=store.latitude,
        longitude=store.longitude,
        title=store.name,
        address=store.address or store.city or store.name,
    )


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="nearby")
    router.message.register(show_nearby, F.location)
    router.edited_message.register(live_location_moved, F.location)
    router.callback_query.register(send_venue, StoreVenueCallback.filter())
    return router
