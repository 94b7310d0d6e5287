"""The points ledger: every change of a member's points, and the lots that expire.

Each credit appends an entry and opens a lot that expires at the end of a calendar month; each
debit appends an entry and records which lots it took from (`lot_debits`). Entries and lot
debits are never changed afterwards. `point_lots.remaining` and `members.points_balance` are
caches of them, updated in the same transaction, and `check_consistency` proves they agree.

Nothing here commits: the use case that calls these functions locks the member first
(`uow.lock_member`) and commits once. Only `expire_due`, the scheduled sweep, owns its
transactions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from db.models import LedgerEntry, LedgerKind, LotDebit, Member, PointLot
from db.uow import UnitOfWork, UnitOfWorkFactory
from loyalty.clock import Clock
from loyalty.errors import InsufficientPoints, LedgerInconsistent, PointsLimitExceeded

log = logging.getLogger(__name__)

CREDIT_KINDS = frozenset({LedgerKind.EARN, LedgerKind.BONUS, LedgerKind.ADJUST, LedgerKind.REVERSAL})
# "expire" is written only by expire_member: expiry takes what is due, not an amount FIFO.
# "forfeit": what is left when the member's data is erased (loyalty/erasure.py).
DEBIT_KINDS = frozenset({LedgerKind.REDEEM, LedgerKind.ADJUST, LedgerKind.CLAWBACK, LedgerKind.FORFEIT})
MAX_EXPIRY_MONTHS = 120
# The most points a member may hold, so also the largest entry, lot or debit: a credit that would
# go past it is refused. A hundred billion: a member earning a point per fen on ¥10,000,000 a
# year would need a thousand years. It keeps every sum far inside a signed 64-bit integer (the
# columns, SQLite's SUM, PostgreSQL's BIGINT arithmetic): 90 million members all at the limit
# still add up to less than 2**63.
MAX_BALANCE = 10**11
EXPIRY_ACTOR = "expiry"


@dataclass(frozen=True)
class DebitResult:
    entry: LedgerEntry | None  # None when nothing could be taken (allow_partial, 0 available)
    debited: int
    shortfall: int  # what was asked for but not there (only with allow_partial)


@dataclass(frozen=True)
class ExpiringPoints:
    expires_at: datetime
    points: int


def lot_expiry(earned_at: datetime, *, months: int, zone: ZoneInfo) -> datetime:
    """When points earned at `earned_at` expire: the end of the calendar month `months` after
    the month they were earned in, both months read in the program's zone. Returned as the
    first instant of the month after that one, in UTC; the points are usable while now < it."""
    _require_aware(earned_at, "earned_at")
    if not 1 <= months <= MAX_EXPIRY_MONTHS:
        raise ValueError(f"months must be between 1 and {MAX_EXPIRY_MONTHS}, not {months}")
    local = earned_at.astimezone(zone)
    # Months counted from year 0; +1 more because the lot lives to the END of the target month.
    year, month0 = divmod(local.year * 12 + local.month - 1 + months + 1, 12)
    # Local midnight on the 1st. Where a DST jump skips midnight, fold=0 resolves it to the
    # instant of the jump, which is still the first instant of that day.
    return datetime(year, month0 + 1, 1, tzinfo=zone).astimezone(timezone.utc)


async def credit(
    uow: UnitOfWork,
    member: Member,
    *,
    points: int,
    kind: LedgerKind,
    at: datetime,
    expires_at: datetime,
    actor: str,
    purchase_id: int | None = None,
    refund_id: int | None = None,
    redemption_id: int | None = None,
    reason: str | None = None,
    input_field: str | None = None,
) -> LedgerEntry:
    """Add points as one entry and one lot expiring at `expires_at`. Points that would take the
    balance past MAX_BALANCE are refused (PointsLimitExceeded naming `input_field`, the
    request's field that asked for them)."""
    _require_member_in(uow, member)
    _require_points(points)
    check_room(member, points, input_field=input_field)
    if kind not in CREDIT_KINDS:
        raise ValueError(f"credit kind must be one of {sorted(map(str, CREDIT_KINDS))}, not {kind!r}")
    _require_aware(at, "at")
    _require_aware(expires_at, "expires_at")
    if expires_at <= at:
        raise ValueError("a credit must not be expired when it is made (expires_at <= at)")

    entry = await _append_entry(
        uow,
        member,
        points=points,
        kind=kind,
        at=at,
        actor=actor,
        purchase_id=purchase_id,
        refund_id=refund_id,
        redemption_id=redemption_id,
        reason=reason,
    )
    uow.ledger.add_lot(
        PointLot(
            member_id=member.id,
            entry_id=entry.id,
            earned_at=at,
            expires_at=expires_at,
            points=points,
            remaining=points,
        )
    )
    await uow.ledger.flush()
    return entry


def check_room(member: Member, points: int, *, input_field: str | None = None) -> None:
    """PointsLimitExceeded unless the member can take `points` more without passing MAX_BALANCE.
    For the rules that must refuse before they write anything that records the points."""
    if points > MAX_BALANCE - member.points_balance:
        raise PointsLimitExceeded(
            f"that would take the member's points past {MAX_BALANCE:,}, the most a member may hold",
            field=input_field,
        )


async def debit(
    uow: UnitOfWork,
    member: Member,
    *,
    points: int,
    kind: LedgerKind,
    at: datetime,
    actor: str,
    allow_partial: bool = False,
    prefer_lot_ids: Sequence[int] = (),
    purchase_id: int | None = None,
    refund_id: int | None = None,
    redemption_id: int | None = None,
    reason: str | None = None,
) -> DebitResult:
    """Take points: first expire what is due at `at` (expired points are never spent), then
    take from `prefer_lot_ids` in that order (a refund's own purchase lot), then oldest expiry
    first. Not enough points: InsufficientPoints, or with `allow_partial` take what there is
    and report the shortfall."""
    _require_member_in(uow, member)
    _require_points(points)
    if kind not in DEBIT_KINDS:
        raise ValueError(f"debit kind must be one of {sorted(map(str, DEBIT_KINDS))}, not {kind!r}")
    _require_aware(at, "at")

    await expire_member(uow, member, at=at)
    lots = _preferred_first(await uow.ledger.open_lots(member.id, at=at), prefer_lot_ids)
    available_points = sum(lot.remaining for lot in lots)
    if available_points != member.points_balance:
        # After expiry every lot with points left is open, so they must add up to the balance.
        raise LedgerInconsistent(
            member.id, [f"balance {member.points_balance} but open lots hold {available_points}"]
        )
    if points > available_points and not allow_partial:
        raise InsufficientPoints(
            f"{points} points needed, {available_points} available",
            needed=points,
            available=available_points,
        )
    taken = min(points, available_points)
    if taken == 0:
        return DebitResult(entry=None, debited=0, shortfall=points)
    entry = await _append_entry(
        uow,
        member,
        points=-taken,
        kind=kind,
        at=at,
        actor=actor,
        purchase_id=purchase_id,
        refund_id=refund_id,
        redemption_id=redemption_id,
        reason=reason,
    )
    await _take_from_lots(uow, entry, lots)
    return DebitResult(entry=entry, debited=taken, shortfall=points - taken)


async def expire_member(
    uow: UnitOfWork, member: Member, *, at: datetime, actor: str = EXPIRY_ACTOR
) -> int:
    """Remove what is left of the member's lots that expired by `at`, as one `expire` entry
    with one lot debit per lot. Points already spent from a lot are not touched. The caller
    holds the member's lock. Returns the points expired (0: nothing written)."""
    _require_member_in(uow, member)
    _require_aware(at, "at")
    due = await uow.ledger.due_lots(member.id, at=at)
    points = sum(lot.remaining for lot in due)
    if points == 0:
        return 0
    entry = await _append_entry(uow, member, points=-points, kind=LedgerKind.EXPIRE, at=at, actor=actor)
    await _take_from_lots(uow, entry, due)
    return points


async def expire_due(uow_factory: UnitOfWorkFactory, clock: Clock, *, batch: int = 500) -> int:
    """The scheduled sweep: expire every member's due lots, one transaction per member, so a
    sweep never holds one lock for long and a purchase waits for at most one member's expiry.
    Running it again (or alongside another run) expires nothing twice: each member's due lots
    are re-read under the member's lock. Returns the points expired by this run."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    at = clock.now()  # one cut-off for the whole run
    total = 0
    after_member_id = 0
    while True:
        # The page is read in a transaction of its own and closed before any member is locked:
        # on SQLite an open transaction holds the write lock the per-member ones need.
        async with uow_factory() as uow:
            member_ids = await uow.ledger.members_with_due_lots(
                at=at, after_member_id=after_member_id, limit=batch
            )
        for member_id in member_ids:
            total += await _expire_one(uow_factory, member_id, at=at)
        if len(member_ids) < batch:
            return total
        after_member_id = member_ids[-1]


async def _expire_one(uow_factory: UnitOfWorkFactory, member_id: int, *, at: datetime) -> int:
    try:
        async with uow_factory() as uow:
            member = await uow.lock_member(member_id)
            points = await expire_member(uow, member, at=at)
            await uow.commit()
            return points
    except Exception:
        # One member's failure must not stop everyone else's expiry; the next run retries it.
        log.exception("expiring the points of member %s failed", member_id)
        return 0


async def available(uow: UnitOfWork, member_id: int, *, at: datetime) -> int:
    """Points usable at `at`: lots not yet expired by then, swept or not."""
    _require_aware(at, "at")
    return await uow.ledger.available(member_id, at=at)


async def expiry_schedule(uow: UnitOfWork, member_id: int, *, at: datetime) -> list[ExpiringPoints]:
    """The member's usable points by when they expire, soonest first."""
    _require_aware(at, "at")
    return [
        ExpiringPoints(expires_at=expires_at, points=points)
        for expires_at, points in await uow.ledger.expiring(member_id, at=at)
    ]


async def check_consistency(uow: UnitOfWork, member_id: int) -> None:
    """Raise LedgerInconsistent unless the caches agree with the append-only rows: the balance
    equals the sum of the entries and of the lots' remaining points, every balance_after
    chains, every credit opened one lot of its size, every debit's lot debits add up to it,
    and every lot's remaining is its points minus its debits."""
    await uow.ledger.flush()
    balance = await uow.ledger.stored_balance(member_id)
    if balance is None:
        raise LookupError(f"member {member_id} does not exist")
    entries = await uow.ledger.entries(member_id)
    lots = await uow.ledger.lots(member_id)
    debits = await uow.ledger.debits_touching(member_id)
    problems: list[str] = []

    running = 0
    for entry in entries:
        running += entry.points
        if entry.balance_after != running:
            problems.append(
                f"entry {entry.id}: balance_after {entry.balance_after}, expected {running}"
            )
    remaining = sum(lot.remaining for lot in lots)
    if not balance == running == remaining:
        problems.append(
            f"balance {balance}, sum of entries {running}, sum of lot remaining {remaining}"
        )

    lot_of_entry = {lot.entry_id: lot for lot in lots}
    debited_by_entry: dict[int, int] = {}
    debited_from_lot: dict[int, int] = {}
    for row in debits:
        if row.entry_member_id != row.lot_member_id:
            owners = f"entry of member {row.entry_member_id}, lot of {row.lot_member_id}"
            problems.append(f"lot debit {row.id}: {owners}")
        debited_by_entry[row.entry_id] = debited_by_entry.get(row.entry_id, 0) + row.points
        debited_from_lot[row.lot_id] = debited_from_lot.get(row.lot_id, 0) + row.points
    for entry in entries:
        if entry.points > 0:
            lot = lot_of_entry.get(entry.id)
            if lot is None or lot.points != entry.points:
                problems.append(
                    f"credit entry {entry.id} of {entry.points} has no lot of that size"
                )
        elif (debited := debited_by_entry.get(entry.id, 0)) != -entry.points:
            problems.append(f"debit entry {entry.id} of {entry.points} has lot debits of {debited}")
    for lot in lots:
        expected = lot.points - debited_from_lot.get(lot.id, 0)
        if lot.remaining != expected:
            problems.append(
                f"lot {lot.id}: remaining {lot.remaining}, points minus debits {expected}"
            )

    if problems:
        raise LedgerInconsistent(member_id, problems)


async def _append_entry(
    uow: UnitOfWork,
    member: Member,
    *,
    points: int,
    kind: LedgerKind,
    at: datetime,
    actor: str,
    purchase_id: int | None = None,
    refund_id: int | None = None,
    redemption_id: int | None = None,
    reason: str | None = None,
) -> LedgerEntry:
    """Append one entry of signed `points` and move the cached balance with it."""
    member.points_balance += points
    return await uow.ledger.add_entry(
        LedgerEntry(
            member_id=member.id,
            at=at,
            kind=kind,
            points=points,
            balance_after=member.points_balance,
            purchase_id=purchase_id,
            refund_id=refund_id,
            redemption_id=redemption_id,
            reason=reason,
            actor=actor,
        )
    )


async def _take_from_lots(uow: UnitOfWork, entry: LedgerEntry, lots: Sequence[PointLot]) -> None:
    """Record where the debit `entry` took its points: from `lots` in the order given."""
    left = -entry.points
    debits: list[LotDebit] = []
    for lot in lots:
        if left == 0:
            break
        part = min(lot.remaining, left)
        if part == 0:
            continue
        lot.remaining -= part
        left -= part
        debits.append(LotDebit(entry_id=entry.id, lot_id=lot.id, points=part))
    if left:
        raise LedgerInconsistent(
            entry.member_id, [f"lots short by {left} points for entry of {entry.points}"]
        )
    uow.ledger.add_debits(debits)
    await uow.ledger.flush()


def _preferred_first(lots: Sequence[PointLot], prefer_lot_ids: Sequence[int]) -> list[PointLot]:
    """The open lots with the preferred ones first, in the order given; ids that are not this
    member's open lots (spent, expired, someone else's) are ignored."""
    by_id = {lot.id: lot for lot in lots}
    preferred = [by_id.pop(lot_id) for lot_id in dict.fromkeys(prefer_lot_ids) if lot_id in by_id]
    return preferred + [lot for lot in lots if lot.id in by_id]


def _require_points(points: int) -> None:
    # Callers turn user input into a positive amount first; anything else here is a bug.
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise ValueError(f"points must be a positive integer, not {points!r}")


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _require_member_in(uow: UnitOfWork, member: Member) -> None:
    # A member object from another session would take the change to its balance nowhere.
    if not uow.ledger.holds(member):
        raise ValueError("member must be loaded in this unit of work (uow.lock_member)")
