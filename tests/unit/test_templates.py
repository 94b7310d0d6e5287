"""Every message exists in every locale, renders with sample data, and is valid Telegram HTML."""

from __future__ import annotations

from datetime import date

import pytest
from jinja2 import UndefinedError

from bot.render import TEMPLATES_DIR, Texts, format_count, format_distance, format_money, plural, region_of, texts_for
from loyalty.campaigns.rfm import RFM_SEGMENTS
from loyalty.config import SUPPORTED_LOCALES
from loyalty.nudges.kinds import TOPICS
from sandbox.formatting import parse_html, utf16_len
from tests.utils.privacy import sample_export
from tests.utils.rewards import TEMPLATE_SAMPLE

COUPON: dict[str, object] = {
    "id": 7,
    "name": "<b>Welcome</b> & thanks",
    "description": "<i>any</i> drink",
    "kind": "percent_off",
    "value": 38,
    "currency": "CNY",
    "min_spend": 5000,
    "valid_from": date(2026, 11, 24),
    "valid_until": date(2026, 12, 1),
    "stores": ["<b>Al & Ex</b> café", "Bund", "Jing'an", "Xintiandi"],
    "cities": [],
}

# The measured effect of a campaign, as bot/campaign_progress.py hands it to staff/report.
STAFF_EFFECT: dict[str, object] = {
    "open": True, "until": "Dec 1, 2026, 12:00", "days": 7, "targeted_members": 11110, "holdout_members": 1235,
    "targeted_conversion": "12.3%", "holdout_conversion": "9.1%", "lift": "+35.2%", "lift_low": "+10.1%",
    "lift_high": "+65.4%", "revenue_minor": 123456700, "incremental_minor": 2345600, "coupons_used": 321,
    "coupon_cost_minor": 642000, "roi": "+265.4%", "currency": "CNY",
}

READABLE: dict[str, object] = {
    "warning": None, "mde": 18, "baseline": "12.5", "suggested": 8, "target": 20, "holdout": 10, "days": 7
}

# Sample values for every variable any template uses; member input is made hostile on purpose.
SAMPLE: dict[str, object] = TEMPLATE_SAMPLE | {
    "name": "<b>Al & Ex</b>",
    "program": "Loyalty Club",
    "version": "2026-11",
    "url": "https://example.com/privacy?a=1&b=2",
    "minutes": 10,
    "button": "📱 Share my phone number",
    "skip": "Skip",
    "agree": "I agree",
    "decline": "No",
    "member_number": "4260185626",
    "tier": "Gold",
    "old_tier": "Silver",
    "benefits": ["Free delivery", "<script>x</script>"],
    "points": 1234567,
    "balance": 1460,
    "buys": [{"name": "Latte", "count": 2}, {"name": "<i>Mug</i>", "count": 1}],
    "order_id": "S001-42",
    "is_member": True,
    "reason": "format",
    "expiring": [{"points": 120, "date": date(2027, 11, 30)}],
    "next_tier": "Gold",
    "spend_to_next": 64000,
    "visits_to_next": 3,
    "keep_spend": 80000,
    "keep_visits": 2,
    "keep_by": date(2026, 12, 31),
    "currency": "CNY",
    "stores": [
        {"name": "<b>Al & Ex</b> café", "address": "1 Nanjing Rd <#2>", "distance": 349.6, "coupons": [COUPON],
         "open": True, "opens_at": None},
        {"name": "Bund", "address": None, "distance": 1234.0, "coupons": [], "open": True, "opens_at": None},
    ],
    "coupon": COUPON,
    "coupons": [COUPON, {**COUPON, "kind": "points_multiplier", "value": 150, "min_spend": 0, "stores": [], "cities": ["<b>Shanghai</b>"]}],
    "coupon_count": 1,
    "today": date(2026, 11, 24),
    "distance": 120,
    "offers": [{"name": "<b>Double</b> points on coffee", "until": date(2026, 12, 1)}, {"name": "Tea", "until": None}],
    "store": {"name": "<b>Al & Ex</b> café", "address": "1 Nanjing Rd", "distance": 8_300_000.0, "coupons": [COUPON], "id": 3,
              "open": False, "opens_at": None},
    "radius": 3000,
    "any_open": True,
    # nudges (loyalty/notifications.py) and /settings
    "expires_on": date(2026, 12, 31),
    "balance_buys": [{"name": "<b>Lamp</b>", "count": 1}],
    "days_left": 3,
    "gift": COUPON,
    "years": 2,
    "lose": ["Free delivery", "<i>Priority</i> service"],
    "gains": ["Free delivery", "<i>Priority</i> service"],
    "since": date(2026, 9, 1),
    "offer": COUPON,
    "topic": "points",
    "on": True,
    "topics": [{"topic": topic, "on": topic != "tier"} for topic in TOPICS],
    # referrals (loyalty/referrals.py, bot/routers/invite.py)
    "friend": "<b>Al & Ex</b>",
    "link": "https://t.me/loyalty_bot?start=ref_7KQ4M9XD&x=<1>",
    # staff: /broadcast, /campaigns and the campaign progress message (bot/routers/staff)
    "segment": {"kind": "tier", "value": "gold", "tier": "<b>Al & Ex</b> Gold", "month": date(2000, 12, 1)},
    "size": 12345,
    "problem": "template",
    "detail": "pointz",
    "has_templates": True,
    "coupon_name": "<b>Welcome</b> & thanks",
    "zone": "Asia/Shanghai",
    "example": "2026-12-01",
    "audience": {"total": 12345, "reachable": 12000, "opted_out": 300, "unreachable": 45},
    "expected": {"sent": 10800, "held_out": 1235, "opted_out": 270, "unreachable": 40},
    "coupon_rules_not_applied": ["min_tier", "per_member_limit"],
    # Whether a broadcast's hold-out test could be read (bot/routers/staff/broadcast/views.py).
    "test": READABLE,
    "when": {"kind": "local", "date": date(2026, 12, 8), "time": "10:00"},
    "repeat": "monthly",
    "every": "quarterly",
    "day": 8,
    "max_day": 28,
    "action": "pause",
    "step": None,
    "field": "texts.en",
    "ready": "member_day",
    "campaign_id": 12,
    "answer": "<b>Al & Ex</b> Gold · 12,345",
    "status": "sending",
    "campaigns": [
        {"id": 12, "name": "<b>Al & Ex</b> day", "status": "sending", "sent": 1200, "total": 10800,
         "recurrence": "monthly", "started": True, "starts": None},
        {"id": 11, "name": "Old", "status": "done", "sent": 90, "total": 90, "recurrence": None, "started": True,
         "starts": None},
        {"id": 13, "name": "Later", "status": "paused", "sent": 0, "total": 0, "recurrence": None, "started": False,
         "starts": "Dec 8, 2026, 10:00"},
    ],
    "campaign": {"id": 12, "name": "<b>Al & Ex</b> day", "status": "sending", "started": True},
    "starts": "Dec 8, 2026, 10:00",
    "progress": {
        "total": 12345, "to_send": 11110, "pending": 900, "sending": 30, "sent": 10000, "failed": 3,
        "skipped": 345, "opted_out": 300, "unreachable": 45, "held_out": 1235, "cancelled": 0, "deferred": 40,
    },
    "percent": "91.6%",
    "rate": "29.8",
    "eta": "31 seconds",
    "effect": STAFF_EFFECT,
    # /privacy (bot/routers/privacy.py)
    "code_count": 1,
    "export": sample_export(),
}
# Feedback (loyalty/feedback.py): the survey, its follow-up, the staff's alert and replies.
SAMPLE |= {
    "score": 3, "store_name": "<b>Al & Ex</b> café", "comment": "<i>cold</i> & slow", "contact": True,
    "band": "detractor", "body": "<script>x</script> hello", "question": "Open on Sunday?", "reply": "Yes, 9-5 & <b>",
    "limit": 1000, "survey_id": 5,
}


def all_keys() -> list[str]:
    return texts_for("en").keys()


def test_every_locale_has_the_same_messages() -> None:
    keys = {locale: set(texts_for(locale).keys()) for locale in SUPPORTED_LOCALES}
    reference = keys["en"]
    for locale, found in keys.items():
        assert found == reference, f"{locale}: missing {reference - found}, extra {found - reference}"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("key", all_keys())
def test_message_renders_as_valid_telegram_html(locale: str, key: str) -> None:
    text = texts_for(locale)(key, **SAMPLE)
    assert text.strip(), f"{locale}/{key} renders empty"
    parsed = parse_html(text)  # raises on markup Telegram would refuse
    assert utf16_len(parsed.text) <= 4096
    assert "<b>Al" not in text, "member input must be escaped"


def test_missing_variable_is_an_error_not_a_blank() -> None:
    with pytest.raises(UndefinedError):
        texts_for("en")("card/caption", program="x")


def test_numbers_and_money_follow_the_locale() -> None:
    en, zh = texts_for("en"), texts_for("zh_CN")
    assert "1,234,567" in en("card/caption", **SAMPLE)
    assert "1,234,567" in zh("card/caption", **SAMPLE)
    assert format_money(64000, "CNY", "zh_CN") == "¥640.00"
    assert format_money(64000, "CNY", "en") == "¥640.00"
    assert format_money(500, "JPY", "en") == "¥500"


@pytest.mark.parametrize(
    ("currency", "en", "zh"),
    [("CNY", "¥1,234.50", "¥1,234.50"), ("USD", "$1,234.50", "$1,234.50"), ("EUR", "€1,234.50", "€1,234.50"),
     ("HKD", "HK$1,234.50", "HK$1,234.50"), ("JPY", "¥123,450", "¥123,450")],
)
def test_a_currency_has_one_symbol_in_both_languages(currency: str, en: str, zh: str) -> None:
    """CLDR gives English readers "CN¥" and Chinese readers "US$"; the member of a merchant
    reads the symbol used where the money is issued, whatever their language."""
    assert format_money(123_450, currency, "en") == en  # minor units: cents, or yen (no decimals)
    assert format_money(123_450, currency, "zh_CN") == zh


def test_unknown_locale_is_refused() -> None:
    with pytest.raises(ValueError):
        Texts("fr")


def test_button_labels_fit_telegram() -> None:
    for locale in SUPPORTED_LOCALES:
        for key in texts_for(locale).keys():
            if key.startswith("buttons/"):
                assert len(texts_for(locale)(key)) <= 64


def test_date_filter_is_localised() -> None:
    env_en = texts_for("en")._env  # noqa: SLF001
    env_zh = texts_for("zh_CN")._env  # noqa: SLF001
    day = date(2026, 12, 1)
    assert env_en.from_string("{{ d | day }}").render(d=day) == "Dec 1, 2026"
    assert env_zh.from_string("{{ d | day }}").render(d=day) == "2026年12月1日"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize(
    "measures",
    [
        {"spend_to_next": None, "keep_spend": None},  # a tier earned on visits only
        {"visits_to_next": None, "keep_visits": None},  # on spend only
        {"next_tier": None, "keep_by": None, "expiring": []},  # entry tier, nothing expiring
    ],
)
def test_points_summary_reads_well_for_every_kind_of_tier(locale: str, measures: dict[str, object]) -> None:
    text = texts_for(locale)("points/summary", **{**SAMPLE, **measures})
    parse_html(text)
    assert "None" not in text
    if measures.get("spend_to_next", 0) is None:
        assert "640" not in text and " or " not in text.split("\n")[-1]


def test_value_terms_name_what_the_points_buy() -> None:
    en = parse_html(texts_for("en")("notifications/points_earned", **SAMPLE)).text
    assert "+1,234,567 points — you now have 1,460, enough for 2 × Latte or 1 × <i>Mug</i>." in en
    zh = parse_html(texts_for("zh_CN")("notifications/points_earned", **SAMPLE)).text
    assert "足够兑换 2 份Latte或 1 份<i>Mug</i>" in zh


def test_distances_follow_the_locale() -> None:
    en, zh = texts_for("en"), texts_for("zh_CN")
    sample = {**SAMPLE, "is_member": False}
    assert "· 350 m" in en("nearby/list", **sample) and "· 1.2 km" in en("nearby/list", **sample)
    assert "350米" in zh("nearby/list", **sample) and "1.2公里" in zh("nearby/list", **sample)
    assert "/start" in en("nearby/list", **sample), "guests get a join hint"
    assert "/start" not in en("nearby/list", **SAMPLE)
    assert "8,300 km away (closed now)" in en("nearby/none", **SAMPLE)


@pytest.mark.parametrize(
    ("metres", "en", "zh"),
    [(349.6, "350 m", "350米"), (994, "990 m", "990米"), (995, "1.0 km", "1.0公里"), (9_949, "9.9 km", "9.9公里"),
     (9_950, "10 km", "10公里"), (8_217_040.0, "8,217 km", "8,217公里")],
)
def test_a_distance_has_a_decimal_only_under_ten_kilometres(metres: float, en: str, zh: str) -> None:
    assert format_distance(metres, "en") == en
    assert format_distance(metres, "zh_CN") == zh


def regional_keys(locale: str) -> set[tuple[str, str]]:
    """(region, key) of every regional template of a locale."""
    base = TEMPLATES_DIR / locale / "regions"
    found = set()
    for path in base.rglob("*.j2"):
        region, *key = path.relative_to(base).with_suffix("").parts
        found.add((region, "/".join(key)))
    return found


def test_regional_texts_exist_in_every_locale_override_real_messages_and_render() -> None:
    found = {locale: regional_keys(locale) for locale in SUPPORTED_LOCALES}
    assert found["en"] and all(keys == found["en"] for keys in found.values())
    general = set(all_keys())
    for region, key in found["en"]:
        assert key in general, f"regions/{region}/{key} overrides nothing"
        for locale in SUPPORTED_LOCALES:
            text = texts_for(locale, region)(key, **SAMPLE)
            parse_html(text)
            assert text != texts_for(locale)(key, **SAMPLE), f"regions/{region}/{key} says the same"


@pytest.mark.parametrize(
    ("city", "region"),
    [("Shanghai", "shanghai"), ("  SHANGHAI ", "shanghai"), ("上海市", "shanghai"), ("北京", "beijing"),
     ("Paris", None), (None, None), ("", None)],
)
def test_a_members_city_picks_their_region(city: str | None, region: str | None) -> None:
    assert region_of(city) == region


def test_regional_texts_do_not_leak_into_other_regions_or_keys() -> None:
    shanghai, beijing, general = texts_for("en", "shanghai"), texts_for("en", "beijing"), texts_for("en")
    card = {name: texts("card/caption", **SAMPLE) for name, texts in
            (("shanghai", shanghai), ("beijing", beijing), ("general", general))}
    assert "member card · Shanghai" in card["shanghai"] and "Beijing" not in card["shanghai"]
    assert "member card · Beijing" in card["beijing"]
    assert "member card ·" not in card["general"]
    assert shanghai("help", **SAMPLE) == general("help", **SAMPLE), "messages without a regional version are shared"
    assert shanghai.keys() == general.keys()


def test_expiring_points_are_told_in_what_they_buy() -> None:
    en = parse_html(texts_for("en")("notifications/points_expiring", **SAMPLE)).text
    assert "Your 1,234,567 points expiring on Dec 31, 2026 are enough for 2 × Latte or 1 × <i>Mug</i>." in en
    zh = parse_html(texts_for("zh_CN")("notifications/points_expiring", **SAMPLE)).text
    assert "有效期至 2026年12月31日，足够兑换 2 份Latte或 1 份<i>Mug</i>" in zh
    alone_too_few = {**SAMPLE, "buys": [], "points": 120}
    en = parse_html(texts_for("en")("notifications/points_expiring", **alone_too_few)).text
    assert "Your 120 points expiring on Dec 31, 2026 are part of your 1,460 — together enough for 1 × <b>Lamp</b>." in en


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize(
    ("key", "missing"),
    [
        ("notifications/birthday", {"gift": None}),
        ("notifications/anniversary", {"gift": None, "years": 1}),
        ("notifications/win_back", {"offer": None, "since": None}),
        ("notifications/points_expiring", {"buys": [], "balance_buys": []}),
        ("notifications/tier_at_risk", {"keep_spend": None, "lose": []}),
        ("notifications/tier_at_risk", {"keep_visits": None}),
        ("notifications/coupon_expiring", {"days_left": 0}),
        ("notifications/coupon_expiring", {"days_left": 1}),
    ],
)
def test_nudges_read_well_without_their_optional_parts(locale: str, key: str, missing: dict[str, object]) -> None:
    text = parse_html(texts_for(locale)(key, **{**SAMPLE, **missing})).text
    assert text.strip() and "None" not in text
    if "gift" in missing or "offer" in missing:
        assert "🎁" not in text and "Welcome" not in text, "no gift, no gift line"


def test_a_tier_at_risk_says_what_keeps_it_and_what_losing_it_costs() -> None:
    en = parse_html(texts_for("en")("notifications/tier_at_risk", **SAMPLE)).text
    assert "Spend ¥800.00 more or make 2 more visits by Dec 31, 2026 to keep Gold — you'd lose:" in en
    assert "• Free delivery" in en
    zh = parse_html(texts_for("zh_CN")("notifications/tier_at_risk", **SAMPLE)).text
    assert "请在 2026年12月31日 前再消费 ¥800.00或再到店 2 次，即可保留Gold，否则将失去：" in zh


def test_near_upgrade_says_what_is_left_and_what_the_tier_gives() -> None:
    en = parse_html(texts_for("en")("notifications/near_upgrade", **SAMPLE)).text
    assert en.startswith("🚀 Just ¥640.00 more (or 3 more visits) and you're Gold!")
    assert "• Free delivery" in en
    zh = parse_html(texts_for("zh_CN")("notifications/near_upgrade", **{**SAMPLE, "visits_to_next": None})).text
    assert zh.startswith("🚀 再消费 ¥640.00即可升级为Gold！")


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize(
    ("key", "variant"),
    [
        ("staff/progress", {"campaign": {"id": 3, "name": "x", "status": "scheduled"}}),
        ("staff/progress", {"campaign": {"id": 3, "name": "x", "status": "scheduled"}, "starts": None}),
        ("staff/progress", {"campaign": {"id": 3, "name": "x", "status": "paused", "started": False}}),
        ("staff/progress", {"campaign": {"id": 3, "name": "x", "status": "paused", "started": False}, "starts": None}),
        ("staff/report", {"campaign": {"id": 3, "name": "x", "status": "done"}, "effect": None}),
        ("staff/report", {"effect": {**STAFF_EFFECT, "lift": None, "roi": None, "incremental_minor": None}}),
        ("staff/broadcast/summary", {"when": {"kind": "now"}, "coupon_name": None}),
        ("staff/broadcast/summary", {"when": {"kind": "at", "at": "Dec 8, 2026, 10:00"}}),
        ("staff/broadcast/text_invalid", {"detail": None}),
        ("staff/broadcast/text_invalid", {"problem": "too_long"}),
        ("staff/broadcast/time_invalid", {"problem": "past"}),
        ("staff/broadcast/refused", {"field": "send_at"}),
        ("staff/broadcast/refused", {"field": "recurrence"}),
        ("staff/broadcast/ask_coupon", {"has_templates": False}),
        ("staff/broadcast/summary", {"repeat": "once"}),
        ("staff/broadcast/summary", {"repeat": "quarterly"}),
        ("staff/broadcast/summary", {"coupon_rules_not_applied": []}),
        ("staff/broadcast/summary", {"test": None}),
        *[
            ("staff/broadcast/readability", {"test": {**READABLE, "warning": warning, "mde": mde}})
            for warning in ("no_holdout", "no_baseline", "audience_too_small", "holdout_too_small")
            for mde in (45, None)
            if mde is not None or warning == "holdout_too_small"
        ],
        ("staff/broadcast/summary", {"expected": {"sent": 0, "held_out": 0, "opted_out": 0, "unreachable": 3}}),
        ("staff/broadcast/ask_repeat", {"day": 30}),
    ]
    + [("staff/broadcast/repeat_button", {"every": every}) for every in ("once", "monthly")]
    + [("staff/broadcast/segment_button", {"segment": {"kind": kind, "value": value, "tier": "", "month": None}})
       for kind, value in [("all", ""), ("coupon", ""), *(("rfm", name) for name in RFM_SEGMENTS)]]
    + [("staff/campaigns/conflict", {"status": status}) for status in ("scheduled", "paused", "cancelled", "done")],
)
def test_staff_texts_read_well_in_every_variant(locale: str, key: str, variant: dict[str, object]) -> None:
    text = parse_html(texts_for(locale)(key, **{**SAMPLE, **variant})).text
    assert text.strip() and "None" not in text


def test_staff_texts_escape_names_and_show_placeholders_literally() -> None:
    en = texts_for("en")
    ask = parse_html(en("staff/broadcast/ask_text", **SAMPLE)).text
    assert "{{ points }}" in ask and "{{ tier }}" in ask and "12,345 members" in ask
    assert "{{ pointz }} is not a value" in parse_html(en("staff/broadcast/text_invalid", **SAMPLE)).text
    listing = parse_html(en("staff/campaigns/list", **SAMPLE)).text
    assert "1,200 / 10,800 sent · 🔁 every month" in listing and "90 / 90 sent\n" in listing + "\n"
    assert "🔁 每月" in texts_for("zh_CN")("staff/campaigns/list", **SAMPLE)
    assert "#13 Later\npaused · not started, scheduled for Dec 8, 2026, 10:00" in listing, "never 0 / 0 sent"
    paused = {"id": 3, "name": "x", "status": "paused", "started": False}
    progress = parse_html(en("staff/progress", **{**SAMPLE, "campaign": paused})).text
    assert "Not started, scheduled for Dec 8, 2026, 10:00." in progress and "sent of" not in progress
    report = parse_html(en("staff/report", **SAMPLE)).text
    assert "<b>Al & Ex</b> day" in report, "a campaign name is text, never markup"
    assert "¥1,234,567.00" in report and "+35.2% (95% interval +10.1% to +65.4%)" in report
    birthday = {"kind": "birthday", "value": "", "month": date(2000, 12, 1)}
    assert "Birthday in December" in en("staff/segment", segment=birthday)
    assert "12月生日" in texts_for("zh_CN")("staff/segment", segment=birthday)


@pytest.mark.parametrize(
    ("locale", "birthday", "heading"),
    [("en", "May 17, 1990", "PURCHASES (2)"), ("zh_CN", "1990年5月17日", "消费记录（2 笔）")],
)
def test_the_data_export_is_a_plain_text_file_in_the_members_language(locale: str, birthday: str, heading: str) -> None:
    text = texts_for(locale).plain_text("privacy/export_file", export=sample_export(hostile="Fish & <Chips>"))
    assert "Fish & <Chips>" in text and "&amp;" not in text and "&lt;" not in text, "a file, not HTML"
    for expected in ("+8613800000123", "7345678901", "4260185626", "CP-7KQ4-M9XD-2HPA", "RW-7KQ4", "R-1", "W-9"):
        assert expected in text
    assert birthday in text and heading in text
    assert text.endswith("\n") and not text.endswith("\n\n")


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_the_last_deletion_question_names_every_loss_and_only_real_ones(locale: str) -> None:
    texts = texts_for(locale)
    everything = texts("privacy/erase_final", points=1460, coupon_count=2, code_count=1, tier="Gold")
    nothing = texts("privacy/erase_final", points=0, coupon_count=0, code_count=0, tier="Gold")
    assert "1,460" in everything and "<b>2</b>" in everything and "<b>1</b>" in everything and "Gold" in everything
    assert "<b>0</b>" in nothing and "Gold" in nothing
    assert len(nothing.splitlines()) == len(everything.splitlines()) - 1, "no line for reward codes they do not have"


@pytest.mark.parametrize(("n", "word"), [(0, "0 visits"), (1, "1 visit"), (2, "2 visits"), (1_234, "1,234 visits")])
def test_counts_take_the_locale_s_plural_rules(n: int, word: str) -> None:
    assert format_count(n, "visit", "visits", "en") == word
    # Chinese has one form: whatever is given as `other`.
    assert plural(n, "次", "次", "zh_CN") == "次"
    # A language with more forms picks them by name (Russian: 1 визит, 3 визита, 5 визитов).
    forms = {"one": "визит", "few": "визита", "many": "визитов", "other": "визита"}
    assert [plural(k, locale="ru", **forms) for k in (1, 3, 5)] == ["визит", "визита", "визитов"]


def test_one_is_singular_in_the_member_s_messages() -> None:
    en = texts_for("en")
    earned = en("notifications/points_earned", points=1, balance=1, buys=[])
    assert "+1 point</b>" in earned
    assert "1 year with us" in en("notifications/anniversary", years=1, gift=None)
    assert "2 years with us" in en("notifications/anniversary", years=2, gift=None)


@pytest.mark.parametrize(("locale", "labels"), [("en", ["When", "Repeats"]), ("zh_CN", ["发送时间", "重复"])])
def test_the_broadcast_summary_has_a_line_per_choice(locale: str, labels: list[str]) -> None:
    """A block tag ending a line swallows its line break unless written `+%}`."""
    audience = {**SAMPLE["audience"], "total": 1}
    summary = texts_for(locale)("staff/broadcast/summary", **{**SAMPLE, "audience": audience, "repeat": "once"})
    lines = summary.splitlines()
    for label in labels:
        assert sum(line.startswith(f"<b>{label}</b>") for line in lines) == 1, summary
    assert lines[-2] == "", "a blank line before the question"
    if locale == "en":
        assert "1 member\n" in summary


def test_chinese_texts_address_the_member_as_nin_throughout() -> None:
    """One register: the polite 您, never 你, in every Chinese template."""
    informal = [
        str(path.relative_to(TEMPLATES_DIR))
        for path in (TEMPLATES_DIR / "zh_CN").rglob("*.j2")
        if "你" in path.read_text(encoding="utf-8")
    ]
    assert informal == []



def test_the_broadcast_summary_warns_of_an_audience_nobody_in_and_of_coupon_rules_waived() -> None:
    en = texts_for("en")
    nobody = {"sent": 0, "held_out": 0, "opted_out": 1, "unreachable": 2}
    assert "nobody will get it" in en("staff/broadcast/summary", **{**SAMPLE, "expected": nobody})
    assert "nobody will get it" not in en("staff/broadcast/summary", **SAMPLE)
    waived = en("staff/broadcast/summary", **SAMPLE)
    assert "whatever their tier" in waived and "per-member limit don't apply" in waived
    only_limit = en("staff/broadcast/summary", **{**SAMPLE, "coupon_rules_not_applied": ["per_member_limit"]})
    assert "whatever their tier" not in only_limit and "per-member limit don't apply" in only_limit
    no_coupon = en("staff/broadcast/summary", **{**SAMPLE, "coupon_name": None})
    assert "don't apply" not in no_coupon


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_a_guest_s_help_offers_only_what_a_guest_has(locale: str) -> None:
    texts = texts_for(locale)
    member = texts("help", program="Café", is_member=True)
    guest = texts("help", program="Café", is_member=False)
    for command in ("/card", "/points", "/rewards", "/coupons", "/settings", "/privacy"):
        assert command in member and command not in guest, command
    assert "/start" in guest and "/start" not in member
    buttons = {"en": "buttons below", "zh_CN": "下方按钮"}[locale]
    assert buttons in member and buttons not in guest, "a guest has no menu buttons"
