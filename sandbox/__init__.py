"""A local Telegram Bot API sandbox: aiogram talks to it over real HTTP, tests play the members.

See :class:`SandboxServer` for the control API and :func:`run_terminal_chat` for chatting
with the bot from a terminal.
"""

from sandbox.conversation import Conversation
from sandbox.errors import ApiError, SandboxError
from sandbox.limits import RateLimiter, SandboxLimits, TokenBucket
from sandbox.server import SandboxServer
from sandbox.state import (
    BotIdentity,
    CallbackAnswer,
    MessageVersion,
    SandboxMessage,
    SandboxStats,
    SandboxUser,
)
from sandbox.terminal import HELP, run_terminal_chat

__all__ = [
    "HELP",
    "ApiError",
    "BotIdentity",
    "CallbackAnswer",
    "Conversation",
    "MessageVersion",
    "RateLimiter",
    "SandboxError",
    "SandboxLimits",
    "SandboxMessage",
    "SandboxServer",
    "SandboxStats",
    "SandboxUser",
    "TokenBucket",
    "run_terminal_chat",
]
