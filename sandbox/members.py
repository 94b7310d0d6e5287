"""What members do: each action stores the member's message and enqueues the Update Telegram
would send the bot, with the exact JSON shape (aiogram parses it into its types)."""

from __future__ import annotations

from typing import Any

from sandbox.errors import SandboxError
from sandbox.formatting import detect_entities
from sandbox.media import StoredFile, new_file_id, new_file_unique_id
from sandbox.state import (
    CallbackQueryRecord,
    SandboxChat,
    SandboxMessage,
    SandboxState,
    SandboxUser,
)

_OWN = object()
"""Default of ``contact_user_id``: the member shares their own contact."""


class MemberActions:
    """Member-side actions against one :class:`SandboxState`."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    # --- helpers -----------------------------------------------------------------------

    def _acting(self, user_id: int) -> tuple[SandboxUser, SandboxChat]:
        chat = self.state.chat(user_id)
        if chat.user.blocked:
            # A Telegram client offers only "Unblock"/"Restart" in a blocked bot's chat.
            raise SandboxError(f"member {user_id} has blocked the bot; unblock() first")
        return chat.user, chat

    def _new_message(self, user: SandboxUser, chat: SandboxChat) -> SandboxMessage:
        return SandboxMessage(
            message_id=chat.allocate_message_id(),
            chat_id=chat.id,
            date=self.state.now(),
            sender=user.user_json(),
            chat=user.chat_json(),
            from_bot=False,
        )

    def _deliver(self, user: SandboxUser, chat: SandboxChat, message: SandboxMessage) -> None:
        user.started = True  # writing to the bot opens the chat, like pressing Start
        chat.add(message)
        self._mark_seen(chat)
        message.update = self.state.updates.push("message", message.to_telegram())

    @staticmethod
    def _mark_seen(chat: SandboxChat) -> None:
        # Replies to this action are what a waiter wants next; older bot messages are not.
        chat.read_cursor = chat.next_message_id - 1

    # --- messages ----------------------------------------------------------------------

    def send_text(
        self, user_id: int, text: str, *, reply_to_message_id: int | None = None
    ) -> SandboxMessage:
        if not text:
            raise SandboxError("a Telegram client cannot send an empty message")
        user, chat = self._acting(user_id)
        message = self._new_message(user, chat)
        message.text = text
        message.raw_text = text
        message.entities = detect_entities(text)
        if reply_to_message_id is not None:
            message.reply_to = chat.by_id.get(reply_to_message_id)
        self._deliver(user, chat, message)
        return message

    def send_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        contact_user_id: Any = _OWN,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> SandboxMessage:
        """Share a contact; by default the member's own (``user_id`` = sender, as Telegram
        sets it for a request_contact button). ``contact_user_id=None`` shares a contact that
        is not a Telegram user."""
        user, chat = self._acting(user_id)
        own = contact_user_id is _OWN or contact_user_id == user.id
        contact: dict[str, Any] = {
            "phone_number": phone_number,
            "first_name": first_name or (user.first_name if own else "Contact"),
        }
        surname = last_name if last_name is not None else (user.last_name if own else None)
        if surname:
            contact["last_name"] = surname
        if own:
            contact["user_id"] = user.id
            user.phone_number = phone_number
        elif contact_user_id is not None:
            contact["user_id"] = int(contact_user_id)
        message = self._new_message(user, chat)
        message.contact = contact
        self._deliver(user, chat, message)
        return message

    def send_location(
        self,
        user_id: int,
        latitude: float,
        longitude: float,
        *,
        live_period: int | None = None,
        horizontal_accuracy: float | None = None,
    ) -> SandboxMessage:
        user, chat = self._acting(user_id)
        location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        if horizontal_accuracy is not None:
            location["horizontal_accuracy"] = horizontal_accuracy
        if live_period is not None:
            location["live_period"] = live_period
        message = self._new_message(user, chat)
        message.location = location
        self._deliver(user, chat, message)
        return message

    def update_live_location(
        self,
        user_id: int,
        message_id: int,
        latitude: float,
        longitude: float,
        *,
        heading: int | None = None,
    ) -> SandboxMessage:
        """Move a live location: Telegram delivers it as ``edited_message``."""
        _, chat = self._acting(user_id)
        message = chat.by_id.get(message_id)
        if (
            message is None
            or message.from_bot
            or message.location is None
            or "live_period" not in message.location
        ):
            raise SandboxError(f"message {message_id} is not a live location of member {user_id}")
        message.edits.append(message.snapshot())
        location = {**message.location, "latitude": latitude, "longitude": longitude}
        if heading is not None:
            location["heading"] = heading
        message.location = location
        message.edit_date = self.state.now()
        self._mark_seen(chat)
        message.update = self.state.updates.push("edited_message", message.to_telegram())
        return message

    def send_sticker(self, user_id: int, *, emoji: str = "👍") -> SandboxMessage:
        user, chat = self._acting(user_id)
        stored = StoredFile(
            kind="sticker",
            file_id=new_file_id("CAACAgIAAxkBAAI"),
            file_unique_id=new_file_unique_id(),
            data=None,
            width=512,
            height=512,
            file_path=f"stickers/file_{len(self.state.files_by_path)}.webp",
        )
        self.state.register_file(stored)
        message = self._new_message(user, chat)
        message.sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        self._deliver(user, chat, message)
        return message

    # --- buttons -----------------------------------------------------------------------

    def press_button(self, user_id: int, message_id: int, callback_data: str | None) -> str:
        """Press an inline button: enqueue a callback_query carrying ``callback_data``.

        The data is not checked against the message's keyboard on purpose, so tests can
        forge payloads the way a modified client could.
        """
        user, chat = self._acting(user_id)
        message = chat.by_id.get(message_id)
        if message is None or message.deleted or not message.from_bot:
            raise SandboxError(f"no bot message {message_id} in chat {chat.id} to press on")
        query_id = self.state.new_callback_query_id()
        self.state.callbacks[query_id] = CallbackQueryRecord(
            id=query_id,
            user_id=user.id,
            chat_id=chat.id,
            message_id=message_id,
            data=callback_data,
        )
        payload: dict[str, Any] = {
            "id": query_id,
            "from": user.user_json(),
            "message": message.to_telegram(),
            "chat_instance": chat.chat_instance,
        }
        if callback_data is not None:
            payload["data"] = callback_data
        self._mark_seen(chat)
        self.state.updates.push("callback_query", payload)
        return query_id

    # --- blocking ----------------------------------------------------------------------

    def _member_status_update(self, user: SandboxUser, old: str, new: str) -> dict[str, Any] | None:
        bot = self.state.bot.user_json()

        def member(status: str) -> dict[str, Any]:
            result: dict[str, Any] = {"user": bot, "status": status}
            if status == "kicked":
                result["until_date"] = 0
            return result

        payload = {
            "chat": user.chat_json(),
            "from": user.user_json(),
            "date": self.state.now(),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }
        return self.state.updates.push("my_chat_member", payload)

    def block(self, user_id: int) -> dict[str, Any] | None:
        """The member blocks the bot; returns the my_chat_member update (None if dropped)."""
        user = self.state.chat(user_id).user
        if user.blocked:
            return None
        user.blocked = True
        return self._member_status_update(user, "member", "kicked")

    def unblock(self, user_id: int) -> dict[str, Any] | None:
        user = self.state.chat(user_id).user
        if not user.blocked:
            return None
        user.blocked = False
        user.started = True
        return self._member_status_update(user, "kicked", "member")
