"""The terminal chat driven by an in-memory script, as `printf ... | loyalty chat` would."""

from __future__ import annotations

import asyncio
import io
import queue

import segno
from aiogram import Bot

from sandbox import HELP, SandboxLimits, SandboxServer, run_terminal_chat
from sandbox.pictures import draw_png
from sandbox.terminal import PROMPT
from tests.sandbox.conftest import polling
from tests.sandbox.demo_bot import CARD_PNG, demo_router


async def chat(sandbox: SandboxServer, bot: Bot, script: str, **options: object) -> str:
    sandbox.set_limits(SandboxLimits.without_rate_limits())
    user = sandbox.add_user("Ann")
    output = io.StringIO()
    async with polling(bot, demo_router()):
        await run_terminal_chat(
            sandbox,
            user,
            input_stream=io.StringIO(script),
            output=output,
            reply_timeout=5.0,
            **options,  # type: ignore[arg-type]
        )
    return output.getvalue()


async def test_scripted_chat_prints_messages_buttons_and_keyboards(
    sandbox: SandboxServer, bot: Bot
) -> None:
    script = "\n".join(
        [
            "/start",
            "1",  # press [1] Agree
            "(b)",  # reply keyboard: My card
            "a",  # Share my phone number: asks for the phone, reads the next line
            "+8613800000000",
            ":location 31.2304 121.4737",
            ":sticker",
            "/photo",
            "/file",
            ":help",
            "hello",
        ]
    )
    out = await chat(sandbox, bot, script + "\n")
    lines = out.splitlines()
    assert lines[0].startswith("Chatting with Loyalty Sandbox (@loyalty_sandbox_bot) as Ann")

    def after(marker: str) -> list[str]:
        return lines[lines.index(marker) + 1 :]

    start = after("> /start")
    assert start[:4] == [
        "bot: Welcome to Coffee Club!",
        "     [1] Agree  [2] Decline",
        "bot: Share your phone to join.",
        "keyboard: (a) Share my phone number · (b) My card",
    ]
    assert after("> 1")[:2] == ["bot (notification): Noted", "bot (edited #2): You chose agree"]
    assert after("> (b)")[0] == "bot: Card #123"
    assert after("> a")[0] == "Phone number to share (e.g. +8613800000000): +8613800000000"
    assert after("> a")[1:3] == ["bot: Thanks, +8613800000000", "keyboard: (removed)"]
    assert after("> :location 31.2304 121.4737")[:2] == [
        "bot: You are at 31.2304, 121.4737",
        "bot: [venue: Coffee Club, 1 Nanjing Rd (31.2304, 121.4737)]",
    ]
    assert after("> :sticker")[0] == "bot: Nice sticker"
    assert after("> /photo")[0] == f"bot: [photo: {len(CARD_PNG)} bytes] Your card"
    assert after("> /file")[0] == "bot: [file: data.txt, 11 bytes] Your data"
    assert HELP in out
    assert lines[-1] == "bot: echo: hello"  # EOF ends the chat after the last reply
    assert "\x1b[" not in out  # not a TTY: no ANSI styles
    # The member's side really happened in the sandbox.
    ann = sandbox.users[0]
    assert ann.phone_number == "+8613800000000"
    assert [m.contact is not None for m in sandbox.history(ann) if not m.from_bot].count(True) == 1


async def test_quit_stops_reading_and_color_is_optional(sandbox: SandboxServer, bot: Bot) -> None:
    out = await chat(sandbox, bot, "/start\n:quit\nnever sent\n", color=True)
    assert "bot: \x1b[1mWelcome\x1b[22m to Coffee Club!" in out
    assert "never sent" not in out
    ann = sandbox.users[0]
    assert [m.text for m in sandbox.history(ann) if not m.from_bot] == ["/start"]


async def test_commands_for_contacts_live_location_and_blocking(
    sandbox: SandboxServer, bot: Bot
) -> None:
    script = (
        ":contact +8613900000000 4242\n"
        ":live 31.2 121.4\n"
        ":live 31.3 121.5\n"
        ":block\n"
        "hello?\n"
        ":unblock\n"
        ":frobnicate\n"
        "7\n"  # no inline buttons on screen: sent as text
    )
    out = await chat(sandbox, bot, script)
    ann = sandbox.users[0]
    member_messages = [m for m in sandbox.history(ann) if not m.from_bot]
    assert member_messages[0].contact == {
        "phone_number": "+8613900000000",
        "first_name": "Contact",
        "user_id": 4242,
    }
    live = member_messages[1]
    assert live.location is not None and live.location["latitude"] == 31.3
    assert [v.location["latitude"] for v in live.edits if v.location] == [31.2]
    assert "bot: Thanks, +8613900000000" in out
    assert "(you blocked the bot)" in out
    assert "! member" in out and "has blocked the bot" in out
    assert "unknown command :frobnicate; type :help" in out
    assert out.rstrip().endswith("bot: echo: 7")


class _Keyboard:
    """A terminal's input: isatty() is true (so "you> " is shown) and each line waits its turn."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.lines.get()


class _Screen(io.StringIO):
    """Output whose writes wake a waiting test (no polling, no sleeps)."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def write(self, text: str) -> int:
        self.changed.set()
        return super().write(text)

    async def shows(self, text: str) -> None:
        async with asyncio.timeout(5):
            while text not in self.getvalue():
                self.changed.clear()
                await self.changed.wait()


async def test_a_push_while_the_prompt_waits_gets_its_own_line(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.set_limits(SandboxLimits.without_rate_limits())
    user = sandbox.add_user("Ann")
    keyboard, screen = _Keyboard(), _Screen()
    async with polling(bot, demo_router()):
        chat_task = asyncio.create_task(
            run_terminal_chat(sandbox, user, input_stream=keyboard, output=screen)  # type: ignore[arg-type]
        )
        await screen.shows(f"Type :help for help.\n{PROMPT}")
        await bot.send_message(user.id, "Member day: double points")  # a scheduled push, say
        await screen.shows("double points\n")
        await screen.shows(f"double points\n{PROMPT}")
        keyboard.lines.put(":quit\n")
        await chat_task
    out = screen.getvalue()
    assert f"{PROMPT}bot" not in out
    assert f"{PROMPT}\nbot: Member day: double points\n{PROMPT}" in out


def test_a_qr_png_is_drawn_module_for_module() -> None:
    qr = segno.make_qr("100042", error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=10, border=4)
    drawn = draw_png(buffer.getvalue())
    assert drawn is not None
    # Light modules are drawn, dark ones blank; two module rows per line, the quiet zone included.
    modules = [[not dark for dark in row] for row in qr.matrix_iter(border=4)]
    if len(modules) % 2:
        modules.append([True] * len(modules[0]))
    glyphs = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}
    expected = [
        "".join(glyphs[a, b] for a, b in zip(modules[y], modules[y + 1], strict=True))
        for y in range(0, len(modules), 2)
    ]
    assert drawn == expected
    assert draw_png(b"\xff\xd8 not a png") is None


async def test_a_photo_in_the_chat_is_drawn_under_its_caption(sandbox: SandboxServer, bot: Bot) -> None:
    out = await chat(sandbox, bot, "/photo\n")
    lines = out.splitlines()
    at = lines.index(f"bot: [photo: {len(CARD_PNG)} bytes] Your card")
    assert lines[at + 1].startswith("     ") and set(lines[at + 1].strip()) <= set("█▀▄ ")


async def test_several_members_in_one_session(sandbox: SandboxServer, bot: Bot) -> None:
    made_staff: list[int] = []

    async def make_staff(user: object) -> str:
        made_staff.append(user.id)  # type: ignore[attr-defined]
        return f"{user.first_name} is staff"  # type: ignore[attr-defined]

    script = "/start\n:user Bob\nhello\n:user Ann\nhi\n:users\n:user Cy --staff\n:user\n"
    out = await chat(sandbox, bot, script, make_staff=make_staff)
    ann, bob, cy = sandbox.users
    assert (ann.first_name, bob.first_name, cy.first_name) == ("Ann", "Bob", "Cy")
    assert len({ann.id, bob.id, cy.id}) == 3
    assert f"(now chatting as Bob, new member, id {bob.id})" in out
    assert f"(now chatting as Ann, member, id {ann.id})" in out
    assert [m.text for m in sandbox.history(bob) if not m.from_bot] == ["hello"]
    assert [m.text for m in sandbox.history(ann) if not m.from_bot] == ["/start", "hi"]
    assert "bot: echo: hello" in out and "bot: echo: hi" in out
    assert f"  Ann (id {ann.id}) (you now)\n  Bob (id {bob.id})\n" in out
    assert made_staff == [cy.id] and "(Cy is staff)" in out
    assert "usage: :user NAME [--staff]" in out


async def test_what_another_member_gets_is_shown_with_their_name(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.set_limits(SandboxLimits.without_rate_limits())
    ann = sandbox.add_user("Ann")
    keyboard, screen = _Keyboard(), _Screen()
    async with polling(bot, demo_router()):
        chat_task = asyncio.create_task(
            run_terminal_chat(sandbox, ann, input_stream=keyboard, output=screen)  # type: ignore[arg-type]
        )
        keyboard.lines.put(":user Bob\n")
        await screen.shows("(now chatting as Bob")
        bob = sandbox.users[-1]
        keyboard.lines.put(":user Ann\n")
        await screen.shows("(now chatting as Ann")
        await bot.send_message(bob.id, "A broadcast for Bob")
        await screen.shows("bot → Bob: A broadcast for Bob\n")
        keyboard.lines.put(":quit\n")
        await chat_task


async def test_a_push_during_a_question_shows_the_question_again(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.set_limits(SandboxLimits.without_rate_limits())
    user = sandbox.add_user("Ann")
    keyboard, screen = _Keyboard(), _Screen()
    question = "Phone number to share (e.g. +8613800000000): "
    async with polling(bot, demo_router()):
        chat_task = asyncio.create_task(
            run_terminal_chat(sandbox, user, input_stream=keyboard, output=screen)  # type: ignore[arg-type]
        )
        keyboard.lines.put("/start\n")
        await screen.shows("keyboard: (a) Share my phone number")
        keyboard.lines.put("a\n")
        await screen.shows(question)
        await bot.send_message(user.id, "Happy hour starts now")
        await screen.shows(f"Happy hour starts now\n{question}")
        keyboard.lines.put("+8613800000000\n")
        await screen.shows("bot: Thanks, +8613800000000")
        keyboard.lines.put(":quit\n")
        await chat_task
    assert f"{question}\nbot: Happy hour starts now\n{question}" in screen.getvalue()
