"""Who is asking, and may they: the console's session cookie, roles and CSRF check.

Every page depends on `CurrentStaff` (no valid session: a redirect to the page that says how to
sign in) or on `OwnerOnly` (a marketer gets a 403 page). Every POST depends on `CheckedCsrf`:
the session's CSRF token must come back in the form's hidden `csrf_token` field or, for htmx,
in the `X-CSRF-Token` header, or the answer is 403 and nothing changes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.deps import ClockDep, SettingsDep, UowDep
from loyalty import console_access
from loyalty.console_access import ConsoleUser

COOKIE = "loyalty_console"
COOKIE_PATH = "/console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class ConsoleRefusal(Exception):
    """Answered with a page of the console (api/console/pages.py), never with JSON."""

    def __init__(self, status: int, page: str, user: ConsoleUser | None = None) -> None:
        super().__init__(page)
        self.status = status
        self.page = page  # the key of the message shown: "forbidden", "csrf", ...
        self.user = user


class SignInNeeded(Exception):
    """No session, or one that ended: the browser goes to the page on how to sign in."""


async def current_staff(request: Request, uow: UowDep, clock: ClockDep, settings: SettingsDep) -> ConsoleUser:
    user = await console_access.authenticate(uow, clock, settings, request.cookies.get(COOKIE))
    if user is None:
        raise SignInNeeded()
    request.state.console_user = user
    return user


CurrentStaff = Annotated[ConsoleUser, Depends(current_staff)]


def require_owner(user: CurrentStaff) -> ConsoleUser:
    if not user.is_owner:
        raise ConsoleRefusal(403, "forbidden", user)
    return user


OwnerOnly = Annotated[ConsoleUser, Depends(require_owner)]


async def checked_csrf(request: Request, user: CurrentStaff) -> ConsoleUser:
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        presented = field if isinstance(field, str) else None
    if not console_access.csrf_matches(user, presented):
        raise ConsoleRefusal(403, "csrf", user)
    return user


CheckedCsrf = Annotated[ConsoleUser, Depends(checked_csrf)]
