"""The picture address a reward or coupon template may carry: https with a host, nothing else."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.errors import InvalidInput
from loyalty.fields import IMAGE_URL_MAX_LENGTH, image_url


@given(st.text(max_size=80))
def test_whatever_is_accepted_is_an_https_address_with_a_host_and_no_spaces(text: str) -> None:
    for candidate in (text, "https://" + text):
        try:
            accepted = image_url(candidate)
        except InvalidInput as refused:
            assert refused.field == "image_url"
            continue
        assert accepted is not None
        assert urlsplit(accepted).scheme == "https" and urlsplit(accepted).hostname
        assert len(accepted) <= IMAGE_URL_MAX_LENGTH and not any(character.isspace() for character in accepted)


@pytest.mark.parametrize(
    "refused",
    ["http://shop.example.com/a.jpg", "https://", "javascript:alert(1)", "https://u:p@shop.example.com/a.jpg",
     "https://shop.example.com/a b.jpg", "https://shop.example.com/" + "a" * IMAGE_URL_MAX_LENGTH, ""],
)
def test_other_addresses_are_refused(refused: str) -> None:
    with pytest.raises(InvalidInput):
        image_url(refused)


def test_none_is_no_picture_and_spaces_around_are_trimmed() -> None:
    assert image_url(None) is None
    assert image_url("  https://shop.example.com/a.jpg ") == "https://shop.example.com/a.jpg"
