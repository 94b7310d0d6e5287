"""Offers near me: a shared location (the menu's request_location button, or any location sent)
answers with the nearest open stores within the configured radius, nearest first, each with a
button that sends the store as a venue for navigation. With none open nearby, the nearest store
anywhere is shown instead. Guests may use it too, with a hint to join.

Telegram only sends possible coordinates, but an update can be forged: impossible ones are
refused politely. A venue button's store id is re-checked when pressed (active, on the map)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import StoreVenueCallback
from bot.render import Texts, plain
from db.models import Member
from db.uow import UnitOfWork
from loyalty import geo, stores
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import InvalidInput, StoreNotFound

NEARBY_LIMIT = 5


def _entry(hit: stores.NearbyStore) -> dict[str, object]:
    store = hit.store
    return {"name": store.name, "address": store.address or store.city, "distance": hit.distance_m}


def _venue_buttons(texts: Texts, hits: list[stores.NearbyStore]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for hit in hits:
        builder.button(
            text=texts("nearby/buttons/navigate", name=plain(hit.store.name)),
            callback_data=StoreVenueCallback(store_id=hit.store.id),
        )
    builder.adjust(1)
    return builder.as_markup()


async def show_nearby(
    message: Message, member: Member | None, uow: UnitOfWork, clock: Clock, texts: Texts, settings: Settings
) -> None:
    assert message.location is not None
    now = clock.now()
    latitude, longitude = message.location.latitude, message.location.longitude
    try:
        hits = await stores.nearest_stores(
            uow, latitude, longitude, now=now, radius_m=settings.nearby_radius_m, limit=NEARBY_LIMIT, open_only=True
        )
        nearest = [] if hits else await stores.nearest_stores(
            uow, latitude, longitude, now=now, radius_m=geo.HALF_CIRCUMFERENCE_M, limit=1
        )
    except InvalidInput:  # impossible coordinates: only a forged update carries them
        await uow.rollback()
        await message.answer(texts("nearby/bad_location"))
        return
    await uow.release()
    is_member = member is not None
    if hits:
        await message.answer(
            texts("nearby/list", stores=[_entry(hit) for hit in hits], is_member=is_member),
            reply_markup=_venue_buttons(texts, hits),
        )
        return
    anyway = nearest[0] if nearest else None
    await message.answer(
        texts(
            "nearby/none",
            radius=settings.nearby_radius_m,
            store=_entry(anyway) if anyway else None,
            open_now=anyway is not None and geo.is_open(anyway.store.opening_hours, anyway.store.timezone, now),
            is_member=is_member,
        ),
        reply_markup=_venue_buttons(texts, nearest) if nearest else None,
    )


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
    router.callback_query.register(send_venue, StoreVenueCallback.filter())
    return router
