"""Staff: Telegram users the owner lets run the program from the chat.

An owner broadcasts and manages every campaign; a marketer broadcasts and manages their own.
Access is read from the table on every staff action, so removing someone takes effect at once;
the grant itself is an administrator's act (`loyalty staff add`), recorded in the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast, get_args

from db.models import Staff
from db.uow import UnitOfWork
from loyalty.clock import Clock
from loyalty.errors import InvalidInput, NotFound
from loyalty.text import check_text

Role = Literal["owner", "marketer"]
ROLES: tuple[Role, ...] = get_args(Role)
MAX_NAME = 64  # staff.name
# Telegram user ids are positive and fit in 52 bits; anything else is a typo.
MAX_TELEGRAM_ID = 2**52


@dataclass(frozen=True)
class StaffChange:
    staff: Staff
    created: bool  # False: an existing staff member's role or name was changed


def _check(telegram_id: int, role: str, name: str | None) -> None:
    if not 0 < telegram_id < MAX_TELEGRAM_ID:
        raise InvalidInput("a Telegram user id is a positive whole number", field="telegram_id")
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; use one of {', '.join(ROLES)}", field="role")
    if name is not None and not 1 <= len(name.strip()) <= MAX_NAME:
        raise InvalidInput(f"a name is 1 to {MAX_NAME} characters", field="name")
    if name is not None:
        check_text(name, "name")


async def add(
    uow: UnitOfWork, clock: Clock, *, telegram_id: int, role: str, name: str | None, actor: str = "cli"
) -> StaffChange:
    """Grant `role` to a Telegram user, or change the role (and the name, when given) of one who
    already is staff. A new staff member needs a name. Commits."""
    _check(telegram_id, role, name)
    now = clock.now()
    existing = await uow.staff.by_telegram_id(telegram_id)
    created = False
    if existing is None:
        if name is None:
            raise InvalidInput("a new staff member needs a name", field="name")
        existing = Staff(telegram_id=telegram_id, role=role, name=name.strip(), created_at=now)
        created = await uow.staff.add(existing)
        if not created:  # added meanwhile by someone else: change that row instead
            existing = await uow.staff.by_telegram_id(telegram_id)
            assert existing is not None
    if not created:
        existing.role = role
        if name is not None:
            existing.name = name.strip()
    uow.audit.record(
        at=now, actor=actor, action="staff.add" if created else "staff.update", detail=f"{telegram_id} {role}"
    )
    await uow.commit()
    return StaffChange(existing, created)


async def remove(uow: UnitOfWork, clock: Clock, telegram_id: int, *, actor: str = "cli") -> None:
    """Take staff access away at once: their console sessions and unused sign-in links end with
    it. Campaigns they created keep running. Commits."""
    existing = await uow.staff.by_telegram_id(telegram_id)
    if existing is None:
        raise NotFound(f"no staff member has Telegram id {telegram_id}")
    await uow.console.end_sessions_of(existing.id)
    if not await uow.staff.remove(telegram_id):
        raise NotFound(f"no staff member has Telegram id {telegram_id}")
    uow.audit.record(at=clock.now(), actor=actor, action="staff.remove", detail=str(telegram_id))
    await uow.commit()


async def list_staff(uow: UnitOfWork) -> Sequence[Staff]:
    return await uow.staff.all()


async def role_of(uow: UnitOfWork, telegram_id: int) -> Role | None:
    """The role of this Telegram user, or None when they are not staff."""
    staff = await uow.staff.by_telegram_id(telegram_id)
    return cast(Role, staff.role) if staff is not None else None
