"""`loyalty chat` without --verbose: an error in the log is one line in the chat pane, not a traceback."""

from __future__ import annotations

import io
import logging

from entrypoints.cli.common import OneLineFormatter
from entrypoints.services import LOG_FORMAT


def test_an_error_with_a_traceback_is_logged_on_one_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter(LOG_FORMAT))
    log = logging.getLogger("test.chat.one-line")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise RuntimeError("database is locked")
        except RuntimeError:
            log.exception("Exception in ASGI application")
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "Exception in ASGI application (RuntimeError: database is locked)" in lines[0]
    assert "--verbose" in lines[0] and "Traceback" not in lines[0]
