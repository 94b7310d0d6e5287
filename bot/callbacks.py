"""Typed inline-button payloads. Anything that fails to unpack is treated as a stale button."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message
from pydantic import Field


def on_its_message(query: CallbackQuery) -> bool:
    """Whether the button pressed is one of the message's own. A modified client can send any
    payload on any message; a handler that acts on the message it was pressed on (edits it into
    the next step) must not act on another one. Telegram sends the message, keyboard included;
    a message too old for that (InaccessibleMessage) cannot be checked, nor edited."""
    message = query.message
    if not isinstance(message, Message):
        return True
    markup = message.reply_markup
    if markup is None:
        return False
    return any(button.callback_data == query.data for row in markup.inline_keyboard for button in row)


class ConsentAnswer(str, Enum):
    agree = "agree"
    decline = "decline"


class ConsentCallback(CallbackData, prefix="consent"):
    answer: ConsentAnswer


class InviteCallback(CallbackData, prefix="invite"):
    """"Invite a friend" under /points: names nothing, so it always acts for the member pressing."""


class LanguageCallback(CallbackData, prefix="lang"):
    locale: str


class StoreVenueCallback(CallbackData, prefix="venue"):
    """Send this store as a venue; the id is re-checked (active, on the map) when pressed."""

    # A forged id beyond the 32-bit id columns fails to unpack (a stale button), never reaching SQL.
    store_id: Annotated[int, Field(ge=1, le=2**31 - 1)]


class CouponCallback(CallbackData, prefix="coupon"):
    """Show this coupon's code and QR; the id is re-checked (the member's own, still usable)."""

    coupon_id: Annotated[int, Field(ge=1, le=2**31 - 1)]


class TopicCallback(CallbackData, prefix="topic"):
    """Turn one topic of messages on or off in /settings. It carries the state wanted, not
    "toggle": pressing an old settings message, or twice quickly, sets what its label offered
    instead of flipping back. The topic is checked by loyalty.nudges.preferences."""

    topic: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[a-z_]+$")]
    on: bool


# --- staff (bot/routers/staff) ------------------------------------------------------------------
# Every staff payload starts with "sf_", so one refusal covers them all when a member presses one
# (bot/routers/staff/__init__.py). Each is checked again when pressed: a forged tier, segment,
# template or campaign id is refused and changes nothing.

STAFF_PREFIX = "sf_"


class SegmentKind(str, Enum):
    all = "all"
    tier = "tier"
    rfm = "rfm"
    birthday = "birthday"  # birthday this month, in the program's zone
    coupon = "coupon"  # has an unused coupon


class StaffSegmentCallback(CallbackData, prefix="sf_seg"):
    """/broadcast step 1: who gets it. value: the tier code or RFM segment, else empty."""

    kind: SegmentKind
    value: Annotated[str, Field(max_length=32, pattern=r"^[A-Za-z0-9_-]*$")] = ""


class StaffTextCallback(CallbackData, prefix="sf_txt"):
    """/broadcast step 2: a ready text (templates/messages/<locale>/campaigns/<name>.j2)."""

    name: Annotated[str, Field(min_length=1, max_length=24, pattern=r"^[a-z_]+$")]


class StaffCouponCallback(CallbackData, prefix="sf_cpn"):
    """/broadcast step 3: attach this coupon template (0: none)."""

    template_id: Annotated[int, Field(ge=0, le=2**31 - 1)]


class StaffWhenCallback(CallbackData, prefix="sf_now"):
    """/broadcast step 4: send as soon as it is confirmed (a time is typed instead)."""


class BroadcastStep(str, Enum):
    segment = "segment"
    text = "text"
    coupon = "coupon"
    when = "when"
    repeat = "repeat"  # never asked unless edited: a broadcast goes once by default


class Repeat(str, Enum):
    once = "once"
    monthly = "monthly"
    quarterly = "quarterly"


class StaffRepeatCallback(CallbackData, prefix="sf_rep"):
    """/broadcast, edited: send once, or again every month / quarter on the same day."""

    every: Repeat


class ReviewAction(str, Enum):
    confirm = "confirm"
    edit = "edit"
    cancel = "cancel"


class StaffReviewCallback(CallbackData, prefix="sf_rev"):
    """/broadcast step 5: confirm, cancel, or edit one step (`step`) of what was chosen."""

    action: ReviewAction
    step: BroadcastStep | None = None


class CampaignAction(str, Enum):
    pause = "pause"
    resume = "resume"
    cancel = "cancel"  # asks first: only `cancel_confirmed`, pressed on that question, cancels
    cancel_confirmed = "cancel_yes"
    keep = "keep"  # the question answered "Keep it": back to the list


class StaffCampaignCallback(CallbackData, prefix="sf_cmp"):
    """/campaigns: pause, resume or cancel this campaign; the service checks the state and who may.
    A cancel is confirmed by a second button, honoured only on the question that offered it."""

    action: CampaignAction
    campaign_id: Annotated[int, Field(ge=1, le=2**31 - 1)]


# --- feedback (bot/routers/feedback.py) ---------------------------------------------------------
# Each names a survey; the handler checks it is the presser's own and still open.


class FeedbackScoreCallback(CallbackData, prefix="fb_score"):
    """The survey's answer, 0-10: taken once."""

    survey_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    score: Annotated[int, Field(ge=0, le=10)]


class FeedbackStep(str, Enum):
    skip = "skip"  # no comment
    yes = "yes"  # a detractor agrees to be contacted
    no = "no"


class FeedbackStepCallback(CallbackData, prefix="fb_step"):
    survey_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    step: FeedbackStep


class StaffFeedbackReplyCallback(CallbackData, prefix="sf_fbr"):
    """Answer this member message (/feedback); staff only, checked again when pressed."""

    message_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
