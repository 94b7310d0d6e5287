"""What every `loyalty` command needs: the settings, and one rule run in one unit of work.

A configuration error (a setting, or a SECRET_KEY the database was not written with) is a red
line and exit status 2; a refusal of the program's rules (a LoyaltyError) is a red line and exit
status 1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from loyalty.config import Settings, explain

T = TypeVar("T")


def load_settings() -> Settings:
    """The settings from the environment and .env, as they are."""
    try:
        return Settings()
    except (ValidationError, SettingsError) as error:
        for line in explain(error):
            typer.secho(f"configuration error: {line}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def prepared_settings(*, quiet: bool = False) -> Settings:
    """The settings, with logging configured and a development secret made when none is set."""
    from entrypoints.services import configure_logging, ensure_dev_secret

    settings = load_settings()
    configure_logging(settings.log_level, quiet=quiet)
    return ensure_dev_secret(settings)


def with_uow(action: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run `action(uow, clock)` in one unit of work against the configured database."""
    from entrypoints.services import open_services
    from loyalty.errors import LoyaltyError

    settings = prepared_settings(quiet=True)

    async def go() -> T:
        async with open_services(settings) as services, services.uow_factory() as uow:
            return await action(uow, services.clock)

    try:
        return asyncio.run(go())
    except LoyaltyError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from error


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 store`, `2 stores`, `1,000 stores`: the count with the noun it agrees with (English output only)."""
    noun = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {noun}"


class OneLineFormatter(logging.Formatter):
    """A log record without its traceback: in `loyalty chat` the log shares the screen with the
    conversation, where an API error's forty lines of stack would bury it (`--verbose` keeps them)."""

    def format(self, record: logging.LogRecord) -> str:
        if not (record.exc_info or record.exc_text or record.stack_info):
            return super().format(record)
        bare = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        error = record.exc_info[1] if record.exc_info else None
        cause = f" ({type(error).__name__}: {error})" if error is not None else ""
        return super().format(bare) + cause + " [--verbose shows the traceback]"


def one_line_errors() -> None:
    """Every log handler on the root logger prints records on one line, tracebacks left out."""
    from entrypoints.services import LOG_FORMAT

    for handler in logging.getLogger().handlers:
        handler.setFormatter(OneLineFormatter(LOG_FORMAT))
