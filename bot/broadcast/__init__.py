"""The campaign sender: drains the campaign outbox at the highest rate Telegram allows."""

from bot.broadcast.client import BroadcastClient
from bot.broadcast.engine import BroadcastEngine

__all__ = ["BroadcastClient", "BroadcastEngine"]
