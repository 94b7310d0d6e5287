"""The campaign sender: drains the campaign outbox at the highest rate Telegram allows."""

from bot.broadcast.engine import BroadcastEngine, build_broadcast_bot
from bot.broadcast.throttle import Throttle

__all__ = ["BroadcastEngine", "Throttle", "build_broadcast_bot"]
