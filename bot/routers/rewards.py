from __future__ import annotations

from aiogram import Router


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    return Router(name="rewards")
