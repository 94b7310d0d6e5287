"""The card's QR token: it reads back as the member it was made for until it expires, is never
taken for a member number, and any change to it is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty import card_tokens
from loyalty.errors import CardTokenExpired, CardTokenInvalid

KEY = "a-test-key-that-is-long-enough-0123456789"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@given(member_id=st.integers(1, 2**31 - 1), lifetime=st.integers(30, 3600))
def test_a_token_reads_back_until_it_expires(member_id: int, lifetime: int) -> None:
    made = card_tokens.issue(KEY, member_id, NOW, lifetime)

    assert card_tokens.looks_like_token(made.token) and not made.token.isdigit()
    assert card_tokens.member_id_of([KEY], made.token, made.expires_at - timedelta(seconds=1)) == member_id
    assert card_tokens.member_id_of([KEY], made.token.lower(), NOW) == member_id  # a scanner's case
    with pytest.raises(CardTokenExpired):
        card_tokens.member_id_of([KEY], made.token, made.expires_at)


@given(member_id=st.integers(1, 2**31 - 1), at=st.integers(0, card_tokens.TOKEN_LENGTH - 1), data=st.data())
def test_any_changed_character_is_refused(member_id: int, at: int, data: st.DataObject) -> None:
    token = card_tokens.issue(KEY, member_id, NOW, 90).token
    other = data.draw(st.sampled_from([c for c in ALPHABET if c != token[at]]))
    changed = token[:at] + other + token[at + 1 :]

    with pytest.raises(CardTokenInvalid):
        card_tokens.member_id_of([KEY], changed, NOW)


def test_the_last_characters_spare_bit_makes_no_second_spelling() -> None:
    token = card_tokens.issue(KEY, 5, NOW, 90).token
    twin = token[:-1] + ALPHABET[ALPHABET.index(token[-1]) ^ 1]

    with pytest.raises(CardTokenInvalid):
        card_tokens.member_id_of([KEY], twin, NOW)


@pytest.mark.parametrize("text", ["4260185626", "", "CP-7KQ4-M9XD-2HPA", "A" * 28, "A" * 30, "1" * 29])
def test_other_things_a_till_scans_are_not_tokens(text: str) -> None:
    assert not card_tokens.looks_like_token(text)
