"""Bot API methods through a real aiogram Bot over HTTP: shapes, validation, error mapping."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge, TelegramForbiddenError
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BufferedInputFile,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonCommands,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)

from sandbox import BotIdentity, SandboxLimits, SandboxServer
from tests.sandbox.conftest import make_bot, png_bytes


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d) for t, d in buttons]]
    )


async def test_get_me_reports_the_configured_bot() -> None:
    identity = BotIdentity(id=4242, first_name="Coffee Club", username="coffee_club_bot")
    async with SandboxServer(bot=identity) as sandbox:
        bot = make_bot(sandbox, token="4242:any-well_formed-token")
        try:
            me = await bot.get_me()
        finally:
            await bot.session.close()
    assert (me.id, me.is_bot, me.first_name, me.username) == (
        4242,
        True,
        "Coffee Club",
        "coffee_club_bot",
    )


async def test_raw_http_token_method_name_and_encodings(sandbox: SandboxServer) -> None:
    user = sandbox.add_user("Ann")
    base = sandbox.base_url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/botnot-a-token/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with http.post(f"{base}/bot{sandbox.token}/sendTelepathy") as resp:
            assert resp.status == 404
            assert (await resp.json())["description"] == "Not Found"
        # Method names are case-insensitive; GET with a query string works.
        async with http.get(f"{base}/bot{sandbox.token}/GETME") as resp:
            assert (await resp.json())["result"]["id"] == sandbox.bot.id
        # A JSON body with native values...
        async with http.post(
            f"{base}/bot{sandbox.token}/sendMessage",
            json={"chat_id": user.id, "text": "json", "reply_markup": {"force_reply": True}},
        ) as resp:
            body = await resp.json()
            assert body["ok"] is True and body["result"]["text"] == "json"
        # ...and a urlencoded form with the markup JSON-encoded as a string.
        form = {"chat_id": str(user.id), "text": "form", "reply_markup": '{"force_reply":true}'}
        async with http.post(f"{base}/bot{sandbox.token}/sendMessage", data=form) as resp:
            assert (await resp.json())["result"]["text"] == "form"
    assert [m.text for m in sandbox.messages(user)] == ["json", "form"]
    assert sandbox.messages(user)[1].reply_markup == {"force_reply": True}


async def test_send_message_round_trip_stores_text_and_markup(
    sandbox: SandboxServer, bot: Bot
) -> None:
    user = sandbox.add_user("Ann", username="ann")
    sent = await bot.send_message(
        user.id,
        "<b>Welcome</b> to the club &amp; more",
        parse_mode="HTML",
        reply_markup=keyboard(("Agree", "terms:agree"), ("Decline", "terms:decline")),
    )
    assert isinstance(sent, Message)
    assert sent.chat.id == user.id and sent.chat.type == "private"
    assert sent.from_user is not None and sent.from_user.id == sandbox.bot.id
    assert sent.text == "Welcome to the club & more"
    assert sent.entities is not None and sent.entities[0].type == "bold"
    assert (sent.entities[0].offset, sent.entities[0].length) == (0, 7)
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][1].callback_data == "terms:decline"

    [stored] = sandbox.messages(user)
    assert stored.message_id == sent.message_id
    assert stored.raw_text == "<b>Welcome</b> to the club &amp; more"
    assert stored.parse_mode == "HTML"
    assert stored.button_labels == ["Agree", "Decline"]
    assert stored.reply_markup == {
        "inline_keyboard": [
            [
                {"text": "Agree", "callback_data": "terms:agree"},
                {"text": "Decline", "callback_data": "terms:decline"},
            ]
        ]
    }


async def test_text_length_limit_is_4096_characters(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    sandbox.set_limits(sandbox.limits.with_rates(global_rate=None, per_chat_rate=None))
    accepted = await bot.send_message(user.id, "x" * 4096)
    assert accepted.text is not None and len(accepted.text) == 4096
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(user.id, "x" * 4097)
    # Non-ASCII characters count as one character each, not as bytes.
    await bot.send_message(user.id, "漢" * 4096)
    assert len(sandbox.messages(user)) == 2


async def test_html_markup_does_not_count_toward_the_length(
    sandbox: SandboxServer, bot: Bot
) -> None:
    user = sandbox.add_user("Ann")
    sandbox.set_limits(sandbox.limits.with_rates(global_rate=None, per_chat_rate=None))
    bold = await bot.send_message(user.id, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert bold.entities is not None and bold.entities[0].length == 4096
    escaped = await bot.send_message(user.id, "&lt;" * 4096, parse_mode="HTML")
    assert escaped.text == "<" * 4096
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(user.id, "<i>" + "x" * 4097 + "</i>", parse_mode="HTML")
    # Without parse_mode the tags are text and do count.
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(user.id, "<b>" + "x" * 4094 + "</b>")


@pytest.mark.parametrize(
    ("html", "detail"),
    [
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("ok</b>", "Unexpected end tag at byte offset 2"),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ('<a href="https://x.org">x', 'Can\'t find end tag corresponding to start tag "a"'),
    ],
)
async def test_malformed_html_is_refused(
    sandbox: SandboxServer, bot: Bot, html: str, detail: str
) -> None:
    user = sandbox.add_user("Ann")
    with pytest.raises(TelegramBadRequest) as error:
        await bot.send_message(user.id, html, parse_mode="HTML")
    assert error.value.message == f"Bad Request: can't parse entities: {detail}"
    assert sandbox.messages(user) == []


async def test_every_supported_tag_is_accepted(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    html = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>"
        "<strike>k</strike><del>d</del><tg-spoiler>p</tg-spoiler>"
        '<span class="tg-spoiler">q</span><a href="https://example.org">a</a><code>c</code>'
        '<pre><code class="language-python">x = 1</code></pre><blockquote>bq</blockquote>'
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
    )
    sent = await bot.send_message(user.id, html, parse_mode="html")
    assert sent.text == "bsieunskdpqacx = 1bq👍"
    types = [e.type for e in sent.entities or []]
    assert types.count("bold") == 2 and types.count("spoiler") == 2
    assert {"text_link", "code", "pre", "blockquote", "custom_emoji"} <= set(types)
    pre = next(e for e in sent.entities or [] if e.type == "pre")
    assert pre.language == "python"


async def test_empty_text_and_bad_parse_mode(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    for text in ("   \n", "<b></b>", ""):
        with pytest.raises(TelegramBadRequest, match="message text is empty"):
            await bot.send_message(user.id, text, parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="unsupported parse_mode"):
        await bot.send_message(user.id, "hi", parse_mode="BBCode")


async def test_callback_data_over_64_bytes_is_refused(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    await bot.send_message(user.id, "ok", reply_markup=keyboard(("B", "d" * 64)))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(user.id, "no", reply_markup=keyboard(("B", "d" * 65)))
    # The limit is in UTF-8 bytes: 33 two-byte characters are 66 bytes.
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(user.id, "no", reply_markup=keyboard(("B", "é" * 33)))
    assert [m.text for m in sandbox.messages(user)] == ["ok"]


async def test_invalid_inline_buttons_are_refused(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    text_only = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Just text")]])
    with pytest.raises(TelegramBadRequest, match="Text buttons are unallowed"):
        await bot.send_message(user.id, "x", reply_markup=text_only)
    bad_url = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Site", url="not a url")]]
    )
    with pytest.raises(TelegramBadRequest, match="is invalid"):
        await bot.send_message(user.id, "x", reply_markup=bad_url)


async def test_unknown_chat_is_not_found(sandbox: SandboxServer, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest) as error:
        await bot.send_message(123456789, "hello?")
    assert error.value.message == "Bad Request: chat not found"
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message("@somebody", "hello?")


async def test_blocked_member_gives_forbidden_until_unblocked(
    sandbox: SandboxServer, bot: Bot
) -> None:
    user = sandbox.add_user("Ann")
    update = await sandbox.block(user)
    assert update is not None
    assert update["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    with pytest.raises(TelegramForbiddenError) as error:
        await bot.send_message(user.id, "still there?")
    assert error.value.message == "Forbidden: bot was blocked by the user"
    with pytest.raises(TelegramForbiddenError):
        await bot.send_photo(user.id, BufferedInputFile(png_bytes(4, 4), "p.png"))
    await sandbox.unblock(user)
    assert (await bot.send_message(user.id, "welcome back")).text == "welcome back"


async def test_bot_cannot_write_first(sandbox: SandboxServer, bot: Bot) -> None:
    stranger = sandbox.add_user("Bob", started=False)
    with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation"):
        await bot.send_message(stranger.id, "hi")
    await sandbox.send_text(stranger, "/start")
    assert (await bot.send_message(stranger.id, "hi")).text == "hi"


async def test_send_photo_upload_is_stored_and_reusable(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    data = png_bytes(300, 200)
    sent = await bot.send_photo(
        user.id,
        BufferedInputFile(data, filename="card.png"),
        caption="Your <b>card</b>",
        parse_mode="HTML",
    )
    assert sent.photo is not None and len(sent.photo) == 2
    assert (sent.photo[-1].width, sent.photo[-1].height) == (300, 200)
    assert (sent.photo[0].width, sent.photo[0].height) == (90, 60)
    assert sent.caption == "Your card"
    stored = sandbox.messages(user)[-1]
    assert stored.photo_bytes == data
    assert sandbox.file_bytes(sent.photo[-1].file_id) == data

    # The returned file_id sends the same photo again, and getFile/download serve the bytes.
    again = await bot.send_photo(user.id, sent.photo[-1].file_id)
    assert again.photo is not None and again.photo[-1].file_id == sent.photo[-1].file_id
    downloaded = await bot.download(sent.photo[-1].file_id)
    assert downloaded is not None and downloaded.read() == data


async def test_send_photo_refusals(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(user.id, BufferedInputFile(b"not an image", "x.png"))
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(user.id, "AgACnonexistent")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(
            user.id, BufferedInputFile(png_bytes(2, 2), "x.png"), caption="c" * 1025
        )
    ok = await bot.send_photo(
        user.id, BufferedInputFile(png_bytes(2, 2), "x.png"), caption="c" * 1024
    )
    assert ok.caption == "c" * 1024


async def test_send_document_upload_is_stored_named_and_reusable(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    data = "你好, Ann\n".encode()
    sent = await bot.send_document(
        user.id, BufferedInputFile(data, "export-42.txt"), caption="<b>Your</b> data", parse_mode="HTML"
    )
    assert sent.document is not None
    assert (sent.document.file_name, sent.document.mime_type, sent.document.file_size) == (
        "export-42.txt", "text/plain", len(data)
    )
    assert sent.caption == "Your data" and sent.caption_entities
    stored = sandbox.message(user, sent.message_id)
    assert stored.document_bytes == data and stored.method == "sendDocument"
    downloaded = await bot.download(sent.document.file_id)
    assert downloaded is not None and downloaded.read() == data
    again = await bot.send_document(user.id, sent.document.file_id)
    assert again.document is not None and again.document.file_id == sent.document.file_id
    await bot.edit_message_caption(chat_id=user.id, message_id=sent.message_id, caption="renamed")
    assert sandbox.message(user, sent.message_id).caption == "renamed"


async def test_send_document_refusals(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    with pytest.raises(TelegramBadRequest, match="file must be non-empty"):
        await bot.send_document(user.id, BufferedInputFile(b"", "empty.txt"))
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_document(user.id, "BQACnonexistent")
    photo = await bot.send_photo(user.id, BufferedInputFile(png_bytes(2, 2), "p.png"))
    assert photo.photo is not None
    with pytest.raises(TelegramBadRequest, match="type of file mismatch"):
        await bot.send_document(user.id, photo.photo[-1].file_id)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(user.id, BufferedInputFile(b"x", "x.txt"), caption="c" * 1025)
    assert [m.method for m in sandbox.messages(user)] == ["sendPhoto"], "refused documents leave no message"


async def test_a_document_over_the_bots_upload_limit_is_refused() -> None:
    async with SandboxServer(limits=SandboxLimits(max_document_bytes=10)) as small:
        user = small.add_user("Ann")
        sender = make_bot(small)
        try:
            with pytest.raises(TelegramEntityTooLarge):
                await sender.send_document(user.id, BufferedInputFile(b"x" * 11, "big.bin"))
            ok = await sender.send_document(user.id, BufferedInputFile(b"x" * 10, "ok.bin"))
        finally:
            await sender.session.close()
    assert ok.document is not None and ok.document.mime_type == "application/octet-stream"


async def test_edits_apply_to_the_stored_message(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    sent = await bot.send_message(user.id, "Choose", reply_markup=keyboard(("A", "a")))
    with pytest.raises(TelegramBadRequest) as error:
        await bot.edit_message_text(
            text="Choose",
            chat_id=user.id,
            message_id=sent.message_id,
            reply_markup=keyboard(("A", "a")),
        )
    assert "message is not modified" in error.value.message

    edited = await bot.edit_message_text(
        text="Chosen: <i>A</i>", chat_id=user.id, message_id=sent.message_id, parse_mode="HTML"
    )
    assert isinstance(edited, Message) and edited.text == "Chosen: A"
    assert edited.edit_date is not None
    stored = sandbox.message(user, sent.message_id)
    # An edit without reply_markup drops the inline keyboard, as on Telegram.
    assert stored.text == "Chosen: A" and stored.reply_markup is None
    assert [v.text for v in stored.edits] == ["Choose"]
    assert stored.edits[0].reply_markup == keyboard(("A", "a")).model_dump(exclude_none=True)

    markup = await bot.edit_message_reply_markup(
        chat_id=user.id, message_id=sent.message_id, reply_markup=keyboard(("Undo", "undo"))
    )
    assert isinstance(markup, Message)
    assert sandbox.message(user, sent.message_id).button_labels == ["Undo"]
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=user.id, message_id=sent.message_id, reply_markup=keyboard(("Undo", "undo"))
        )
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=user.id, message_id=999)
    with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
        await bot.edit_message_caption(chat_id=user.id, message_id=sent.message_id, caption="c")


async def test_edit_caption_and_delete(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    photo = await bot.send_photo(
        user.id, BufferedInputFile(png_bytes(8, 8), "x.png"), caption="old"
    )
    await bot.edit_message_caption(chat_id=user.id, message_id=photo.message_id, caption="new")
    assert sandbox.message(user, photo.message_id).caption == "new"
    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await bot.edit_message_text(text="t", chat_id=user.id, message_id=photo.message_id)

    assert await bot.delete_message(user.id, photo.message_id) is True
    assert sandbox.messages(user) == []
    assert sandbox.messages(user, include_deleted=True)[0].deleted is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(user.id, photo.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_caption(chat_id=user.id, message_id=photo.message_id, caption="x")


async def test_reply_keyboards_persist_until_removed(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    markup = ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text="Share my phone number", request_contact=True)],
            [
                KeyboardButton(text="Send location", request_location=True),
                KeyboardButton(text="My card"),
            ],
        ],
        resize_keyboard=True,
    )
    sent = await bot.send_message(user.id, "Please share", reply_markup=markup)
    # Telegram only echoes inline keyboards in Message objects.
    assert sent.reply_markup is None
    kb = sandbox.reply_keyboard(user)
    assert kb is not None and kb["keyboard"][0][0]["request_contact"] is True
    await bot.send_message(user.id, "Reply to me", reply_markup=ForceReply())
    assert sandbox.reply_keyboard(user) == kb  # ForceReply does not replace the keyboard
    await bot.send_message(user.id, "Thanks", reply_markup=ReplyKeyboardRemove())
    assert sandbox.reply_keyboard(user) is None


async def test_replies_to_messages(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    question = await sandbox.send_text(user, "what is my balance?")
    answer = await bot.send_message(
        user.id, "120 points", reply_parameters=ReplyParameters(message_id=question.message_id)
    )
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "what is my balance?"
    assert sandbox.messages(user)[-1].reply_to_message_id == question.message_id
    legacy = await bot.send_message(user.id, "again", reply_to_message_id=question.message_id)
    assert legacy.reply_to_message is not None
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(user.id, "x", reply_parameters=ReplyParameters(message_id=777))


async def test_location_venue_and_chat_action(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    location = await bot.send_location(user.id, latitude=31.2304, longitude=121.4737)
    assert location.location is not None and location.location.latitude == pytest.approx(31.2304)
    venue = await bot.send_venue(
        user.id, latitude=31.23, longitude=121.47, title="Coffee Club", address="1 Nanjing Rd"
    )
    assert venue.venue is not None and venue.venue.title == "Coffee Club"
    assert venue.location is not None
    with pytest.raises(TelegramBadRequest, match="wrong latitude"):
        await bot.send_location(user.id, latitude=91, longitude=0)
    assert await bot.send_chat_action(user.id, "typing") is True
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(user.id, "dancing")
    stored = sandbox.messages(user)
    assert stored[0].location == {"latitude": 31.2304, "longitude": 121.4737}
    assert stored[1].venue is not None and stored[1].venue["address"] == "1 Nanjing Rd"
    assert sandbox.chat_actions(user) == ["typing"]


async def test_commands_menu_button_and_webhook(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    commands = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="card", description="My card"),
    ]
    assert await bot.set_my_commands(commands) is True
    assert await bot.set_my_commands(
        [BotCommand(command="start", description="开始")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="zh",
    )
    assert [c.command for c in await bot.get_my_commands()] == ["start", "card"]
    assert sandbox.commands(scope={"type": "all_private_chats"}, language_code="zh") == [
        {"command": "start", "description": "开始"}
    ]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="no spaces", description="x")])
    assert await bot.delete_my_commands() is True
    assert await bot.get_my_commands() == []

    # One chat's menu: only for a chat the bot knows, as Telegram.
    assert await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=user.id))
    assert [c["command"] for c in sandbox.commands(scope={"type": "chat", "chat_id": user.id})] == ["start", "card"]
    stranger = sandbox.add_user("Never opened the bot", started=False)
    for chat_id in (stranger.id, 987654321):
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=chat_id))

    assert await bot.set_chat_menu_button(chat_id=user.id, menu_button=MenuButtonCommands())
    assert sandbox.menu_button(user) == {"type": "commands"}
    assert await bot.delete_webhook(drop_pending_updates=True) is True
    info = await bot.get_webhook_info()
    assert info.url == "" and info.pending_update_count == 0


async def test_answer_callback_query_is_recorded_once(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    sent = await bot.send_message(user.id, "Choose", reply_markup=keyboard(("A", "a")))
    query_id = await sandbox.press_button(user, sent.message_id, "a")
    assert await bot.answer_callback_query(query_id, text="Saved", show_alert=True) is True
    answer = sandbox.callback_answers[query_id]
    assert (answer.text, answer.show_alert, answer.data) == ("Saved", True, "a")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query("12345")


async def test_sent_params_are_recorded(sandbox: SandboxServer, bot: Bot) -> None:
    user = sandbox.add_user("Ann")
    await bot.send_message(user.id, "quiet", disable_notification=True, protect_content=True)
    params = sandbox.messages(user)[0].params
    assert params["disable_notification"] == "true"  # as aiogram sent it (form field)
    assert json.loads(json.dumps(params))["text"] == "quiet"
    assert sandbox.stats.calls["sendMessage"] == 1
