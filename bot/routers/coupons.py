"""/coupons: the member's usable coupons, soonest-ending first, each with what it is worth and
where it works; a button per coupon sends its code and QR for the till.

The button's coupon id is looked up again among the pressing member's own coupons, so a forged
or someone else's id finds nothing; a coupon used or ended since the list was sent is refused
with the reason."""

from __future__ import annotations

from datetime import date

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.callbacks import CouponCallback
from bot.coupons_view import MAX_LISTED, code_photo, coupon_buttons
from bot.filters import ButtonText
from bot.pictures import send_picture
from bot.render import Texts
from db.models import CouponStatus, Member
from db.uow import UnitOfWork
from loyalty import coupons
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import CouponNotFound
from loyalty.quiet_hours import member_zone


async def show_coupons(
    message: Message, member: Member | None, uow: UnitOfWork, clock: Clock, texts: Texts, settings: Settings
) -> None:
    if member is None:
        await message.answer(texts("card/need_signup"))
        return
    now = clock.now()
    zone = member_zone(member, settings)
    owned = await coupons.usable_coupons(uow, member, now=now, zone=zone, limit=MAX_LISTED)
    described = await coupons.describe(uow, owned, texts.locale)
    await uow.release()
    if not described:
        await message.answer(texts("coupons/none"))
        return
    await message.answer(
        texts("coupons/list", coupons=described, today=coupons.local_day(now, zone)),
        reply_markup=coupon_buttons(texts, described),
    )


async def show_code(
    query: CallbackQuery,
    callback_data: CouponCallback,
    member: Member | None,
    uow: UnitOfWork,
    clock: Clock,
    texts: Texts,
    settings: Settings,
) -> None:
    if member is None:
        await uow.rollback()
        await query.answer(texts("card/need_signup"), show_alert=True)
        return
    now = clock.now()
    zone = member_zone(member, settings)
    try:
        own = await coupons.member_coupon(uow, member, callback_data.coupon_id)
    except CouponNotFound:  # someone else's, or made up: the same answer either way
        own = None
    reason = _refusal(own, coupons.local_day(now, zone))
    if own is None or reason is not None:
        await uow.rollback()
        await query.answer(texts("coupons/refused", reason=reason or "unknown"), show_alert=True)
        return
    [described] = await coupons.describe(uow, [own], texts.locale)
    await uow.release()
    await query.answer()
    assert query.bot is not None
    await send_picture(query.bot, query.from_user.id, own.template.image_url)
    await query.bot.send_photo(
        query.from_user.id,
        code_photo(own.coupon.code),
        caption=texts("coupons/code", coupon=described, code=own.coupon.code, today=coupons.local_day(now, zone)),
    )


def _refusal(own: coupons.OwnCoupon | None, today: date) -> str | None:
    if own is None:
        return "unknown"
    if own.coupon.status == CouponStatus.USED:
        return "used"
    if own.coupon.status != CouponStatus.ISSUED:
        return "unknown"
    if own.coupon.valid_until < today:
        return "expired"
    return None


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="coupons")
    router.message.register(show_coupons, Command("coupons"))
    router.message.register(show_coupons, ButtonText("buttons/coupons"))
    router.callback_query.register(show_code, CouponCallback.filter())
    return router
