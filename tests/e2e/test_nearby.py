"""Offers near me through aiogram and the sandbox: a shared location lists the open stores nearby
in order with distances, a button sends a store as a venue, forged buttons and impossible
coordinates are refused, and with nothing open nearby the nearest store is shown anyway."""

from __future__ import annotations

from bot.render import format_distance, texts_for
from db.models import Store
from loyalty.geo import distance_m
from tests.e2e.conftest import Product
from tests.utils.members import chat_member
from tests.utils.stores import BEIJING, SHANGHAI, add_stores, located_store

EN = texts_for("en")
LAT, LON = SHANGHAI
METRE = 1 / 111_195  # a metre of latitude, in degrees

# The test clock says Tuesday 20:00 in Shanghai.
TUESDAY = {"tue": [["08:00", "22:00"]]}
MONDAY = {"mon": [["08:00", "22:00"]]}


async def stores_around_people_square(product: Product) -> list[Store]:
    clock = product.clock
    return await add_stores(product.uow_factory, [
        located_store("FAR", LAT + 5_000 * METRE, LON, clock, name="Far away"),
        located_store("B", LAT + 1_200 * METRE, LON, clock, name="Bund & Co", address="2 Zhongshan Rd", hours=TUESDAY),
        located_store("A", LAT + 300 * METRE, LON, clock, name="Nanjing Rd", address="1 Nanjing Rd"),
        located_store("SHUT", LAT + 100 * METRE, LON, clock, name="Closed today", hours=MONDAY),
        located_store("GONE", LAT + 50 * METRE, LON, clock, name="Gone", active=False),
    ])


async def test_a_member_gets_the_open_stores_nearby_and_a_venue_to_navigate(product: Product) -> None:
    user, conv = product.member()
    await chat_member(product.uow_factory, product.clock, telegram_id=user.id, locale="en")
    _, bund, _, _, gone = await stores_around_people_square(product)

    [answer] = await conv.share_location(LAT, LON)
    assert answer.button_labels == ["🧭 Nanjing Rd", "🧭 Bund & Co", "🧭 Closed today"], (
        "active, within 3 km: the open ones nearest first, then the closed one"
    )
    text = answer.text
    assert text.index("Nanjing Rd · 300 m") < text.index("Bund & Co · 1.2 km") < text.index("Closed today")
    # Tuesday in Shanghai: a store open on Mondays only says when it opens, not nothing.
    assert "Closed today · 100 m · closed, opens Mon 08:00" in text
    assert "1 Nanjing Rd" in text and "2 Zhongshan Rd" in text
    assert "Gone" not in text and "Far away" not in text
    assert "/start" not in text, "no join hint for members"

    [venue] = await conv.press("🧭 Bund & Co")
    assert venue.venue is not None
    assert (venue.venue["title"], venue.venue["address"]) == ("Bund & Co", "2 Zhongshan Rd")
    assert (venue.venue["location"]["latitude"], venue.venue["location"]["longitude"]) == (bund.latitude, bund.longitude)

    for forged in (f"venue:{gone.id}", "venue:999999", "venue:99999999999", "venue:x"):
        mark = conv.mark()
        refusal = await product.forge(conv, forged)
        assert all(m.venue is None for m in conv.messages[mark:]), f"{forged} sent nothing"
        if forged in (f"venue:{gone.id}", "venue:999999"):
            assert (refusal.text, refusal.show_alert) == (EN("nearby/unknown_store"), True)
        else:  # does not even unpack: a stale button
            assert refusal.text == EN("fallback/stale_button")


async def test_nothing_open_nearby_shows_the_nearest_store_anyway_and_guests_get_a_hint(product: Product) -> None:
    _, conv = product.member("Guest")
    await stores_around_people_square(product)
    [answer] = await conv.share_location(*BEIJING)
    nearest = format_distance(distance_m(*BEIJING, LAT + 5_000 * METRE, LON), "en")
    assert f"No store is within 3.0 km of you. The nearest one is <b>Far away</b>, {nearest} away." in answer.raw_text
    assert nearest.endswith(" km") and nearest.startswith("1,06")
    assert "/start" in answer.text, "guests are told how to join"
    assert answer.button_labels == ["🧭 Far away"]


async def test_impossible_coordinates_are_refused_politely(product: Product) -> None:
    _, conv = product.member()
    await stores_around_people_square(product)
    [answer] = await conv.share_location(95.0, LON)
    assert answer.text == EN("nearby/bad_location")
    assert answer.button_labels == []


async def test_when_every_store_nearby_is_closed_each_says_when_it_opens(product: Product) -> None:
    user, conv = product.member()
    await chat_member(product.uow_factory, product.clock, telegram_id=user.id, locale="zh_CN")
    await add_stores(product.uow_factory, [
        located_store("SHUT", LAT + 100 * METRE, LON, product.clock, name="Monday shop", hours=MONDAY),
        located_store("NEVER", LAT + 200 * METRE, LON, product.clock, name="No days", hours={}),
    ])
    [answer] = await conv.share_location(LAT, LON)
    assert "您附近的门店" in answer.text and "当前均未营业" in answer.text
    assert "Monday shop · 100米 · 未营业，周一 08:00 开门" in answer.text
    assert "No days · 200米 · 未营业\n" in answer.text + "\n", "a store with no opening day names none"
    assert answer.button_labels == ["🧭 Monday shop", "🧭 No days"]
