"""The campaign form read into the API's body: lists typed with any separator, and every field a
refusal names shown next to a field the form has."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from api.console.campaign_form import LIST_SEPARATORS, body_of, form_field
from api.console.rendering import TEMPLATES_DIR

ZONE = ZoneInfo("Asia/Shanghai")
_part = st.text(alphabet=st.characters(blacklist_characters="".join(LIST_SEPARATORS), blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(str.strip)


@given(parts=st.lists(_part, min_size=1, max_size=6), separators=st.lists(st.sampled_from([", ", "，", ",", "\n"]), min_size=5, max_size=5))
def test_tags_and_cities_typed_with_any_separator_are_the_same_list(parts: list[str], separators: list[str]) -> None:
    typed = "".join(part + separators[index % len(separators)] for index, part in enumerate(parts))
    body = body_of({"name": "x", "tags": typed, "cities": typed}, ZONE)
    expected = [part.strip() for part in parts]
    assert body["audience"]["tags"] == expected and body["audience"]["cities"] == expected


# Every field loyalty/campaigns/service.py or the API's model names in a refusal.
REFUSED_FIELDS = [
    "name", "texts", "texts.en", "texts.zh_CN", "image_url", "buttons", "buttons.2.url", "buttons.1.texts",
    "buttons.0.texts.zh_CN", "audience", "audience.tiers", "audience.near_store", "audience.birthday_month",
    "coupon_template", "send_at", "local", "local.date", "local.time", "local_date", "local_time", "recurrence",
    "holdout_pct", "attribution_days",
]


def test_every_refused_field_has_its_place_on_the_form() -> None:
    template = (TEMPLATES_DIR / "campaign_new.html").read_text(encoding="utf-8")
    shown = set(re.findall(r'problem\("([a-z_]+)"\)', template))
    shown |= {f"text_{locale}" for locale in ("en", "zh_CN")}
    shown |= {f"button_{index}_{tail}" for index in range(3) for tail in ("url", "texts", "en", "zh_CN")}
    for field in REFUSED_FIELDS:
        assert form_field(field) in shown, (field, form_field(field))
