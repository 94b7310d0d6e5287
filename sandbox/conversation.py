"""A scripted chat as one member: act, then collect the bot's burst of replies.

Each action waits for the bot's first reaction in the chat (a new message, an edit, a deletion
or a callback answer), then for a quiet period with no further reaction, and returns the
messages that were sent or edited meanwhile. That makes multi-message replies ("Welcome!" +
a keyboard prompt) come back as one list without sleeping for a guessed time.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sandbox.keyboards import reply_buttons
from sandbox.state import CallbackAnswer, SandboxChat, SandboxMessage, SandboxUser

if TYPE_CHECKING:
    from sandbox.server import SandboxServer


class Conversation:
    """``conv = sandbox.conversation(user)``; ``await conv.say("/start")`` → replies."""

    def __init__(
        self,
        sandbox: SandboxServer,
        user: SandboxUser,
        *,
        timeout: float = 10.0,
        quiet: float = 0.2,
    ) -> None:
        self.sandbox = sandbox
        self.user = user
        self.timeout = timeout
        """How long to wait for the bot's first reaction before TimeoutError."""
        self.quiet = quiet
        """Silence that ends a burst of replies."""
        self.last_callback_query_id: str | None = None

    # --- views -------------------------------------------------------------------------

    @property
    def chat(self) -> SandboxChat:
        return self.sandbox.state.chat(self.user.id)

    @property
    def messages(self) -> list[SandboxMessage]:
        """The bot's visible (not deleted) messages, oldest first."""
        return self.chat.bot_messages()

    @property
    def last(self) -> SandboxMessage | None:
        messages = self.messages
        return messages[-1] if messages else None

    @property
    def reply_keyboard(self) -> dict[str, Any] | None:
        """The reply keyboard currently shown (Telegram keeps it until the bot removes it)."""
        return self.chat.reply_keyboard

    @property
    def reply_keyboard_labels(self) -> list[str]:
        return [button["text"] for button in reply_buttons(self.chat.reply_keyboard)]

    def latest_with_buttons(self) -> SandboxMessage | None:
        """The newest visible bot message that has an inline keyboard."""
        for message in reversed(self.messages):
            if message.buttons:
                return message
        return None

    @property
    def last_callback_answer(self) -> CallbackAnswer | None:
        """The bot's answer to the last inline button this conversation pressed."""
        if self.last_callback_query_id is None:
            return None
        return self.sandbox.callback_answers.get(self.last_callback_query_id)

    # --- actions -----------------------------------------------------------------------

    async def say(self, text: str, *, expect_reply: bool = True) -> list[SandboxMessage]:
        mark = self.mark()
        await self.sandbox.send_text(self.user, text)
        return await self.collect_since(mark, f"said {text!r}", expect_reply)

    async def press(
        self,
        label_or_index: str | int,
        *,
        location: tuple[float, float] | None = None,
        expect_reply: bool = True,
    ) -> list[SandboxMessage]:
        """Press a button.

        An ``int`` is a 0-based index into the inline buttons (reading order) of the latest
        message that has any. A ``str`` is an exact label: inline buttons are searched from
        the newest message back, then the reply keyboard. A reply button sends its text, or
        for request_contact the member's own contact (``user.phone_number``), or for
        request_location ``location``. ValueError if there is no such button.
        """
        if isinstance(label_or_index, int):
            message = self.latest_with_buttons()
            if message is None:
                raise ValueError(f"no bot message with inline buttons; {self._describe()}")
            buttons = message.buttons
            if not 0 <= label_or_index < len(buttons):
                raise ValueError(
                    f"button index {label_or_index} out of range; message "
                    f"{message.message_id} has {message.button_labels}"
                )
            return await self._press_inline(message, buttons[label_or_index], expect_reply)

        label = label_or_index
        for message in reversed(self.messages):
            for button in message.buttons:
                if button["text"] == label:
                    return await self._press_inline(message, button, expect_reply)
        for button in reply_buttons(self.chat.reply_keyboard):
            if button["text"] == label:
                return await self._press_reply(button, location, expect_reply)
        raise ValueError(f"no button labelled {label!r}; {self._describe()}")

    async def share_contact(
        self,
        phone_number: str | None = None,
        *,
        user_id: int | None = None,
        first_name: str | None = None,
        expect_reply: bool = True,
    ) -> list[SandboxMessage]:
        """Share the member's own contact (default) or, with ``user_id``, someone else's."""
        phone = phone_number or self.user.phone_number
        if phone is None:
            raise ValueError("no phone number: pass one or add_user(..., phone_number=...)")
        mark = self.mark()
        await self.sandbox.send_contact(
            self.user, phone, contact_user_id=user_id, first_name=first_name
        )
        return await self.collect_since(mark, f"shared contact {phone}", expect_reply)

    async def share_location(
        self,
        latitude: float,
        longitude: float,
        *,
        live_period: int | None = None,
        expect_reply: bool = True,
    ) -> list[SandboxMessage]:
        mark = self.mark()
        await self.sandbox.send_location(self.user, latitude, longitude, live_period=live_period)
        return await self.collect_since(
            mark, f"shared location {latitude},{longitude}", expect_reply
        )

    async def move_live_location(
        self,
        message_id: int,
        latitude: float,
        longitude: float,
        *,
        expect_reply: bool = False,
    ) -> list[SandboxMessage]:
        mark = self.mark()
        await self.sandbox.update_live_location(self.user, message_id, latitude, longitude)
        return await self.collect_since(mark, "moved live location", expect_reply)

    async def send_sticker(self, *, expect_reply: bool = True) -> list[SandboxMessage]:
        mark = self.mark()
        await self.sandbox.send_sticker(self.user)
        return await self.collect_since(mark, "sent a sticker", expect_reply)

    async def block(self) -> None:
        await self.sandbox.block(self.user)

    async def unblock(self, *, expect_reply: bool = False) -> list[SandboxMessage]:
        mark = self.mark()
        await self.sandbox.unblock(self.user)
        return await self.collect_since(mark, "unblocked the bot", expect_reply)

    async def collect(self, *, expect_reply: bool = True) -> list[SandboxMessage]:
        """Replies that arrive without a member action (scheduled pushes, broadcasts)."""
        return await self.collect_since(self.mark(), "waited", expect_reply)

    # --- internals ---------------------------------------------------------------------

    async def _press_inline(
        self, message: SandboxMessage, button: dict[str, Any], expect_reply: bool
    ) -> list[SandboxMessage]:
        if "callback_data" not in button:
            kind = next((k for k in button if k != "text"), "unknown")
            raise ValueError(
                f"button {button['text']!r} is a {kind} button; pressing it sends the bot nothing"
            )
        mark = self.mark()
        self.last_callback_query_id = await self.sandbox.press_button(
            self.user, message.message_id, button["callback_data"]
        )
        return await self.collect_since(mark, f"pressed {button['text']!r}", expect_reply)

    async def _press_reply(
        self,
        button: dict[str, Any],
        location: tuple[float, float] | None,
        expect_reply: bool,
    ) -> list[SandboxMessage]:
        if button.get("request_contact"):
            return await self.share_contact(expect_reply=expect_reply)
        if button.get("request_location"):
            if location is None:
                raise ValueError(f"button {button['text']!r} shares a location: pass location=")
            return await self.share_location(*location, expect_reply=expect_reply)
        return await self.say(button["text"], expect_reply=expect_reply)

    def mark(self) -> int:
        """A point in the sandbox's event sequence; pass it to :meth:`collect_since`."""
        return self.sandbox.state.event_seq

    def _describe(self) -> str:
        last = self.latest_with_buttons()
        inline = last.button_labels if last else []
        return f"inline buttons: {inline}, reply keyboard: {self.reply_keyboard_labels}"

    async def collect_since(
        self, mark: int, action: str = "acted", expect_reply: bool = True
    ) -> list[SandboxMessage]:
        """Wait for the bot's reaction to something done after ``mark``; see the module doc."""
        chat = self.chat
        activity = self.sandbox.state.activity

        def last_seq() -> int:
            return chat.events[-1].seq if chat.events else 0

        if expect_reply and not await activity.wait_until(lambda: last_seq() > mark, self.timeout):
            recent = "; ".join(m.summary() for m in self.messages[-3:]) or "none"
            pending = len(self.sandbox.state.updates)
            raise TimeoutError(
                f"{self.user.first_name} {action}: no reply from the bot within "
                f"{self.timeout}s (last bot messages: {recent}; {pending} update(s) not yet "
                f"fetched by the bot — is it polling this sandbox?)"
            )
        # Quiet period: the burst ends once the chat stays silent for `quiet` seconds and the
        # bot is not busy (a Bot API request, or an update it reports it is handling).
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.timeout
        while loop.time() < give_up:
            seen = last_seq()

            def more(seen: int = seen) -> bool:
                return last_seq() > seen

            if not await activity.wait_until(more, self.quiet):
                if self.sandbox.busy:
                    # A slow request (a photo upload...) or a handler between two requests
                    # may still add to the burst.
                    await activity.wait_next(self.quiet)
                    continue
                break

        changed: list[int] = []
        for event in chat.events:
            if (
                event.seq > mark
                and event.kind in ("sent", "edited")
                and event.message_id
                and event.message_id not in changed
            ):
                changed.append(event.message_id)
        replies = [chat.by_id[mid] for mid in changed if not chat.by_id[mid].deleted]
        if replies:
            chat.read_cursor = max(chat.read_cursor, max(m.message_id for m in replies))
        return replies
