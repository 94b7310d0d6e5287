"""The signed second "yes" before a member erases their membership from the Mini App: it holds
only for the membership it was given to, only as given, and only for CONFIRM_FOR."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.erasure_confirmation import CONFIRM_FOR, check_token, new_token
from loyalty.errors import ConfirmationMismatch

KEY = "k" * 48
ASKED = datetime(2026, 12, 7, 9, 30, tzinfo=timezone.utc)


def test_the_token_holds_for_its_membership_until_it_expires() -> None:
    token = new_token(KEY, "1000000001", ASKED)
    check_token(KEY, "1000000001", token, ASKED)
    check_token(KEY, "1000000001", token, ASKED + CONFIRM_FOR)
    with pytest.raises(ConfirmationMismatch) as late:
        check_token(KEY, "1000000001", token, ASKED + CONFIRM_FOR + timedelta(seconds=1))
    assert "expired" in str(late.value)


def test_another_membership_or_another_key_refuses_it() -> None:
    token = new_token(KEY, "1000000001", ASKED)
    with pytest.raises(ConfirmationMismatch):
        check_token(KEY, "1000000002", token, ASKED)
    with pytest.raises(ConfirmationMismatch):
        check_token("o" * 48, "1000000001", token, ASKED)


def test_a_token_from_the_future_is_refused() -> None:
    token = new_token(KEY, "1000000001", ASKED + timedelta(minutes=1))
    with pytest.raises(ConfirmationMismatch):
        check_token(KEY, "1000000001", token, ASKED)


@given(st.text(max_size=80))
def test_no_made_up_token_holds(forged: str) -> None:
    with pytest.raises(ConfirmationMismatch):
        check_token(KEY, "1000000001", forged, ASKED)


@given(st.integers(min_value=0, max_value=40))
def test_no_changed_character_holds(position: int) -> None:
    token = new_token(KEY, "1000000001", ASKED)
    position %= len(token)
    changed = token[:position] + ("0" if token[position] != "0" else "1") + token[position + 1 :]
    with pytest.raises(ConfirmationMismatch):
        check_token(KEY, "1000000001", changed, ASKED)
