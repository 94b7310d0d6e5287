"""Sign-up: /start -> consent -> own phone number -> optional birthday -> optional city.

Until the member shares their phone nothing is written to the database: consent and the /start
payload wait in FSM data, so a chat that declines or walks away leaves no trace.
"""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove

from bot import keyboards
from bot.callbacks import ConsentAnswer, ConsentCallback
from bot.card import send_card
from bot.filters import ButtonText
from bot.render import Texts, region_of, texts_for
from bot.states import SignUp
from db.models import Member
from db.uow import UnitOfWork
from loyalty import coupons, members, referrals
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.errors import InvalidBirthday, InvalidCity, InvalidPhone, PhoneTaken
from loyalty.profile import clean_start_payload, normalize_verified_phone
from loyalty.quiet_hours import member_zone

# Commands typed mid-sign-up (/help, /cancel, /language) belong to their own routers.
NOT_COMMAND = ~F.text.startswith("/")


async def start(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    member: Member | None,
    uow: UnitOfWork,
    texts: Texts,
    settings: Settings,
    clock: Clock,
) -> None:
    payload = clean_start_payload(command.args)
    if member is not None:
        await state.clear()
        if referrals.code_from_payload(payload) is not None:
            await message.answer(texts("referrals/already_member"))  # and nothing changes
        await send_card(message, member, uow, texts, settings)
        return
    await referrals.link_opened(uow, clock, payload)
    await state.set_state(SignUp.consent)
    await state.update_data(payload=payload)
    assert message.from_user is not None
    await message.answer(
        texts("start/greeting", name=message.from_user.first_name, program=settings.program_name),
        reply_markup=ReplyKeyboardRemove(),
    )
    await message.answer(
        texts("signup/consent", version=settings.privacy_version, url=settings.privacy_url),
        reply_markup=keyboards.consent(texts),
        disable_web_page_preview=True,
    )


async def consent_answer(
    query: CallbackQuery,
    callback_data: ConsentCallback,
    state: FSMContext,
    texts: Texts,
    clock: Clock,
) -> None:
    await query.answer()
    declined = callback_data.answer is ConsentAnswer.decline
    if isinstance(query.message, Message) and query.message.text is not None:
        # The answer goes into the consent message itself (an edit), so the chat keeps a record
        # of what was agreed without spending a message on it.
        outcome = texts("signup/consent_declined_note" if declined else "signup/consent_noted")
        await query.message.edit_text(
            f"{query.message.html_text}\n\n{outcome}", reply_markup=None, disable_web_page_preview=True
        )
    if declined:
        await state.set_state(None)
        await state.update_data(payload=None)
        await _reply(query, texts("signup/declined"), reply_markup=ReplyKeyboardRemove())
        return
    await state.update_data(consented_at=clock.now().isoformat())
    await state.set_state(SignUp.phone)
    await _reply(query, texts("signup/ask_phone"), reply_markup=keyboards.share_phone(texts))


async def consent_pending(message: Message, texts: Texts) -> None:
    await message.answer(
        texts("signup/consent_pending", agree=texts("buttons/agree"), decline=texts("buttons/decline"))
    )


async def phone_shared(
    message: Message,
    state: FSMContext,
    texts: Texts,
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
) -> None:
    assert message.contact is not None and message.from_user is not None
    button = texts("buttons/share_phone")
    # A forwarded or picked contact carries someone else's user_id (or none): only the
    # member's own number, confirmed by Telegram, may become their identity at the till.
    if message.contact.user_id != message.from_user.id:
        await message.answer(texts("signup/phone_not_own", button=button))
        return
    try:
        phone = normalize_verified_phone(message.contact.phone_number, settings.phone_region)
    except InvalidPhone:
        await message.answer(texts("errors/invalid_phone", button=button))
        return
    data = await state.get_data()
    try:
        registration = await members.register_from_chat(
            uow,
            clock,
            settings,
            telegram_id=message.from_user.id,
            phone_e164=phone,
            locale=texts.locale,
            consent=members.Consent(
                version=settings.privacy_version,
                given_at=datetime.fromisoformat(data["consented_at"]),
            ),
            start_payload=data.get("payload"),
            first_name=message.from_user.first_name,
        )
    except PhoneTaken:
        await state.clear()
        await message.answer(texts("errors/phone_taken"), reply_markup=ReplyKeyboardRemove())
        return
    await state.set_data({})
    await state.set_state(SignUp.birthday)
    if registration.linked_existing:
        await message.answer(
            texts("signup/linked_existing", member_number=registration.member.member_number)
        )
    # After the sign-up's own commit: whatever the link turns out to be, the member has joined.
    joined = await referrals.join(
        uow, clock, settings, friend_id=registration.member.id, payload=data.get("payload"),
        linked_existing=registration.linked_existing,
    )
    if joined is not None and joined.refused not in (None, referrals.Refusal.OFF):
        await message.answer(texts("referrals/refused", reason=joined.refused))
    await message.answer(
        texts("signup/ask_birthday", skip=texts("buttons/skip")), reply_markup=keyboards.skip(texts)
    )


async def phone_cancelled(message: Message, state: FSMContext, texts: Texts) -> None:
    await state.clear()
    await message.answer(texts("signup/cancelled"), reply_markup=ReplyKeyboardRemove())


async def phone_typed(message: Message, texts: Texts) -> None:
    await message.answer(
        texts("signup/phone_use_button", button=texts("buttons/share_phone")),
        reply_markup=keyboards.share_phone(texts),
    )


async def birthday_skipped(message: Message, state: FSMContext, texts: Texts) -> None:
    await _ask_city(message, state, texts)


async def birthday_given(
    message: Message,
    state: FSMContext,
    texts: Texts,
    uow: UnitOfWork,
    clock: Clock,
    member: Member | None,
    settings: Settings,
) -> None:
    if member is None:  # the membership was removed while the chat was mid-sign-up
        await state.clear()
        await message.answer(texts("card/need_signup"), reply_markup=ReplyKeyboardRemove())
        return
    assert message.text is not None
    try:
        await members.set_birthday(uow, clock, settings, member, message.text)
    except InvalidBirthday as error:
        await message.answer(
            texts("signup/birthday_invalid", reason=error.reason, skip=texts("buttons/skip")),
            reply_markup=keyboards.skip(texts),
        )
        return
    await _ask_city(message, state, texts)


async def city_skipped(
    message: Message,
    state: FSMContext,
    texts: Texts,
    member: Member | None,
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
) -> None:
    await _welcome(message, state, texts, member, uow, clock, settings)


async def city_given(
    message: Message,
    state: FSMContext,
    texts: Texts,
    uow: UnitOfWork,
    clock: Clock,
    member: Member | None,
    settings: Settings,
) -> None:
    assert message.text is not None
    if member is not None:
        try:
            await members.set_city(uow, clock, settings, member, message.text)
        except InvalidCity as error:
            await message.answer(
                texts("signup/city_invalid", reason=error.reason, skip=texts("buttons/skip")),
                reply_markup=keyboards.skip(texts),
            )
            return
    await _welcome(message, state, texts, member, uow, clock, settings)


async def profile_needs_text(message: Message, texts: Texts) -> None:
    await message.answer(
        texts("signup/use_text", skip=texts("buttons/skip")), reply_markup=keyboards.skip(texts)
    )


async def _ask_city(message: Message, state: FSMContext, texts: Texts) -> None:
    await state.set_state(SignUp.city)
    await message.answer(
        texts("signup/ask_city", skip=texts("buttons/skip")), reply_markup=keyboards.skip(texts)
    )


async def _welcome(
    message: Message,
    state: FSMContext,
    texts: Texts,
    member: Member | None,
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
) -> None:
    await state.clear()
    if member is None:
        await message.answer(texts("card/need_signup"), reply_markup=ReplyKeyboardRemove())
        return
    texts = texts_for(texts.locale, region_of(member.city))  # the city may have just been given
    now = clock.now()
    gifts = await coupons.usable_coupons(uow, member, now=now, zone=member_zone(member, settings))
    await message.answer(
        texts(
            "signup/welcome",
            program=settings.program_name,
            coupons=await coupons.describe(uow, gifts, texts.locale),
        )
    )
    await send_card(message, member, uow, texts, settings)


async def _reply(query: CallbackQuery, text: str, **kwargs: object) -> None:
    if query.message is not None:
        await query.bot.send_message(query.message.chat.id, text, **kwargs)  # type: ignore[union-attr, arg-type]


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.callback_query.register(consent_answer, SignUp.consent, ConsentCallback.filter())
    router.message.register(consent_pending, SignUp.consent, NOT_COMMAND)
    router.message.register(phone_shared, SignUp.phone, F.contact)
    router.message.register(phone_cancelled, SignUp.phone, ButtonText("buttons/cancel"))
    router.message.register(phone_typed, SignUp.phone, NOT_COMMAND)
    router.message.register(birthday_skipped, SignUp.birthday, ButtonText("buttons/skip"))
    router.message.register(birthday_given, SignUp.birthday, F.text, NOT_COMMAND)
    router.message.register(city_skipped, SignUp.city, ButtonText("buttons/skip"))
    router.message.register(city_given, SignUp.city, F.text, NOT_COMMAND)
    router.message.register(profile_needs_text, SignUp.birthday, NOT_COMMAND)
    router.message.register(profile_needs_text, SignUp.city, NOT_COMMAND)
    return router
