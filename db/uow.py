"""Unit of work: one transaction per update, request or job run.

Only an explicit `commit()` persists; leaving the block without one rolls back, so a rule that
raises half-way writes nothing.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from types import TracebackType

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.crypto import FieldCipher
from db.engine import read_aside, reading_aside
from db.models import Member
from db.program_cache import ProgramCache
from db.repositories import (
    ApiKeyRepository,
    AuditLog,
    CampaignEffectRepository,
    CampaignOutboxRepository,
    CampaignRepository,
    ConsoleRepository,
    CouponRepository,
    EvaluationRepository,
    IdempotencyRepository,
    KpiRepository,
    LedgerRepository,
    MemberRepository,
    NotificationRepository,
    NudgeRepository,
    PersonalDataRepository,
    ProgramRepository,
    PurchaseRepository,
    ReferralRepository,
    RewardRepository,
    SecretKeyRepository,
    StaffRepository,
)
from db.repositories.feedback import FeedbackRepository


class UnitOfWork:
    members: MemberRepository
    api_keys: ApiKeyRepository
    audit: AuditLog
    program: ProgramRepository
    ledger: LedgerRepository
    purchases: PurchaseRepository
    rewards: RewardRepository
    coupons: CouponRepository
    notifications: NotificationRepository
    nudges: NudgeRepository
    idempotency: IdempotencyRepository
    personal_data: PersonalDataRepository
    console: ConsoleRepository
    kpis: KpiRepository
    referrals: ReferralRepository
    feedback: FeedbackRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        cipher: FieldCipher,
        program_cache: ProgramCache | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._cipher = cipher
        self._program_cache = program_cache or ProgramCache(ttl=0)
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._session_factory()
        self.members = MemberRepository(self._session, self._cipher)
        self.api_keys = ApiKeyRepository(self._session)
        self.audit = AuditLog(self._session)
        self._program_cache.watch(self._session.sync_session)
        self.program = ProgramRepository(self._session, self._program_cache)
        self.ledger = LedgerRepository(self._session)
        self.purchases = PurchaseRepository(self._session)
        self.referrals = ReferralRepository(self._session)
        self.rewards = RewardRepository(self._session)
        self.coupons = CouponRepository(self._session)
        self.notifications = NotificationRepository(self._session)
        self.nudges = NudgeRepository(self._session)
        self.idempotency = IdempotencyRepository(self._session)
        self.campaigns = CampaignRepository(self._session)
        self.campaign_outbox = CampaignOutboxRepository(self._session, self._cipher)
        self.campaign_effect = CampaignEffectRepository(self._session)
        self.evaluation = EvaluationRepository(self._session)
        self.staff = StaffRepository(self._session)
        self.secret_keys = SecretKeyRepository(self._session)
        self.personal_data = PersonalDataRepository(self._session)
        self.console = ConsoleRepository(self._session)
        self.kpis = KpiRepository(self._session)
        self.feedback = FeedbackRepository(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        # close() rolls back whatever was not committed, like rollback(), but leaves the objects
        # already loaded readable (detached) instead of expiring them.
        try:
            await self._session.close()
        finally:
            self._session = None
        await _hand_over()

    @property
    def cipher(self) -> FieldCipher:
        """The keys this unit of work reads and writes personal fields with."""
        return self._cipher

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside `async with`")
        return self._session

    @property
    def writes_exclusively(self) -> bool:
        """Whether a write transaction stops every other writer until it ends (SQLite's one write
        lock), so that a long job must commit in short transactions for purchases to get in."""
        bind = self.session.bind
        return bind is not None and bind.dialect.name == "sqlite"

    async def commit(self) -> None:
        await self.session.commit()
        await _hand_over()

    async def rollback(self) -> None:
        await self.session.rollback()

    def reading_aside(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session reading one snapshot over a connection of its own, without the write lock
        (db.engine.reading_aside): for a long read while this unit of work commits short writes."""
        return reading_aside(_url_of(self._session_factory))

    async def lock_member(self, member_id: int) -> Member:
        """Serialise every change to one member's points: a row lock on PostgreSQL (SQLite's
        transactions already hold the database write lock) and a fresh read of the row.

        FOR NO KEY UPDATE, not FOR UPDATE: rows that merely reference the member (a nudge being
        written to the outbox takes KEY SHARE through its foreign key) do not wait for it, nor it
        for them; two changes to the member still queue."""
        member = await self.session.scalar(
            select(Member)
            .where(Member.id == member_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        if member is None:
            raise LookupError(f"member {member_id} does not exist")
        return member

    async def release(self) -> None:
        """End the current transaction after reads, keeping loaded objects usable, so slow I/O
        that follows (a Telegram call) holds no database lock."""
        await self.commit()

    async def ping(self) -> None:
        await self.session.execute(text("SELECT 1"))

    async def flush(self) -> None:
        await self.session.flush()


class UnitOfWorkFactory:
    """Makes a fresh UnitOfWork per use; what the bot, the API and jobs are given."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        cipher: FieldCipher,
        program_cache: ProgramCache | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.cipher = cipher
        # One cache per factory (per process in production, per test in tests).
        self.program_cache = program_cache or ProgramCache()

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.cipher, self.program_cache)

    async def read_aside(self) -> None:
        """Read the database over a connection of its own, without the write lock (see
        db.engine.read_aside); raises if it cannot be read."""
        await read_aside(_url_of(self.session_factory))


def _url_of(session_factory: async_sessionmaker[AsyncSession]) -> str:
    return str(session_factory.kw["bind"].url.render_as_string(hide_password=False))


async def _hand_over() -> None:
    """Called once this unit of work gave its connection back to the pool (a session does at
    the end of every transaction): the pool has woken the unit of work waiting longest for one,
    but hands a returned connection to whoever asks first, and a loop of short transactions (a
    sweep span by span, the per-member tier review or expiry, a campaign start chunk by chunk)
    asks again at once. Yielding lets the waiter take it first: on SQLite, where a process has
    one connection, that is what lets a purchase in between a sweep's transactions instead of
    after the last one."""
    await asyncio.sleep(0)


__all__ = ["IntegrityError", "UnitOfWork", "UnitOfWorkFactory"]
