"""The campaign form of the console, read into the API's own body (api/schemas/campaigns.py
CampaignCreate) and then the service's draft: the console decides nothing a campaign may be.

A form sends flat fields; `body_of` turns them into the JSON the API takes (texts per locale,
audience filters, buttons, the send time), and every refusal, from the Pydantic model or from
loyalty/campaigns/service.py, becomes (field, problem): the field as the form names it, and a
token the page puts in words next to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from api.schemas.campaigns import CampaignCreate
from loyalty.campaigns.service import MAX_BUTTONS, Button, CampaignDraft
from loyalty.config import SUPPORTED_LOCALES
from loyalty.errors import InvalidCampaign

# The form's send-time choices: now, one instant in the program's zone, or a local time in
# each member's zone.
WHEN_CHOICES = ("now", "at", "local")
LIST_SEPARATORS = (",", "，", "\n")


@dataclass
class Refusal(Exception):
    """What is wrong with the form: problems keyed by the form's field name."""

    problems: dict[str, str] = field(default_factory=dict)


def form_values(form: Mapping[str, Any], multi: Mapping[str, list[str]]) -> dict[str, Any]:
    """The form as typed (for re-showing it): single fields as strings, choices as lists."""
    values: dict[str, Any] = {key: value for key, value in form.items() if isinstance(value, str)}
    values["tiers"] = multi.get("tiers", [])
    values["rfm"] = multi.get("rfm", [])
    return values


def _split(text: str) -> list[str]:
    for separator in LIST_SEPARATORS[1:]:
        text = text.replace(separator, LIST_SEPARATORS[0])
    return [part.strip() for part in text.split(LIST_SEPARATORS[0]) if part.strip()]


def _day(value: str, name: str, problems: dict[str, str]) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        problems[name] = "not_a_date"
        return None


def _clock_time(value: str, name: str, problems: dict[str, str]) -> time | None:
    if not value.strip():
        return None
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        problems[name] = "not_a_time"
        return None


def _whole(value: str, name: str, problems: dict[str, str]) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value.strip())
    except ValueError:
        problems[name] = "not_a_number"
        return None


def body_of(values: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """The API's JSON body from the form's values; Refusal for what cannot even be read
    (a date that is not one). Days of the audience and the send instant are in `zone`."""
    problems: dict[str, str] = {}
    text = lambda name: str(values.get(name) or "")  # noqa: E731
    texts = {locale: text(f"text_{locale}") for locale in SUPPORTED_LOCALES if text(f"text_{locale}").strip()}
    audience: dict[str, Any] = {}
    if values.get("tiers"):
        audience["tiers"] = list(values["tiers"])
    if values.get("rfm"):
        audience["rfm"] = list(values["rfm"])
    for name in ("cities", "tags"):
        if parts := _split(text(name)):
            audience[name] = parts
    if text("near_store").strip():
        audience["near_store"] = text("near_store").strip()
    for name in ("last_purchase_after", "last_purchase_before"):
        if (day := _day(text(name), name, problems)) is not None:
            audience[name] = datetime.combine(day, time(0), tzinfo=zone).isoformat()
    if text("birthday_month").strip():
        audience["birthday_month"] = _whole(text("birthday_month"), "birthday_month", problems)
    if text("has_unused_coupon") in ("yes", "no"):
        audience["has_unused_coupon"] = text("has_unused_coupon") == "yes"
    body: dict[str, Any] = {"name": text("name"), "texts": texts, "audience": audience}
    if text("image_url").strip():
        body["image_url"] = text("image_url").strip()
    if text("coupon_template").strip():
        body["coupon_template"] = text("coupon_template").strip()
    buttons = []
    for index in range(MAX_BUTTONS):
        url = text(f"button_{index}_url").strip()
        labels = {
            locale: text(f"button_{index}_{locale}")
            for locale in SUPPORTED_LOCALES
            if text(f"button_{index}_{locale}").strip()
        }
        if url or labels:
            buttons.append({"texts": labels, "url": url})
    body["buttons"] = buttons
    when = text("when") or "now"
    if when == "at":
        day = _day(text("at_date"), "at_date", problems)
        at = _clock_time(text("at_time"), "at_time", problems)
        if day is None and "at_date" not in problems:
            problems["at_date"] = "missing"
        elif at is None and "at_time" not in problems:
            problems["at_time"] = "missing"
        elif day is not None and at is not None:
            body["send_at"] = datetime.combine(day, at, tzinfo=zone).isoformat()
    elif when == "local":
        body["local"] = {"date": text("local_date").strip(), "time": text("local_time").strip()}
    elif when != "now":
        problems["when"] = "invalid"
    if text("recurrence"):
        body["recurrence"] = text("recurrence")
    for name in ("holdout_pct", "attribution_days"):
        if (number := _whole(text(name), name, problems)) is not None:
            body[name] = number
    if problems:
        raise Refusal(problems)
    return body


# Where the API's and the service's field names sit on the form.
_FORM_FIELD = {
    "send_at": "at_date",
    "local": "local_date",
    "local.date": "local_date",
    "local_date": "local_date",
    "local.time": "local_time",
    "local_time": "local_time",
    "audience": "audience",
}


def form_field(api_field: str) -> str:
    """`texts.en` -> `text_en`, `buttons.0.url` -> `button_0_url`, `audience.tiers` -> `tiers`."""
    if api_field in _FORM_FIELD:
        return _FORM_FIELD[api_field]
    parts = api_field.split(".")
    if parts[0] == "texts":
        return f"text_{parts[1]}" if len(parts) > 1 else "texts"
    if parts[0] == "audience" and len(parts) > 1:
        return parts[1]
    if parts[0] == "buttons" and len(parts) > 2:
        tail = parts[-1] if parts[2] == "texts" and len(parts) > 3 else parts[2]
        return f"button_{parts[1]}_{tail}"
    if parts[0] == "buttons" and len(parts) == 2:
        return f"button_{parts[1]}_url"
    return parts[0]


def draft_of(body: dict[str, Any]) -> CampaignDraft:
    """The service's draft through the API's model; Refusal naming the form's fields."""
    try:
        checked = CampaignCreate.model_validate(body)
    except ValidationError as error:
        problems: dict[str, str] = {}
        for item in error.errors():
            name = form_field(".".join(str(part) for part in item["loc"]))
            problems.setdefault(name, str(item["type"]))
        raise Refusal(problems) from None
    local_time = None
    if checked.local is not None:
        hours, minutes = checked.local.time.split(":")  # the model checked the shape
        local_time = time(int(hours), int(minutes))
    return CampaignDraft(
        name=checked.name,
        texts=checked.texts,
        audience=checked.audience,
        image_url=checked.image_url,
        coupon_template=checked.coupon_template,
        buttons=tuple(Button(texts=button.texts, url=button.url) for button in checked.buttons),
        send_at=checked.send_at,
        local_date=checked.local.date if checked.local else None,
        local_time=local_time,
        recurrence=checked.recurrence,
        holdout_pct=checked.holdout_pct,
        attribution_days=checked.attribution_days,
    )


def refusal_of(error: InvalidCampaign) -> Refusal:
    return Refusal({form_field(error.field or "form"): error.problem or "invalid"})
