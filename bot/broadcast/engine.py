"""Sends campaigns: drains the campaign outbox (campaign_recipients) at Telegram's limit.

Three parts run side by side in one drain:
- the feeder claims due rows in batches (a conditional UPDATE, SKIP LOCKED on PostgreSQL, so
  several senders never claim one row), only about what goes out in the next second or two at
  the current rate: a row claimed is a row that a crash may send twice, and a row claimed long
  before its turn would look abandoned to other senders;
- a pool of workers renders each member's message and sends it within the throttle (the global
  bucket, one message a second per chat; a 429 pauses every worker for its retry_after);
- outcomes are written in bulk every ~200 ms (or 100 rows): one UPDATE per kind of outcome,
  so 1,000 messages a second stay within what SQLite writes comfortably.

What becomes of a row: sent; 429 -> back to pending after retry_after, no attempt counted;
403 -> skipped "unreachable" and the member marked unreachable; a refused request (400) ->
failed at once with Telegram's reason (the same request gets the same answer); any other error
-> retried after 2, 4, 8, 16 s, failed after MAX_ATTEMPTS. Rows a sender left `sending` for
longer than the lease (it died) go back to pending and are sent again by whoever drains next:
at least once, and at most the rows in flight at a crash arrive twice. Campaign rows are not
notifications: a member missing the member-day announcement costs the merchant more than the
rare second copy.

The engine sends through a BroadcastClient of its own (JSON over aiohttp, not aiogram's Bot:
see bot.broadcast.client), without the bot's ordered-delivery middleware, which waits out a
429 inside the request: here a 429 slows every send down instead of holding one worker and
its chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import EllipsisType
from typing import Any

from bot.broadcast.client import BadRequest, BroadcastClient, Forbidden, RetryAfter
from bot.coupons_view import coupon_buttons
from bot.render import texts_for
from bot.throttle import Throttle
from db.models import Campaign
from db.repositories.campaign_outbox import Recipient
from db.uow import UnitOfWorkFactory
from loyalty.campaigns import service
from loyalty.campaigns.messages import Addressee, pick_text, render
from loyalty.clock import Clock
from loyalty.config import SUPPORTED_LOCALES, Settings
from loyalty.i18n import localized
from loyalty.members import set_chat_reachable

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
FLUSH_EVERY = 0.2  # seconds between writes of outcomes...
FLUSH_ROWS = 100  # ...or sooner, once this many are waiting
CLAIM_SECONDS = 1.0  # keep at least this many seconds of sending claimed, at most twice it
MAX_CLAIM = 250  # rows per claim, at most: reading 1,000 at once held the loop long enough to bunch sends
RECOVER_EVERY = 1.0  # seconds between looks for rows a dead sender left
CAMPAIGNS_EVERY = 1.0  # seconds between looks for campaigns that started or were resumed
PROGRESS_EVERY = 5.0  # seconds between progress lines
MAX_WAIT = 60.0  # a drain waits this long for rows due later (a retry, a dead sender's lease)
UNLIMITED_CONCURRENCY = 100  # sends in flight with no rate limit

ProgressCallback = Callable[[service.Progress], Awaitable[None] | None]


def default_concurrency(rate: float | None) -> int:
    """Enough sends in flight to keep the rate with Telegram's ~0.3 s round trip, at most 200."""
    if rate is None:
        return UNLIMITED_CONCURRENCY
    return max(8, min(200, math.ceil(rate * 0.5)))


@dataclass(frozen=True)
class Content:
    """What a campaign says, read once per drain (it does not change while it sends)."""

    texts: dict[str, str]
    image_url: str | None
    buttons: list[dict[str, Any]]


@dataclass
class Outcomes:
    """Outcomes waiting to be written, grouped by what one UPDATE can write."""

    sent: defaultdict[tuple[int, datetime], list[int]] = field(default_factory=lambda: defaultdict(list))
    # (campaign, claim, status, reason, attempted)
    done: defaultdict[tuple[int, datetime, str, str | None, bool], list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # (campaign, claim, until, reason, attempted)
    back: defaultdict[tuple[int, datetime, datetime, str | None, bool], list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    blocked_chats: list[int] = field(default_factory=list)
    claims: Counter[datetime] = field(default_factory=Counter)  # rows per claim these end
    rows: int = 0

    def merge(self, other: Outcomes) -> None:
        """Put back outcomes whose write failed, to be written with the next ones."""
        for key, ids in other.sent.items():
            self.sent[key].extend(ids)
        for done_key, ids in other.done.items():
            self.done[done_key].extend(ids)
        for back_key, ids in other.back.items():
            self.back[back_key].extend(ids)
        self.blocked_chats.extend(other.blocked_chats)
        self.claims.update(other.claims)
        self.rows += other.rows


@dataclass
class Run:
    """The state of one drain."""

    queue: asyncio.Queue[Recipient]
    outcomes: Outcomes = field(default_factory=Outcomes)
    unsent: int = 0  # claimed rows whose outcome is not known yet
    held: Counter[datetime] = field(default_factory=Counter)  # rows per claim not yet written
    campaigns: set[int] = field(default_factory=set)  # campaigns this drain claimed from
    contents: dict[int, Content] = field(default_factory=dict)
    flush_now: asyncio.Event = field(default_factory=asyncio.Event)
    room: asyncio.Event = field(default_factory=asyncio.Event)  # the feeder may claim more


class BroadcastEngine:
    def __init__(
        self,
        client: BroadcastClient,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        settings: Settings,
        *,
        rate: float | EllipsisType | None = ...,
        per_chat_rate: float | EllipsisType | None = ...,
        lease: timedelta | None = None,
        concurrency: int | None = None,
        max_wait: float = MAX_WAIT,
        throttle: Throttle | None = None,
    ) -> None:
        """rate / per_chat_rate: messages a second (... = the settings', None = no limit);
        `throttle`: the bot's shared budget instead (its rates are then the engine's)."""
        self._client = client
        self._uow_factory = uow_factory
        self._clock = clock
        self._settings = settings
        if throttle is None:
            throttle = Throttle(
                settings.broadcast_rate if rate is ... else rate,
                settings.broadcast_per_chat_rate if per_chat_rate is ... else per_chat_rate,
            )
        self.throttle = throttle
        self.rate = throttle.rate
        self.per_chat_rate = throttle.per_chat_rate
        self.lease = lease or timedelta(seconds=settings.broadcast_lease_seconds)
        self.concurrency = concurrency or default_concurrency(self.rate)
        self.max_wait = max_wait
        # Claimed rows must go out well within the lease, or a live sender's rows look abandoned.
        claim_seconds = min(CLAIM_SECONDS, self.lease.total_seconds() / 4)
        backlog = math.ceil(self.rate * claim_seconds) if self.rate is not None else 2 * self.concurrency
        self._backlog = max(self.concurrency, backlog)

    # --- public ---------------------------------------------------------------------------------

    async def drain(self, campaign_id: int | None = None, *, on_progress: ProgressCallback | None = None) -> None:
        """Send every due row of the campaign (None: of every sending campaign) until none is
        due or claimable, waiting up to `max_wait` for rows due soon (retries, a dead sender's
        claims); then close the campaigns that have nothing left (done)."""
        await self._drain(campaign_id, on_progress=on_progress, wait=True)

    async def run(self, *, interval: float = 1.0) -> None:
        """Forever, in the bot's process: whatever is due, then a look again after `interval`."""
        while True:
            try:
                await self._drain(None, on_progress=None, wait=False)
            except Exception:  # keep sending after a database hiccup
                log.exception("campaign drain failed")
            await asyncio.sleep(interval)

    # --- the drain ------------------------------------------------------------------------------

    async def _drain(self, campaign_id: int | None, *, on_progress: ProgressCallback | None, wait: bool) -> None:
        run = Run(queue=asyncio.Queue())
        if campaign_id is not None:
            run.campaigns.add(campaign_id)
        workers = [asyncio.create_task(self._worker(run)) for _ in range(self.concurrency)]
        flusher = asyncio.create_task(self._flusher(run))
        try:
            await self._feed(run, campaign_id, on_progress, wait=wait)
            await run.queue.join()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            self._hand_back_unstarted(run)
            await asyncio.shield(self._flush(run))
        await self._close_drained(run, on_progress)

    async def _feed(self, run: Run, campaign_id: int | None, on_progress: ProgressCallback | None, *, wait: bool) -> None:
        loop = asyncio.get_running_loop()
        recovered_at = campaigns_at = -math.inf
        reported_at = loop.time()
        campaigns: list[int] = [campaign_id] if campaign_id is not None else []
        while True:
            now = loop.time()
            if now - recovered_at >= RECOVER_EVERY:
                await self._recover(run)
                recovered_at = now
            if campaign_id is None and now - campaigns_at >= CAMPAIGNS_EVERY:
                async with self._uow_factory() as uow:
                    campaigns = await uow.campaign_outbox.sending_campaigns()
                campaigns_at = now
            claimed = 0
            if run.unsent < self._backlog:
                claimed = await self._claim(run, campaigns, 2 * self._backlog - run.unsent)
            if now - reported_at >= PROGRESS_EVERY:
                await self._report(run, on_progress)
                reported_at = now
            if claimed:
                continue
            if run.unsent == 0:
                if not wait:
                    return
                await self._flush(run)
                pause = await self._until_next_due(run.campaigns or set(campaigns))
                if pause is None:
                    return
                await asyncio.sleep(pause)
                continue
            run.room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.room.wait(), timeout=0.1)

    async def _until_next_due(self, campaigns: set[int]) -> float | None:
        """Seconds to sleep before claiming again, or None when nothing is due within max_wait."""
        async with self._uow_factory() as uow:
            moment = await uow.campaign_outbox.next_due(campaigns, lease_seconds=self.lease.total_seconds())
        if moment is None:
            return None
        seconds = (moment - self._clock.now()).total_seconds()
        if seconds > self.max_wait:
            return None
        return min(max(seconds, 0.05), 1.0)

    async def _claim(self, run: Run, campaigns: Iterable[int], amount: int) -> int:
        amount = min(amount, MAX_CLAIM)
        got = 0
        async with self._uow_factory() as uow:
            for campaign_id in campaigns:
                if got >= amount:
                    break
                now = self._clock.now()
                rows = await uow.campaign_outbox.claim(campaign_id, now=now, limit=amount - got)
                if not rows:
                    continue
                if campaign_id not in run.contents:
                    campaign = await uow.session.get(Campaign, campaign_id)
                    assert campaign is not None
                    run.contents[campaign_id] = Content(dict(campaign.texts), campaign.image_url, list(campaign.buttons))
                await uow.commit()  # the claim is visible to every other sender before anything goes
                run.campaigns.add(campaign_id)
                run.held[now] += len(rows)
                run.unsent += len(rows)
                got += len(rows)
                log.debug("claimed %d rows of campaign %s", len(rows), campaign_id)
                for row in rows:
                    run.queue.put_nowait(row)
        return got

    async def _recover(self, run: Run) -> None:
        async with self._uow_factory() as uow:
            recovered = await uow.campaign_outbox.recover(
                claimed_before=self._clock.now() - self.lease, keep=[claim for claim, n in run.held.items() if n]
            )
            if recovered:
                await uow.campaign_outbox.cancel_leftovers()
            await uow.commit()
        if recovered:
            log.warning("%d campaign messages left sending by a stopped sender are due again", recovered)

    # --- sending --------------------------------------------------------------------------------

    async def _worker(self, run: Run) -> None:
        while True:
            row = await run.queue.get()
            try:
                await self._send(run, row)
            except Exception as error:  # one bad row must not stop the others
                log.exception("campaign %s to member %s failed", row.campaign_id, row.member_id)
                self._record_retry(run, row, f"{type(error).__name__}: {error}")
            finally:
                run.queue.task_done()

    async def _send(self, run: Run, row: Recipient) -> None:
        if row.telegram_id is None or row.blocked:
            self._record_done(run, row, "skipped", "unreachable")
            return
        if row.opted_out:
            self._record_done(run, row, "skipped", "opted_out")
            return
        content = run.contents[row.campaign_id]
        try:
            text, keyboard = self._message(content, row)
        except Exception as error:  # noqa: BLE001 - a text that cannot be filled in for this member
            self._record_done(run, row, "failed", f"{type(error).__name__}: {error}", attempted=True)
            return
        await self.throttle.acquire(row.telegram_id)
        try:
            await self._client.send(row.telegram_id, text, image_url=content.image_url, keyboard=keyboard)
        except RetryAfter as error:
            if not self.throttle.paused_for:  # one line per pause, not one per send it stopped
                log.warning("Telegram asked to wait %s s (campaign %s)", error.seconds, row.campaign_id)
            self.throttle.pause(error.seconds)
            until = self._clock.now() + timedelta(seconds=error.seconds)
            self._record(run, row, back=(until, None, False))
        except Forbidden:
            run.outcomes.blocked_chats.append(row.telegram_id)
            self._record_done(run, row, "skipped", "unreachable")
        except BadRequest as error:
            log.warning("campaign %s to member %s refused: %s", row.campaign_id, row.member_number, error)
            self._record_done(run, row, "failed", str(error), attempted=True)
        except Exception as error:  # noqa: BLE001 - network trouble, Telegram's 5xx: try again later
            self._record_retry(run, row, f"{type(error).__name__}: {error}")
        else:
            self._record(run, row, sent=True)

    def _message(self, content: Content, row: Recipient) -> tuple[str, list[list[dict[str, Any]]]]:
        """The member's text, and the keyboard rows: the campaign's link buttons, then the
        member's coupon (the same "show code" button the coupons chat shows)."""
        default_locale = self._settings.default_locale
        addressee = Addressee(row.locale, row.points, row.tier_names, row.member_number, row.first_name)
        text = render(content.texts, addressee, default_locale=default_locale)
        rows: list[list[dict[str, Any]]] = [
            [{"text": pick_text(button["texts"], row.locale, default_locale), "url": button["url"]}]
            for button in content.buttons
        ]
        if row.coupon_id is not None and row.coupon_names is not None:
            locale = row.locale if row.locale in SUPPORTED_LOCALES else default_locale
            coupon = {"id": row.coupon_id, "name": localized(row.coupon_names, locale)}
            markup = coupon_buttons(texts_for(locale), [coupon])
            rows.extend(markup.model_dump(mode="json", exclude_none=True)["inline_keyboard"])
        return text, rows

    # --- outcomes -------------------------------------------------------------------------------

    def _record_retry(self, run: Run, row: Recipient, error: str) -> None:
        attempts = row.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            self._record_done(run, row, "failed", error, attempted=True)
            return
        until = self._clock.now() + timedelta(seconds=2**attempts)
        self._record(run, row, back=(until, error, True))

    def _record_done(self, run: Run, row: Recipient, status: str, reason: str | None, *, attempted: bool = False) -> None:
        self._record(run, row, done=(status, reason, attempted))

    def _record(
        self,
        run: Run,
        row: Recipient,
        *,
        sent: bool = False,
        done: tuple[str, str | None, bool] | None = None,
        back: tuple[datetime, str | None, bool] | None = None,
    ) -> None:
        outcomes = run.outcomes
        if sent:
            outcomes.sent[(row.campaign_id, row.claimed_at)].append(row.member_id)
        elif done is not None:
            outcomes.done[(row.campaign_id, row.claimed_at, *done)].append(row.member_id)
        elif back is not None:
            outcomes.back[(row.campaign_id, row.claimed_at, *back)].append(row.member_id)
        outcomes.claims[row.claimed_at] += 1
        outcomes.rows += 1
        run.unsent -= 1
        if run.unsent < self._backlog:
            run.room.set()
        if outcomes.rows >= FLUSH_ROWS:
            run.flush_now.set()

    async def _flusher(self, run: Run) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.flush_now.wait(), timeout=FLUSH_EVERY)
            run.flush_now.clear()
            try:
                await self._flush(run)
            except Exception:  # kept and written with the next flush
                log.exception("writing campaign outcomes failed; retrying")

    async def _flush(self, run: Run) -> None:
        """Write what became of the rows since the last flush."""
        outcomes, run.outcomes = run.outcomes, Outcomes()
        if not outcomes.rows:
            return
        at = self._clock.now()
        try:
            async with self._uow_factory() as uow:
                outbox = uow.campaign_outbox
                for (campaign_id, claimed_at), ids in outcomes.sent.items():
                    await outbox.mark_sent(campaign_id, ids, claimed_at=claimed_at, at=at)
                for (campaign_id, claimed_at, status, reason, attempted), ids in outcomes.done.items():
                    await outbox.mark_done(
                        campaign_id, ids, claimed_at=claimed_at, status=status, reason=reason, attempted=attempted
                    )
                for (campaign_id, claimed_at, until, reason, attempted), ids in outcomes.back.items():
                    await outbox.hand_back(
                        campaign_id, ids, claimed_at=claimed_at, until=until, reason=reason, attempted=attempted
                    )
                if outcomes.back:
                    await outbox.cancel_leftovers({campaign_id for campaign_id, *_ in outcomes.back})
                await uow.commit()
        except BaseException:
            outcomes.merge(run.outcomes)
            run.outcomes = outcomes
            raise
        run.held.subtract(outcomes.claims)
        run.held += Counter()  # drop claims fully written
        for chat in outcomes.blocked_chats:
            async with self._uow_factory() as uow:
                await set_chat_reachable(uow, self._clock, chat, reachable=False)

    def _hand_back_unstarted(self, run: Run) -> None:
        """Rows claimed but never started when the drain stops: back to pending at once."""
        now = self._clock.now()
        while not run.queue.empty():
            row = run.queue.get_nowait()
            run.queue.task_done()
            self._record(run, row, back=(now, None, False))

    # --- progress and the end -------------------------------------------------------------------

    async def _report(self, run: Run, on_progress: ProgressCallback | None) -> None:
        for campaign_id in sorted(run.campaigns):
            async with self._uow_factory() as uow:
                progress = await service.progress(uow, self._clock, campaign_id)
            log.info(progress_line(progress))
            if on_progress is not None:
                result = on_progress(progress)
                if result is not None:
                    await result

    async def _close_drained(self, run: Run, on_progress: ProgressCallback | None) -> None:
        for campaign_id in sorted(run.campaigns):
            async with self._uow_factory() as uow:
                await service.finish_if_drained(uow, self._clock, campaign_id)
        if run.campaigns:
            await self._report(run, on_progress)


def progress_line(progress: service.Progress) -> str:
    """The log line while a campaign sends, e.g. "campaign 3: 1,200 of 3,000 sent, 29.8 msg/s,
    ETA 60 s", counting the rows meant to go out (not held out, not skipped)."""
    left = progress.pending + progress.sending
    total = progress.sent + left + progress.failed
    if not left:
        eta = "done"
    elif progress.eta_seconds is None:
        eta = "ETA unknown"
    else:
        eta = f"ETA {progress.eta_seconds:,.0f} s"
    return f"campaign {progress.campaign_id}: {progress.sent:,} of {total:,} sent, {progress.rate:.1f} msg/s, {eta}"
