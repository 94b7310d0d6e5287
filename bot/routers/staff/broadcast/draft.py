"""What a staff member has chosen so far in /broadcast: one typed draft, kept in FSM data.

The draft is written as JSON under one key (DATA_KEY), so Redis storage keeps it and whatever
else the chat keeps in FSM data (a guest's language choice) survives the flow. A choice is None
until its step is answered: the flow asks for the first one still missing (`missing`), and an
edit forgets one choice (`without`) so the same code asks for it again. The JSON has the shape
the flow wrote before the draft was typed (segment, texts, coupon, when, repeat), so a draft
begun before an upgrade reads back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from aiogram.fsm.context import FSMContext
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from bot.callbacks import BroadcastStep, Repeat, SegmentKind
from loyalty.campaigns import service
from loyalty.campaigns.audience import Audience
from loyalty.campaigns.messages import headline
from loyalty.campaigns.when import SendTime, schedule

DATA_KEY = "broadcast"
NAME_TEXT_CHARS = 40  # of the text, in the campaign's name


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    value: str = ""  # tier code or RFM segment
    month: int | None = None  # birthday month, fixed when chosen

    def audience(self) -> Audience:
        match self.kind:
            case SegmentKind.tier:
                return Audience(tiers=[self.value])
            case SegmentKind.rfm:
                return Audience(rfm=[self.value])  # type: ignore[list-item]  # checked when chosen
            case SegmentKind.birthday:
                return Audience(birthday_month=self.month)
            case SegmentKind.coupon:
                return Audience(has_unused_coupon=True)
        return Audience()


class Coupon(BaseModel):
    """The coupon template to attach; id 0 and no code: none."""

    model_config = ConfigDict(frozen=True)

    id: int = 0
    code: str | None = None
    names: dict[str, str] | None = Field(default=None, validation_alias=AliasChoices("names", "name"))


NO_COUPON = Coupon()


class BroadcastDraft(BaseModel):
    model_config = ConfigDict(frozen=True)

    segment: Segment | None = None
    texts: dict[str, str] | None = None  # {locale: campaign template source}
    coupon: Coupon | None = None
    when: Annotated[SendTime, Field(discriminator="kind")] | None = None
    repeat: Repeat | None = None  # set to once with `when`; asked only when edited

    def missing(self) -> BroadcastStep | None:
        """The first step not answered yet; None when every one is."""
        return next((step for step in BroadcastStep if getattr(self, _FIELD[step]) is None), None)

    def without(self, step: BroadcastStep) -> BroadcastDraft:
        return self.model_copy(update={_FIELD[step]: None})

    def with_segment(self, segment: Segment) -> BroadcastDraft:
        return self.model_copy(update={"segment": segment})

    def with_texts(self, texts: dict[str, str]) -> BroadcastDraft:
        return self.model_copy(update={"texts": texts})

    def with_coupon(self, coupon: Coupon) -> BroadcastDraft:
        return self.model_copy(update={"coupon": coupon})

    def with_when(self, when: SendTime) -> BroadcastDraft:
        """The send time, and the repeat: once, unless one was chosen before (an edited time
        keeps it; the review refuses it if the new day cannot repeat)."""
        return self.model_copy(update={"when": when, "repeat": self.repeat or Repeat.once})

    def with_repeat(self, repeat: Repeat) -> BroadcastDraft:
        return self.model_copy(update={"repeat": repeat})

    def campaign_draft(self) -> service.CampaignDraft:
        """The campaign it describes; only once nothing is missing."""
        assert self.segment is not None and self.texts is not None and self.coupon is not None
        assert self.when is not None and self.repeat is not None
        audience = self.segment.audience()
        source = next(iter(self.texts.values()))
        first_line = headline(source, NAME_TEXT_CHARS)
        send_at, local_date, local_time = schedule(self.when)
        return service.CampaignDraft(
            name=" · ".join(part for part in (first_line, audience.describe()) if part)[:120],
            texts=self.texts,
            audience=audience,
            coupon_template=self.coupon.code,
            send_at=send_at,
            local_date=local_date,
            local_time=local_time,
            recurrence=None if self.repeat is Repeat.once else self.repeat.value,
        )


_FIELD = {
    BroadcastStep.segment: "segment",
    BroadcastStep.text: "texts",
    BroadcastStep.coupon: "coupon",
    BroadcastStep.when: "when",
    BroadcastStep.repeat: "repeat",
}


def repeats_offered(day_of_month: int) -> list[Repeat]:
    """Once always; monthly and quarterly only on a day every month has."""
    if not service.can_recur_on(day_of_month):
        return [Repeat.once]
    return list(Repeat)


async def load(state: FSMContext) -> BroadcastDraft:
    return BroadcastDraft.model_validate((await state.get_data()).get(DATA_KEY) or {})


async def save(state: FSMContext, draft: BroadcastDraft) -> None:
    await state.update_data({DATA_KEY: draft.model_dump(mode="json")})


async def forget(state: FSMContext) -> None:
    """Leave the flow, keeping whatever else the chat keeps in FSM data (a guest's language)."""
    data = await state.get_data()
    data.pop(DATA_KEY, None)
    await state.set_data(data)
    await state.set_state(None)
