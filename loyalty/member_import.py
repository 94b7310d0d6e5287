"""Moving from an old program: members with their opening balances and tiers, and bulk point
adjustments, from CSV files.

Both imports are all rows or none: every bad row is listed (its line as a spreadsheet numbers
it, the header being line 1, the column, the reason) and nothing is written. Both are idempotent:

- members are keyed on the phone number, the join key of the whole program (loyalty/members.py):
  a row whose phone already belongs to a member is left alone and counted as already there, so
  the same file twice (or a second file that repeats some rows) changes nothing; the old
  program's member id (`external_id`) must be unique within the file and is kept in the audit log;
- a bulk adjustment file is known by the SHA-256 of its bytes (its import id): the same file
  again replays the first report and writes nothing.

Members CSV (UTF-8, header first; only `phone` required):

    external_id,phone,name,language,opening_points,tier,joined
    A-1001,+8613800138000,Li Lei,zh_CN,1200,gold,2021-03-04

Opening balances are ledger entries of kind "adjust" with the reason "opening balance" and the
actor `import:<import id>`; their lot expires a full expiry period after the import, not after the
joined date, so a move does not make points lapse at once. Imported members have no chat yet:
when one later sends /start and shares the same phone, the chat is linked to this membership
(members.register_from_chat). Their consent version reads "import" until then.

Adjustments CSV: `member_number,points,reason`, each row through the same rule as one
adjustment (points.apply_adjustment: never below zero, never past the most a member may hold).
The API keys' daily cap does not apply: a file is an owner's act from the console or the CLI,
not a till's, and at most MAX_ROWS rows are taken.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time

from db.models import LedgerKind, Member
from db.uow import IntegrityError, UnitOfWork
from loyalty import ledger
from loyalty.clock import Clock
from loyalty.config import SUPPORTED_LOCALES, Settings
from loyalty.errors import ImportRejected, InvalidInput, LoyaltyError, MemberNotFound
from loyalty.idempotency import IdempotencyKey, Outcome, StoredAnswer, previous_answer, remember
from loyalty.members import _unused_member_number, clean_first_name, is_valid_member_number
from loyalty.points import apply_adjustment
from loyalty.profile import normalize_phone
from loyalty.stores import RowError

MEMBER_COLUMNS = ("external_id", "phone", "name", "language", "opening_points", "tier", "joined")
ADJUSTMENT_COLUMNS = ("member_number", "points", "reason")
MAX_ROWS = 50_000
MAX_OPENING_POINTS = ledger.MAX_BALANCE
MAX_ADJUSTMENT = 10**9
MAX_EXTERNAL_ID = 64
MAX_REASON = 200
OPENING_REASON = "opening balance"
IMPORT_CONSENT = "import"
Progress = Callable[[int], None]


@dataclass(frozen=True)
class MemberRow:
    line: int
    external_id: str | None
    phone: str
    name: str | None
    locale: str
    opening_points: int
    tier_code: str | None
    joined: date | None


@dataclass(frozen=True)
class AdjustmentRow:
    line: int
    member_number: str
    points: int
    reason: str


@dataclass(frozen=True)
class MemberImportReport:
    import_id: str
    created: int
    already_there: int
    opening_points: int
    member_numbers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AdjustmentImportReport:
    import_id: str
    adjusted: int
    points: int
    replayed: bool = False


def import_id_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected(
            "the file is not UTF-8 text", errors=[RowError(1, "file", "the file is not UTF-8 text; save it as CSV UTF-8")]
        ) from None


def _rows(text: str, columns: tuple[str, ...], required: tuple[str, ...]) -> csv.DictReader[str]:
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    unknown = [column for column in header if column not in columns]
    missing = [column for column in required if column not in header]
    if unknown or missing:
        problem = f"unknown columns {unknown}" if unknown else f"missing columns {missing}"
        message = f"{problem}; the columns are {','.join(columns)}"
        raise ImportRejected(message, errors=[RowError(1, "header", message)])
    return reader


def _cell(row: Mapping[str, str | None], column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value or None


def _whole(value: str | None, column: str, *, low: int, high: int, default: int | None = None) -> int:
    if value is None:
        if default is None:
            raise InvalidInput(f"{column} is required", field=column)
        return default
    try:
        number = int(value.replace(",", "").replace("_", ""))
    except ValueError:
        raise InvalidInput(f"{value!r} is not a whole number", field=column) from None
    if not low <= number <= high:
        raise InvalidInput(f"{column} is from {low:,} to {high:,}", field=column)
    return number


def _reject(errors: list[RowError], what: str) -> ImportRejected:
    count = len(errors)
    return ImportRejected(f"{count} bad row{'' if count == 1 else 's'}; no {what} imported", errors=errors)


def _check_rows(line: int, errors: list[RowError]) -> bool:
    if line - 1 > MAX_ROWS:
        errors.append(RowError(line, "row", f"at most {MAX_ROWS:,} rows per file"))
        return False
    return True


def parse_member_csv(data: bytes, *, tier_codes: frozenset[str], phone_region: str, today: date) -> list[MemberRow]:
    """The members of a CSV, checked, or ImportRejected listing every bad row."""
    reader = _rows(_text(data), MEMBER_COLUMNS, ("phone",))
    rows: list[MemberRow] = []
    errors: list[RowError] = []
    phones: dict[str, int] = {}
    external_ids: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        if not _check_rows(line, errors):
            break
        if None in row:
            errors.append(RowError(line, "row", f"more cells than the {len(reader.fieldnames or [])} columns"))
            continue
        try:
            parsed = _member_row(line, row, tier_codes=tier_codes, phone_region=phone_region, today=today)
        except InvalidInput as exc:
            errors.append(RowError(line, exc.field or "row", str(exc)))
            continue
        if parsed.phone in phones:
            errors.append(RowError(line, "phone", f"this phone is already on line {phones[parsed.phone]}"))
            continue
        if parsed.external_id is not None:
            if parsed.external_id in external_ids:
                errors.append(
                    RowError(line, "external_id", f"{parsed.external_id!r} is already on line {external_ids[parsed.external_id]}")
                )
                continue
            external_ids[parsed.external_id] = line
        phones[parsed.phone] = line
        rows.append(parsed)
    if not rows and not errors:
        errors.append(RowError(2, "row", "the file has no members"))
    if errors:
        raise _reject(errors, "member was")
    return rows


def _member_row(
    line: int, row: Mapping[str, str | None], *, tier_codes: frozenset[str], phone_region: str, today: date
) -> MemberRow:
    raw_phone = _cell(row, "phone")
    if raw_phone is None:
        raise InvalidInput("phone is required", field="phone")
    try:
        phone = normalize_phone(raw_phone, phone_region)
    except InvalidInput as exc:
        raise InvalidInput(str(exc), field="phone") from None
    external_id = _cell(row, "external_id")
    if external_id is not None and len(external_id) > MAX_EXTERNAL_ID:
        raise InvalidInput(f"external_id is at most {MAX_EXTERNAL_ID} characters", field="external_id")
    raw_name = _cell(row, "name")
    name = clean_first_name(raw_name)
    if raw_name is not None and name is None:
        raise InvalidInput("name is not a usable name", field="name")
    locale = _cell(row, "language") or "en"
    if locale not in SUPPORTED_LOCALES:
        raise InvalidInput(f"language {locale!r} is not one of {', '.join(SUPPORTED_LOCALES)}", field="language")
    opening = _whole(_cell(row, "opening_points"), "opening_points", low=0, high=MAX_OPENING_POINTS, default=0)
    tier = _cell(row, "tier")
    if tier is not None and tier not in tier_codes:
        raise InvalidInput(f"tier {tier!r} is not one of {', '.join(sorted(tier_codes))}", field="tier")
    joined = None
    if (raw_joined := _cell(row, "joined")) is not None:
        try:
            joined = date.fromisoformat(raw_joined)
        except ValueError:
            raise InvalidInput(f"joined {raw_joined!r} is not a date like 2021-03-04", field="joined") from None
        if joined > today:
            raise InvalidInput("joined is in the future", field="joined")
    return MemberRow(line, external_id, phone, name, locale, opening, tier, joined)


async def import_members(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    data: bytes,
    *,
    actor: str,
    progress: Progress | None = None,
) -> MemberImportReport:
    """Create every member of a members CSV that is not one already (by phone), with their
    opening balance and tier, in one transaction. `progress(n)`: n more rows done. Commits."""
    now = clock.now()
    tiers = {tier.code: tier for tier in await uow.program.tiers()}
    rows = parse_member_csv(
        data, tier_codes=frozenset(tiers), phone_region=settings.phone_region, today=now.astimezone(settings.zone).date()
    )
    import_id = import_id_of(data)
    entry_tier = await uow.program.entry_tier()
    actor_of_entries = f"import:{import_id[:12]}"
    created: list[str] = []
    already = opening_total = 0
    taken = await uow.members.phones_taken([row.phone for row in rows])
    try:
        for row in rows:
            if row.phone in taken:
                already += 1
            else:
                member = await _imported_member(uow, settings, row, tier_id=tiers[row.tier_code].id if row.tier_code else entry_tier.id, now=now)
                await uow.members.add(member)
                if row.opening_points:
                    await ledger.credit(
                        uow, member, points=row.opening_points, kind=LedgerKind.ADJUST, at=now,
                        actor=actor_of_entries, reason=OPENING_REASON, input_field="opening_points",
                        expires_at=ledger.lot_expiry(now, months=settings.points_expiry_months, zone=settings.zone),
                    )
                    opening_total += row.opening_points
                uow.audit.record(
                    at=now, actor=actor, action="member.import", member_id=member.id,
                    detail=f"line {row.line}" + (f", old id {row.external_id}" if row.external_id else ""),
                )
                created.append(member.member_number)
            if progress is not None:
                progress(1)
        uow.audit.record(
            at=now, actor=actor, action="members.import",
            detail=f"{import_id[:12]}: {len(created)} created, {already} already there, {opening_total} opening points",
        )
        await uow.commit()
    except IntegrityError as exc:
        # Another import (or a sign-up) took one of these phones since they were looked up.
        await uow.rollback()
        message = "some of these members were added meanwhile; nothing was imported, upload the file again"
        raise ImportRejected(message, errors=[RowError(1, "file", message)]) from exc
    return MemberImportReport(import_id, len(created), already, opening_total, created)


async def _imported_member(uow: UnitOfWork, settings: Settings, row: MemberRow, *, tier_id: int, now: datetime) -> Member:
    joined = datetime.combine(row.joined, time(0), tzinfo=settings.zone) if row.joined else now
    member = Member(
        member_number=await _unused_member_number(uow),
        telegram_id=None,
        locale=row.locale,
        enrolled_via="import",
        tier_id=tier_id,
        tier_since=now,
        consent_version=IMPORT_CONSENT,
        consented_at=joined,
        points_balance=0,
        created_at=joined,
        updated_at=now,
    )
    uow.members.set_phone(member, row.phone)
    uow.members.set_first_name(member, row.name)
    return member


def parse_adjustment_csv(data: bytes) -> list[AdjustmentRow]:
    """The adjustments of a CSV, checked for form, or ImportRejected listing every bad row."""
    reader = _rows(_text(data), ADJUSTMENT_COLUMNS, ADJUSTMENT_COLUMNS)
    rows: list[AdjustmentRow] = []
    errors: list[RowError] = []
    for line, row in enumerate(reader, start=2):
        if not _check_rows(line, errors):
            break
        if None in row:
            errors.append(RowError(line, "row", f"more cells than the {len(ADJUSTMENT_COLUMNS)} columns"))
            continue
        try:
            number = _cell(row, "member_number") or ""
            if not is_valid_member_number(number):
                raise InvalidInput(f"{number!r} is not a member number", field="member_number")
            points = _whole(_cell(row, "points"), "points", low=-MAX_ADJUSTMENT, high=MAX_ADJUSTMENT)
            if points == 0:
                raise InvalidInput("points must not be zero", field="points")
            reason = _cell(row, "reason")
            if reason is None or len(reason) > MAX_REASON:
                raise InvalidInput(f"a reason is 1 to {MAX_REASON} characters", field="reason")
        except InvalidInput as exc:
            errors.append(RowError(line, exc.field or "row", str(exc)))
            continue
        rows.append(AdjustmentRow(line, number, points, reason))
    if not rows and not errors:
        errors.append(RowError(2, "row", "the file has no adjustments"))
    if errors:
        raise _reject(errors, "adjustment was")
    return rows


async def import_adjustments(
    uow: UnitOfWork,
    clock: Clock,
    settings: Settings,
    data: bytes,
    *,
    actor: str,
    progress: Progress | None = None,
) -> AdjustmentImportReport:
    """Apply every adjustment of a CSV in one transaction, or none: a row the rules refuse
    (unknown member, a balance that would go below zero) is listed with the others. The same
    file again replays the first report. Commits."""
    rows = parse_adjustment_csv(data)
    import_id = import_id_of(data)
    key = IdempotencyKey(scope="import:adjustments", key=import_id, fingerprint=import_id)
    replay = await previous_answer(uow, key)
    if replay is not None:
        return AdjustmentImportReport(**{**replay.body, "replayed": True})
    now = clock.now()
    errors: list[RowError] = []
    total = 0
    for row in rows:
        try:
            # Every refusal comes before a write (member unknown, too few points), so the
            # transaction stays usable and the remaining rows are still checked.
            await apply_adjustment(
                uow, settings, member_number=row.member_number, points=row.points, reason=row.reason,
                actor=actor, now=now,
            )
            total += row.points
        except LoyaltyError as exc:
            where = "member_number" if isinstance(exc, MemberNotFound) else getattr(exc, "field", None) or "points"
            errors.append(RowError(row.line, where, str(exc)))
        if progress is not None:
            progress(1)
    if errors:
        await uow.rollback()
        raise _reject(errors, "adjustment was")
    report = AdjustmentImportReport(import_id, len(rows), total)
    body = asdict(report)
    body.pop("replayed")
    uow.audit.record(
        at=now, actor=actor, action="points.import", detail=f"{import_id[:12]}: {len(rows)} adjustments, {total:+d} points"
    )
    remember(uow, key, StoredAnswer(Outcome.done, body), at=now, member_id=None)
    await uow.commit()
    return report
