"""Staff: Telegram users the owner lets run the program from the chat.

An owner broadcasts and manages every campaign; a marketer broadcasts and manages their own; a
cashier only rings up sales in the Mini App's till, at the store they are tied to (an owner may
use the till too, at their store or one they pick).
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
from loyalty.errors import InvalidInput, LastOwner, NotFound, UnknownStore
from loyalty.text import check_text

Role = Literal["owner", "marketer", "cashier"]
ROLES: tuple[Role, ...] = get_args(Role)
# Who runs the program (the chat's /broadcast and /campaigns, /console, the web console): not a
# cashier, whose one tool is the till. Who may use the till: not a marketer.
PROGRAM_ROLES: frozenset[str] = frozenset({"owner", "marketer"})
TILL_ROLES: frozenset[str] = frozenset({"owner", "cashier"})
# `add`'s store_code when the store is to stay as it is.
KEEP_STORE = "\x00keep"
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


def runs_program(role: str | None) -> bool:
    return role in PROGRAM_ROLES


def uses_till(role: str | None) -> bool:
    return role in TILL_ROLES


async def _store_id(uow: UnitOfWork, store_code: str | None) -> int | None:
    if store_code is None or not store_code.strip():
        return None
    store = await uow.program.store_by_code(store_code.strip())
    if store is None:
        raise UnknownStore(f"no store has the code {store_code.strip()!r}", field="store")
    return store.id


async def add(
    uow: UnitOfWork,
    clock: Clock,
    *,
    telegram_id: int,
    role: str,
    name: str | None,
    actor: str = "cli",
    store_code: str | None = KEEP_STORE,
) -> StaffChange:
    """Grant `role` to a Telegram user, or change the role (and the name, when given) of one who
    already is staff. A new staff member needs a name. `store_code` ties them to a store (None
    or "": to none; KEEP_STORE, the default: as they are); a cashier must have one. Commits."""
    _check(telegram_id, role, name)
    now = clock.now()
    store_id = await _store_id(uow, store_code) if store_code != KEEP_STORE else None
    existing = await uow.staff.by_telegram_id(telegram_id)
    keeps = existing.store_id if existing is not None else None
    if role == "cashier" and (store_id if store_code != KEEP_STORE else keeps) is None:
        raise InvalidInput("a cashier rings up sales at one store: give their store", field="store")
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
        if existing.role == "owner" and role != "owner":
            await _keep_an_owner(uow)
        existing.role = role
        if name is not None:
            existing.name = name.strip()
    if store_code != KEEP_STORE:
        existing.store_id = store_id
    where = f" at {store_code.strip()}" if store_code and store_code != KEEP_STORE and store_id else ""
    uow.audit.record(
        at=now, actor=actor, action="staff.add" if created else "staff.update", detail=f"{telegram_id} {role}{where}"
    )
    await uow.commit()
    return StaffChange(existing, created)


async def remove(uow: UnitOfWork, clock: Clock, telegram_id: int, *, actor: str = "cli") -> None:
    """Take staff access away at once: their console sessions and unused sign-in links end with
    it. Campaigns they created keep running. Commits."""
    existing = await uow.staff.by_telegram_id(telegram_id)
    if existing is None:
        raise NotFound(f"no staff member has Telegram id {telegram_id}")
    if existing.role == "owner":
        await _keep_an_owner(uow)
    await uow.console.end_sessions_of(existing.id)
    if not await uow.staff.remove(telegram_id):
        raise NotFound(f"no staff member has Telegram id {telegram_id}")
    uow.audit.record(at=clock.now(), actor=actor, action="staff.remove", detail=str(telegram_id))
    await uow.commit()


async def _keep_an_owner(uow: UnitOfWork) -> None:
    """Refuse (LastOwner, nothing changed) to demote or remove the one owner left."""
    if await uow.staff.lock_owners() <= 1:
        raise LastOwner("the program's last owner stays an owner: make someone else owner first")


async def list_staff(uow: UnitOfWork) -> Sequence[Staff]:
    return await uow.staff.all()


async def role_of(uow: UnitOfWork, telegram_id: int) -> Role | None:
    """The role of this Telegram user, or None when they are not staff."""
    staff = await uow.staff.by_telegram_id(telegram_id)
    return cast(Role, staff.role) if staff is not None else None
