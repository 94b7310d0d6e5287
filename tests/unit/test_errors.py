"""Domain errors: typed attributes, and `details` derived from them."""

from __future__ import annotations

import pickle

import pytest

from loyalty.errors import (
    CampaignStateConflict,
    CouponNotUsable,
    InsufficientPoints,
    InvalidCampaign,
    InvalidInput,
    NotFound,
)


def test_details_lists_the_attributes_a_rule_set_and_nothing_else() -> None:
    refusal = CouponNotUsable("needs more", reason="below_minimum", min_spend_minor=5000)
    assert (refusal.reason, refusal.min_spend_minor, refusal.valid_from) == ("below_minimum", 5000, None)
    assert refusal.details == {"reason": "below_minimum", "min_spend_minor": 5000}
    assert "valid_from" not in refusal.details
    with pytest.raises(KeyError):
        refusal.details["valid_from"]
    assert InsufficientPoints(needed=30, available=20).details == {"needed": 30, "available": 20}
    assert NotFound("nothing").details == {} and NotFound("nothing").reason is None


def test_writing_a_detail_sets_the_attribute() -> None:
    error = InvalidCampaign("not a day", field="local_date", problem="past")
    error.details["field"] = "local.date"
    assert error.field == "local.date" and error.details["field"] == "local.date"
    with pytest.raises(KeyError):
        error.details["surprise"] = 1


def test_an_input_error_without_a_field_has_none() -> None:
    error = InvalidInput("no")
    assert error.field is None and dict(error.details) == {} and str(error) == "no"
    assert str(InvalidInput()) == "invalid_input", "the code stands in for a missing message"


def test_errors_survive_pickling_with_their_attributes() -> None:
    error = CampaignStateConflict("campaign 7 is done; it cannot pause", reason="done")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is CampaignStateConflict
    assert (str(copy), copy.reason, copy.details) == (str(error), "done", {"reason": "done"})
