"""Chat with the bot from a terminal, as a member, over the sandbox.

Works interactively and with piped input (``printf '/start\\n1\\n' | loyalty chat``): after
each input line it waits for the bot's replies to go quiet and prints them before reading the
next line, so a script produces the same transcript every run. Lines are read in a daemon
thread so the event loop (bot, sandbox, scheduler) keeps running while we wait for input.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, Any

from sandbox.conversation import Conversation
from sandbox.errors import SandboxError
from sandbox.formatting import render_ansi
from sandbox.keyboards import markup_kind, reply_buttons
from sandbox.pictures import draw_png
from sandbox.server import SandboxServer
from sandbox.state import ChatEvent, SandboxMessage, SandboxUser

HELP = """\
Type a message and press Enter to send it to the bot. Special input:
  N                 press the Nth inline button [N] of the latest message that has buttons
  a  or  (a)        press reply-keyboard button (a); the exact label of any button works too
                    (a contact button shares your phone, a location button your :location)
  :contact PHONE    share your own contact (also the phone a contact button will share)
  :contact PHONE ID share someone else's contact (Telegram user ID)
  :location LAT LON share a location (also what a location button will share)
  :live LAT LON     start a live location, or move the one already started
  :sticker          send a sticker
  :user NAME        chat as member NAME from now on (a new member, with their own Telegram id,
                    the first time); what the bot sends the others shows as "bot → NAME"
  :user NAME --staff  the same, and make them staff (owner) of the program: /broadcast, /campaigns
  :users            list the members of this session
  :block / :unblock block or unblock the bot
  :help             show this help
  :quit             leave the chat (so does end of input)"""

PROMPT = "you> "
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_LIVE_PERIOD = 900


async def _read_line(stream: IO[str]) -> str:
    """``stream.readline()`` in a daemon thread; '' at end of input.

    A daemon thread (not the default executor) so a read still blocked on a terminal never
    delays interpreter exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def deliver(line: str | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(line or "")

    def worker() -> None:
        try:
            line = stream.readline()
        except BaseException as exc:  # noqa: BLE001 - handed over to the awaiting coroutine
            loop.call_soon_threadsafe(deliver, None, exc)
        else:
            loop.call_soon_threadsafe(deliver, line, None)

    threading.Thread(target=worker, name="sandbox-chat-input", daemon=True).start()
    return await future


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


MakeStaff = Callable[[SandboxUser], Awaitable[str]]


@dataclass
class _Member:
    """One member the terminal can chat as, with what the terminal remembers of their chat."""

    user: SandboxUser
    conv: Conversation
    chat: Any
    printed_seq: int
    location: tuple[float, float] | None = None
    live_message_id: int | None = None


class _TerminalChat:
    def __init__(
        self,
        sandbox: SandboxServer,
        user: SandboxUser,
        input_stream: IO[str],
        output: IO[str],
        reply_timeout: float,
        quiet: float | None,
        color: bool | None,
        make_staff: MakeStaff | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.input = input_stream
        self.output = output
        self.color = _is_tty(output) if color is None else color
        self.echo = not _is_tty(input_stream)  # show piped input so transcripts read well
        self.reply_timeout = reply_timeout
        self.quiet = sandbox.reply_quiet_period if quiet is None else quiet
        self.make_staff = make_staff
        self.members: list[_Member] = []
        self.current = self._join(user)
        self.prompting: str | None = None  # the prompt on screen while a line is awaited from a person

    def _join(self, user: SandboxUser) -> _Member:
        member = _Member(
            user=user,
            conv=Conversation(self.sandbox, user, timeout=self.reply_timeout, quiet=self.quiet),
            chat=self.sandbox.state.chat(user.id),
            printed_seq=self.sandbox.state.event_seq,
        )
        self.members.append(member)
        return member

    # The member chatting now; :user switches.
    @property
    def user(self) -> SandboxUser:
        return self.current.user

    @property
    def conv(self) -> Conversation:
        return self.current.conv

    @property
    def chat(self) -> Any:
        return self.current.chat

    @property
    def location(self) -> tuple[float, float] | None:
        return self.current.location

    @location.setter
    def location(self, value: tuple[float, float] | None) -> None:
        self.current.location = value

    @property
    def live_message_id(self) -> int | None:
        return self.current.live_message_id

    @live_message_id.setter
    def live_message_id(self, value: int | None) -> None:
        self.current.live_message_id = value

    # --- output ------------------------------------------------------------------------

    def write(self, text: str = "") -> None:
        self.output.write(text + "\n")
        self.output.flush()

    def flush(self) -> None:
        """Print every bot event not printed yet, in the order the bot acted: in the current
        member's chat, and what the others got (a broadcast, a referral's reward) marked with their name."""
        pending = [
            (event, member)
            for member in self.members
            for event in member.chat.events
            if event.seq > member.printed_seq
        ]
        for event, member in sorted(pending, key=lambda pair: pair[0].seq):
            member.printed_seq = event.seq
            self._print_event(event, member)

    def _unprinted(self) -> bool:
        return any(m.chat.events and m.chat.events[-1].seq > m.printed_seq for m in self.members)

    async def printer(self) -> None:
        """Print what the bot does while we wait for input (scheduled pushes and the like)."""
        activity = self.sandbox.state.activity
        while True:
            await activity.wait_until(self._unprinted, None)
            if self.prompting is None:
                self.flush()
                continue
            # A push while the prompt waits: take the prompt off its line, print, then show it again
            # below, so a bot message never runs on from "you> ".
            self.output.write("\r\x1b[2K" if _is_tty(self.output) else "\n")
            prompt = self.prompting
            self.flush()
            self.output.write(prompt)
            self.output.flush()

    def _print_event(self, event: ChatEvent, member: _Member) -> None:
        bot = "bot" if member is self.current else f"bot → {member.user.first_name}"
        if event.kind == "answered":
            answer = self.sandbox.callback_answers.get(event.callback_query_id or "")
            if answer is not None and answer.text:
                kind = "alert" if answer.show_alert else "notification"
                self.write(f"{bot} ({kind}): {answer.text}")
            return
        message = member.chat.by_id.get(event.message_id or 0)
        if message is None:
            return
        if event.kind == "deleted":
            self.write(f"({bot} deleted message #{message.message_id})")
            return
        prefix = bot if event.kind == "sent" else f"{bot} (edited #{message.message_id})"
        self.write(self.render(message, prefix))
        keyboard = markup_kind(message.reply_markup) in ("reply", "remove")
        if member is self.current and event.kind == "sent" and keyboard:
            self.write(self.render_keyboard(message.reply_markup))

    def _styled(self, text: str, entities: list[dict[str, Any]]) -> str:
        return render_ansi(text, entities) if self.color else text

    def render(self, message: SandboxMessage, prefix: str = "bot") -> str:
        """A bot message as terminal lines: content, then numbered inline buttons."""
        parts: list[str] = []
        if message.photo is not None:
            size = message.photo.size
            label = f"[photo: {size} bytes]" if size is not None else "[photo]"
            caption = self._styled(message.caption or "", message.caption_entities)
            parts.append(f"{label} {caption}".rstrip())
            # The picture itself, so a card's QR code can be scanned off the screen.
            parts.extend((draw_png(message.photo.data) if message.photo.data else None) or [])
        elif message.document is not None:
            document = message.document
            bytes_note = f", {document.size} bytes" if document.size is not None else ""
            caption = self._styled(message.caption or "", message.caption_entities)
            parts.append(f"[file: {document.file_name}{bytes_note}] {caption}".rstrip())
        elif message.venue is not None:
            venue = message.venue
            where = venue["location"]
            parts.append(
                f"[venue: {venue['title']}, {venue['address']} "
                f"({_number(where['latitude'])}, {_number(where['longitude'])})]"
            )
        elif message.location is not None:
            where = message.location
            live = f" live for {where['live_period']} s" if "live_period" in where else ""
            parts.append(
                f"[location: {_number(where['latitude'])}, {_number(where['longitude'])}{live}]"
            )
        if message.text is not None:
            parts.append(self._styled(message.text, message.entities))
        body = "\n".join(parts)
        lines = body.split("\n") if body else [""]
        indent = " " * (len(prefix) + 2)
        rendered = [f"{prefix}: {lines[0]}"] + [indent + line for line in lines[1:]]
        number = 1
        for row in message.inline_keyboard:
            cells = []
            for button in row:
                suffix = f" <{button['url']}>" if "url" in button else ""
                cells.append(f"[{number}] {button['text']}{suffix}")
                number += 1
            rendered.append(indent + "  ".join(cells))
        return "\n".join(rendered)

    @staticmethod
    def render_keyboard(markup: dict[str, Any] | None) -> str:
        buttons = reply_buttons(markup)
        if not buttons:
            return "keyboard: (removed)"
        cells = [f"({_LETTERS[i]}) {b['text']}" for i, b in enumerate(buttons[: len(_LETTERS)])]
        return "keyboard: " + " · ".join(cells)

    # --- input -------------------------------------------------------------------------

    async def read(self, prompt: str) -> str:
        """Show ``prompt`` and read a line; a push meanwhile prints above a fresh copy of it."""
        if prompt:
            self.output.write(prompt)
            self.output.flush()
        self.prompting = prompt if prompt and not self.echo else None
        try:
            return await _read_line(self.input)
        finally:
            self.prompting = None

    async def ask(self, prompt: str) -> str | None:
        line = await self.read(prompt)
        if not line:
            self.write()
            return None
        if self.echo:
            self.write(line.rstrip("\n"))
        return line.strip()

    async def run(self) -> None:
        bot = self.sandbox.bot
        self.write(
            f"Chatting with {bot.first_name} (@{bot.username}) as {self.user.full_name} "
            f"(id {self.user.id}). Type :help for help."
        )
        printer = asyncio.create_task(self.printer())
        try:
            while True:
                line = await self.read(PROMPT if not self.echo else "")
                if not line:
                    break  # end of input: everything up to here has been printed
                text = line.rstrip("\r\n")
                if not text.strip():
                    continue
                if self.echo:
                    self.write(f"> {text}")
                if await self.handle(text) is False:
                    break
                self.flush()
        finally:
            printer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await printer
            self.flush()

    async def handle(self, text: str) -> bool:
        """Act on one input line; False ends the chat."""
        stripped = text.strip()
        try:
            if stripped.startswith(":"):
                return await self.command(stripped)
            if await self.press(stripped):
                return True
            await self.acted(self.conv.say(text))
        except SandboxError as exc:
            self.write(f"! {exc}")
        except ValueError as exc:
            self.write(f"! {exc}")
        return True

    async def acted(self, replies: Any) -> None:
        """Wait for the replies to an action; printing happens in flush()."""
        try:
            await replies
        except TimeoutError:
            self.flush()
            self.write(f"(no reply within {self.conv.timeout:g} s)")

    async def press(self, stripped: str) -> bool:
        """Interpret the line as a button press if it names one; True if it did."""
        latest = self.conv.latest_with_buttons()
        if stripped.isdigit() and latest is not None:
            index = int(stripped) - 1
            if 0 <= index < len(latest.buttons):
                await self.press_inline(latest, latest.buttons[index])
                return True
        keyboard = reply_buttons(self.chat.reply_keyboard)
        letter = re.fullmatch(r"\(?([a-z])\)?", stripped)
        if letter and _LETTERS.index(letter.group(1)) < len(keyboard):
            await self.press_reply(keyboard[_LETTERS.index(letter.group(1))])
            return True
        if latest is not None:
            for button in latest.buttons:
                if button["text"] == stripped:
                    await self.press_inline(latest, button)
                    return True
        for button in keyboard:
            if button["text"] == stripped:
                await self.press_reply(button)
                return True
        return False

    async def press_inline(self, message: SandboxMessage, button: dict[str, Any]) -> None:
        if "callback_data" not in button:
            target = button.get("url") or "a Telegram feature the sandbox does not simulate"
            self.write(f"(button {button['text']!r} opens {target}; nothing is sent to the bot)")
            return
        mark = self.conv.mark()
        self.conv.last_callback_query_id = await self.sandbox.press_button(
            self.user, message.message_id, button["callback_data"]
        )
        await self.acted(self.conv.collect_since(mark, f"pressed {button['text']!r}"))

    async def press_reply(self, button: dict[str, Any]) -> None:
        if button.get("request_contact"):
            phone = self.user.phone_number
            if phone is None:
                phone = await self.ask("Phone number to share (e.g. +8613800000000): ")
                if not phone:
                    self.write("(nothing shared)")
                    return
            await self.acted(self.conv.share_contact(phone))
            return
        if button.get("request_location"):
            location = self.location
            if location is None:
                answer = await self.ask("Location to share (LAT LON): ")
                location = self._coordinates((answer or "").split())
                if location is None:
                    self.write("(nothing shared)")
                    return
                self.location = location
            await self.acted(self.conv.share_location(*location))
            return
        await self.acted(self.conv.say(button["text"]))

    def _coordinates(self, args: list[str]) -> tuple[float, float] | None:
        if len(args) != 2:
            return None
        try:
            latitude, longitude = float(args[0]), float(args[1])
        except ValueError:
            return None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            return None
        return latitude, longitude

    async def command(self, stripped: str) -> bool:
        name, *args = stripped.split()
        name = name.lower()
        if name in (":quit", ":q", ":exit"):
            return False
        if name in (":help", ":h", ":?"):
            self.write(HELP)
        elif name == ":contact":
            if len(args) not in (1, 2):
                self.write("usage: :contact PHONE [USERID]")
            elif len(args) == 2:
                if not args[1].isdigit():
                    self.write("usage: :contact PHONE [USERID]")
                else:
                    await self.acted(self.conv.share_contact(args[0], user_id=int(args[1])))
            else:
                await self.acted(self.conv.share_contact(args[0]))
        elif name in (":location", ":live"):
            location = self._coordinates(args)
            if location is None:
                self.write(f"usage: {name} LAT LON   (e.g. {name} 31.2304 121.4737)")
            elif name == ":location":
                self.location = location
                await self.acted(self.conv.share_location(*location))
            else:
                await self.live(location)
        elif name == ":user":
            await self.switch(args)
        elif name == ":users":
            for member in self.members:
                mark = " (you now)" if member is self.current else ""
                self.write(f"  {member.user.first_name} (id {member.user.id}){mark}")
        elif name == ":sticker":
            await self.acted(self.conv.send_sticker())
        elif name == ":block":
            await self.conv.block()
            self.write("(you blocked the bot)")
        elif name == ":unblock":
            await self.conv.unblock()
            self.write("(you unblocked the bot)")
        else:
            self.write(f"unknown command {name}; type :help")
        return True

    async def switch(self, args: list[str]) -> None:
        staff = "--staff" in args
        words = [a for a in args if a != "--staff"]
        if not words:
            self.write("usage: :user NAME [--staff]")
            return
        name = " ".join(words)
        member = next((m for m in self.members if m.user.first_name.lower() == name.lower()), None)
        created = member is None
        if member is None:
            member = self._join(self.sandbox.add_user(name, language_code=self.user.language_code))
        self.flush()
        self.current = member
        state = "new member" if created else "member"
        self.write(f"(now chatting as {member.user.first_name}, {state}, id {member.user.id})")
        if staff:
            if self.make_staff is None:
                self.write("! staff needs the program: run `loyalty chat`")
                return
            self.write(f"({await self.make_staff(member.user)})")

    async def live(self, location: tuple[float, float]) -> None:
        self.location = location
        mark = self.conv.mark()
        if self.live_message_id is None:
            message = await self.sandbox.send_location(
                self.user, *location, live_period=_LIVE_PERIOD
            )
            self.live_message_id = message.message_id
            await self.acted(self.conv.collect_since(mark, "started a live location"))
        else:
            await self.sandbox.update_live_location(self.user, self.live_message_id, *location)
            # Moving a live location rarely gets a reply; just let any reaction print.
            await self.conv.collect_since(mark, "moved the live location", expect_reply=False)


async def run_terminal_chat(
    sandbox: SandboxServer,
    user: SandboxUser,
    *,
    input_stream: IO[str] = sys.stdin,
    output: IO[str] = sys.stdout,
    reply_timeout: float = 5.0,
    quiet: float | None = None,
    color: bool | None = None,
    make_staff: MakeStaff | None = None,
) -> None:
    """Chat as ``user`` until ``:quit`` or end of input; see :data:`HELP` for the syntax.

    ``reply_timeout``: how long to wait for the bot's first reaction to an input (then
    "(no reply ...)" is printed and the next line read). ``quiet``: the silence that ends a
    burst of replies (default: the sandbox's ``reply_quiet_period``). ``color``: ANSI styles
    for bold/italic/...; by default only when ``output`` is a terminal. ``make_staff``: what
    ``:user NAME --staff`` calls to make a member staff (the program's own staff rules; the
    sandbox knows nothing of them), returning the line to show.
    """
    chat = _TerminalChat(sandbox, user, input_stream, output, reply_timeout, quiet, color, make_staff)
    await chat.run()
