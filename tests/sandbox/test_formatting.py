"""Telegram HTML parsing, entity offsets, member entity detection, image sizes."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.formatting import (
    EntityParseError,
    detect_entities,
    format_text,
    parse_html,
    render_ansi,
    utf16_len,
)
from sandbox.media import image_size
from tests.sandbox.conftest import png_bytes


def test_entity_offsets_are_utf16_code_units() -> None:
    parsed = parse_html("😀 <b>bold</b> <a href='https://x.org/?a=1&amp;b=2'>link</a>")
    assert parsed.text == "😀 bold link"
    bold, link = parsed.entities
    assert (bold["type"], bold["offset"], bold["length"]) == ("bold", 3, 4)
    assert link == {"type": "text_link", "offset": 8, "length": 4, "url": "https://x.org/?a=1&b=2"}


def test_nested_entities_and_unknown_ampersands() -> None:
    parsed = parse_html("<b>a <i>b</i></b> Tom &amp Jerry &copy; &#x1F600; &#65;")
    assert parsed.text == "a b Tom &amp Jerry &copy; 😀 A"
    assert [(e["type"], e["offset"], e["length"]) for e in parsed.entities] == [
        ("bold", 0, 3),
        ("italic", 2, 1),
    ]


def test_text_mention_expandable_blockquote_and_trimming() -> None:
    formatted = format_text(
        '  \n<a href="tg://user?id=42">Ann</a> <blockquote expandable>long</blockquote>\n ',
        "HTML",
    )
    assert formatted.text == "Ann long"
    assert formatted.entities[0]["type"] == "text_mention"
    assert formatted.entities[0]["user"]["id"] == 42
    assert formatted.entities[1] == {"type": "expandable_blockquote", "offset": 4, "length": 4}


@pytest.mark.parametrize(
    "bad",
    ["<b", "<b>x</b", "<a href>x</a>", "<br>", "<b/>x", "<tg-emoji>x</tg-emoji>", "</b>"],
)
def test_malformed_html(bad: str) -> None:
    with pytest.raises(EntityParseError):
        parse_html(bad)


def test_error_offset_counts_multibyte_characters() -> None:
    with pytest.raises(EntityParseError) as error:
        parse_html("é😀<p>")
    assert str(error.value) == 'Unsupported start tag "p" at byte offset 6'


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_escaped_text_round_trips(text: str) -> None:
    parsed = parse_html("<b>" + html.escape(text, quote=False) + "</b>")
    assert parsed.text == text
    if text:
        assert parsed.entities == [{"type": "bold", "offset": 0, "length": utf16_len(text)}]


def test_member_text_entities() -> None:
    entities = detect_entities("/start ref and /help@coffee_bot see https://x.org #promo @ann_lee")
    assert [(e["type"], e["offset"], e["length"]) for e in entities] == [
        ("bot_command", 0, 6),
        ("bot_command", 15, 16),
        ("url", 36, 13),
        ("hashtag", 50, 6),
        ("mention", 57, 8),
    ]
    assert detect_entities("a/b and 1/2") == []


def test_render_ansi_styles_entities() -> None:
    assert render_ansi("a bold b", [{"type": "bold", "offset": 2, "length": 4}]) == (
        "a \x1b[1mbold\x1b[22m b"
    )


def test_image_size_of_real_headers() -> None:
    assert image_size(png_bytes(37, 11)) == (37, 11)
    gif = b"GIF89a" + (640).to_bytes(2, "little") + (480).to_bytes(2, "little") + b"\x00" * 8
    assert image_size(gif) == (640, 480)
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\xff\xc0\x00\x11\x08\x01\xe0\x02\x80\x03"
        + b"\x00" * 16
    )
    assert image_size(jpeg) == (640, 480)
    assert image_size(b"hello world, not an image") is None
