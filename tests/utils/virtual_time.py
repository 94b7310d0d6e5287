"""An event loop on virtual time, for code that takes its time from the running loop
(`loop.time()`, `asyncio.sleep`, `call_at`; aiolimiter too): the loop is that code's clock.

Time stands still while anything is ready to run and jumps to the next timer the moment every
task waits, so a test of "not before 0.2 s" reads exact times, takes no wall time and holds on
a loaded machine. Real I/O is still polled, never waited for: tests on this loop use none."""

from __future__ import annotations

import asyncio
import functools
import math
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

P = ParamSpec("P")


class _JumpingSelector(selectors.DefaultSelector):
    """Polls instead of blocking; the time it would have blocked for passes at once."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000.0  # far from zero, as a loop's monotonic clock is
        self.anything_ready: Callable[[], bool] = lambda: False

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:  # nothing scheduled: only I/O (or another thread) could wake the loop
            return super().select(None)
        events = super().select(0)
        if not events and not self.anything_ready():
            # At least one step of the float: a timer due now or a hair away (a rate limiter
            # rounding its next wake-up) would otherwise come round for ever, as a real clock
            # always moves on.
            self.now = max(self.now + timeout, math.nextafter(self.now, math.inf))
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)
        self._jumping.anything_ready = lambda: bool(self._ready)  # type: ignore[attr-defined]

    def time(self) -> float:
        return self._jumping.now


def on_virtual_time(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test on a VirtualTimeLoop of its own (instead of pytest-asyncio's loop)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        loop = VirtualTimeLoop()
        try:
            loop.run_until_complete(test(*args, **kwargs))
        finally:
            loop.close()

    return run
