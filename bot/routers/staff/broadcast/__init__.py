"""/broadcast: a staff member sends a message to a segment of members, one step at a time.

1. the segment, each button showing its live audience size;
2. the text: their own (checked like any campaign text) or a ready one, in every language;
3. a coupon template to attach, or none;
4. when: now, at a time in the program's zone, or at a local time in each member's own zone
   (loyalty.campaigns.when reads what is typed); it goes once, unless the summary's
   Edit > Repeat makes it a monthly or quarterly member day on the same day of the month;
5. a preview, sent to the staff member as a member would get it, and a summary to confirm,
   edit (one step) or cancel;
6. confirmed: the campaign is created (loyalty.campaigns.launch) and a progress message is
   sent, which bot/campaign_progress.py keeps up to date and turns into the report.

- draft.py: what is chosen so far, a typed draft kept in FSM data;
- steps.py: the handlers, one or two per step;
- views.py: each step's question and buttons, the preview and the summary.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter

from bot.callbacks import (
    StaffCouponCallback,
    StaffRepeatCallback,
    StaffReviewCallback,
    StaffSegmentCallback,
    StaffTextCallback,
    StaffWhenCallback,
)
from bot.routers.staff.broadcast import steps
from bot.routers.staff.broadcast.draft import Segment
from bot.routers.staff.broadcast.views import segment_options
from bot.routers.staff.context import StaffContextMiddleware
from bot.states import Broadcast

__all__ = ["Segment", "router", "segment_options"]

NOT_COMMAND = ~F.text.startswith("/")


def router() -> Router:
    """A fresh router each call: a Router can belong to one Dispatcher only."""
    router = Router(name="staff-broadcast")
    router.message.middleware(StaffContextMiddleware())
    router.callback_query.middleware(StaffContextMiddleware())
    in_flow = StateFilter(Broadcast)
    router.message.register(steps.start_broadcast, Command("broadcast"))
    router.message.register(steps.cancel, Command("cancel"), in_flow)
    router.callback_query.register(steps.segment_chosen, Broadcast.segment, StaffSegmentCallback.filter())
    router.callback_query.register(steps.ready_text_chosen, Broadcast.text, StaffTextCallback.filter())
    router.message.register(steps.own_text, Broadcast.text, F.text, NOT_COMMAND)
    router.message.register(steps.text_needed, Broadcast.text, NOT_COMMAND)
    router.callback_query.register(steps.coupon_chosen, Broadcast.coupon, StaffCouponCallback.filter())
    router.callback_query.register(steps.send_now, Broadcast.when, StaffWhenCallback.filter())
    router.message.register(steps.time_typed, Broadcast.when, F.text, NOT_COMMAND)
    router.callback_query.register(steps.repeat_chosen, Broadcast.repeat, StaffRepeatCallback.filter())
    router.callback_query.register(steps.review_pressed, Broadcast.review, StaffReviewCallback.filter())
    for payload in (
        StaffSegmentCallback, StaffTextCallback, StaffCouponCallback, StaffWhenCallback, StaffRepeatCallback,
        StaffReviewCallback,
    ):
        router.callback_query.register(steps.not_now, payload.filter())
    return router
