"""Telegram's text formatting: the HTML parse mode, entity detection, and plain/ANSI rendering.

The HTML parser follows TDLib's ``parse_html`` (what the Bot API server runs): a small, strict
tag language rather than real HTML. Unknown tags, unbalanced tags and ``span`` without the
spoiler class are errors, reported as ``can't parse entities: ...`` with the byte offset of the
culprit; an ``&`` that does not start a known entity is kept literally. Entity offsets and
lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "tg-spoiler",
        "span",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)

_TAG_ENTITY_TYPES: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "a": "text_link",
}

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = " \t\r\n"
# Telegram trims these from both ends of a message (spaces, newlines, zero-width junk).
_TRIMMED = " \t\r\n\u200b\u200c\u200d\u2060\ufeff"


class EntityParseError(ValueError):
    """Malformed formatted text; ``str(error)`` is the detail after ``can't parse entities:``."""


@dataclass
class FormattedText:
    """Text as Telegram stores it: plain characters plus MessageEntity dicts."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of entity offsets in the Bot API."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _decode_entity(source: str, start: int) -> tuple[str, int] | None:
    """Decode ``&...;`` at ``start``; returns (character, characters consumed) or None."""
    end = source.find(";", start + 1, start + 12)
    if end == -1:
        return None
    body = source[start + 1 : end]
    if body in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[body], end - start + 1
    code: int | None = None
    if re.fullmatch(r"#[0-9]{1,7}", body):
        code = int(body[1:])
    elif re.fullmatch(r"#[xX][0-9a-fA-F]{1,6}", body):
        code = int(body[2:], 16)
    if code is None or code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), end - start + 1


def unescape(text: str) -> str:
    """Decode the HTML entities Telegram knows, leaving anything else literally."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "&" and (decoded := _decode_entity(text, i)) is not None:
            out.append(decoded[0])
            i += decoded[1]
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    offset: int  # UTF-16 offset in the output where the tag's content starts


def parse_html(source: str) -> FormattedText:
    """Parse Telegram HTML into plain text + entities, or raise :class:`EntityParseError`."""
    out: list[str] = []
    position = 0  # current UTF-16 offset in the output
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    n = len(source)
    i = 0

    def emit(chunk: str) -> None:
        nonlocal position
        out.append(chunk)
        position += utf16_len(chunk)

    def skip_spaces(k: int) -> int:
        while k < n and source[k] in _SPACES:
            k += 1
        return k

    while i < n:
        char = source[i]
        if char == "&":
            decoded = _decode_entity(source, i)
            if decoded is None:
                emit("&")
                i += 1
            else:
                emit(decoded[0])
                i += decoded[1]
            continue
        if char != "<":
            # Copy a run of ordinary characters at once; keeps long texts fast.
            j = i + 1
            while j < n and source[j] not in "<&":
                j += 1
            emit(source[i:j])
            i = j
            continue

        begin = i
        i += 1
        if i < n and source[i] == "/":
            i += 1
            name_start = i
            while i < n and source[i] not in _SPACES and source[i] != ">":
                i += 1
            name = source[name_start:i].lower()
            i = skip_spaces(i)
            if i >= n or source[i] != ">":
                raise EntityParseError(
                    f"Unclosed end tag at byte offset {_byte_offset(source, begin)}"
                )
            i += 1
            if not stack:
                raise EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(source, begin)}"
                )
            top = stack[-1]
            if top.name != name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(source, begin)}, "
                    f'expected "</{top.name}>", found "</{name}>"'
                )
            stack.pop()
            _close_tag(top, position, stack, entities)
            continue

        name_start = i
        while i < n and source[i] not in _SPACES and source[i] != ">":
            i += 1
        name = source[name_start:i].lower()
        if name not in SUPPORTED_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, begin)}'
            )
        attrs: dict[str, str] = {}
        while True:
            i = skip_spaces(i)
            if i >= n:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(source, begin)}"
                )
            if source[i] == ">":
                i += 1
                break
            attr_start = i
            while i < n and source[i] not in _SPACES and source[i] not in "=>":
                i += 1
            attr_name = source[attr_start:i].lower()
            if not attr_name:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset '
                    f"{_byte_offset(source, attr_start)}"
                )
            i = skip_spaces(i)
            if i >= n:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(source, begin)}"
                )
            if source[i] != "=":
                # The one valueless attribute Telegram knows: <blockquote expandable>.
                if name == "blockquote" and attr_name == "expandable":
                    attrs[attr_name] = ""
                    continue
                raise EntityParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{name}" '
                    f"at byte offset {_byte_offset(source, begin)}"
                )
            i = skip_spaces(i + 1)
            if i >= n:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(source, begin)}"
                )
            if source[i] in "\"'":
                quote = source[i]
                close = source.find(quote, i + 1)
                if close == -1:
                    raise EntityParseError(
                        f"Unclosed start tag at byte offset {_byte_offset(source, begin)}"
                    )
                value = unescape(source[i + 1 : close])
                i = close + 1
            else:
                value_start = i
                while i < n and source[i] not in _SPACES and source[i] != ">":
                    i += 1
                value = unescape(source[value_start:i])
            attrs[attr_name] = value
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(source, begin)}"
            )
        if name == "tg-emoji" and not re.fullmatch(r"[0-9]{1,20}", attrs.get("emoji-id", "")):
            raise EntityParseError("Invalid custom emoji identifier specified")
        stack.append(_OpenTag(name, attrs, position))

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return _sorted(FormattedText("".join(out), entities))


def _close_tag(
    tag: _OpenTag,
    end: int,
    stack: list[_OpenTag],
    entities: list[dict[str, Any]],
) -> None:
    length = end - tag.offset
    if length <= 0:
        return  # Telegram drops empty entities silently.
    entity: dict[str, Any] = {"type": _TAG_ENTITY_TYPES[tag.name], "offset": tag.offset}
    entity["length"] = length
    if tag.name == "a":
        url = tag.attrs.get("href", "")
        if not url:
            return  # a link without a target is plain text, as in Telegram
        if url.startswith("tg://user?id="):
            user_id = url.removeprefix("tg://user?id=")
            if not user_id.isdigit():
                return
            entity = {
                "type": "text_mention",
                "offset": tag.offset,
                "length": length,
                "user": {"id": int(user_id), "is_bot": False, "first_name": ""},
            }
        else:
            entity["url"] = url
    elif tag.name == "code":
        language = tag.attrs.get("class", "")
        parent = stack[-1] if stack else None
        # <pre><code class="language-x">...</code></pre> is one pre entity with a language.
        if parent is not None and parent.name == "pre" and parent.offset == tag.offset:
            if language.startswith("language-"):
                parent.attrs["language"] = language.removeprefix("language-")
            return
    elif tag.name == "pre":
        if tag.attrs.get("language"):
            entity["language"] = tag.attrs["language"]
    elif tag.name == "blockquote":
        if "expandable" in tag.attrs:
            entity["type"] = "expandable_blockquote"
    elif tag.name == "tg-emoji":
        entity["custom_emoji_id"] = tag.attrs["emoji-id"]
    entities.append(entity)


def _sorted(formatted: FormattedText) -> FormattedText:
    formatted.entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return formatted


def trim(formatted: FormattedText) -> FormattedText:
    """Strip leading/trailing blanks as Telegram does, moving entity offsets along."""
    text = formatted.text
    stripped_left = text.lstrip(_TRIMMED)
    shift = utf16_len(text) - utf16_len(stripped_left)
    result = stripped_left.rstrip(_TRIMMED)
    total = utf16_len(result)
    entities: list[dict[str, Any]] = []
    for entity in formatted.entities:
        start = max(0, entity["offset"] - shift)
        end = min(total, entity["offset"] + entity["length"] - shift)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    return FormattedText(result, entities)


PARSE_MODES = {"html": "HTML", "markdown": "Markdown", "markdownv2": "MarkdownV2"}


def normalize_parse_mode(parse_mode: str | None) -> str | None:
    """Canonical spelling of a parse mode (Telegram compares case-insensitively)."""
    if parse_mode is None or parse_mode == "":
        return None
    return PARSE_MODES.get(parse_mode.lower(), parse_mode)


def format_text(
    source: str,
    parse_mode: str | None,
    entities: list[dict[str, Any]] | None = None,
) -> FormattedText:
    """What Telegram stores for ``source`` sent with ``parse_mode`` / explicit ``entities``.

    Markdown and MarkdownV2 are accepted but not parsed (the project formats with HTML):
    their text is kept as sent, which only matters for length checks.
    """
    mode = normalize_parse_mode(parse_mode)
    formatted = parse_html(source) if mode == "HTML" else FormattedText(source, list(entities or []))
    return trim(formatted)


# --- entities Telegram detects by itself in what a member types -----------------------------

_AUTO_ENTITY_RE = re.compile(
    r"(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?)"
    r"|(?P<url>https?://[^\s<>\"]+)"
    r"|(?P<mention>(?<!\w)@[A-Za-z0-9_]{4,32})"
    r"|(?P<hashtag>(?<!\w)#\w+)"
)


def detect_entities(text: str) -> list[dict[str, Any]]:
    """bot_command, url, mention and hashtag entities, as Telegram adds to member messages.

    aiogram's ``Command`` filter needs the ``bot_command`` entity at offset 0.
    """
    entities: list[dict[str, Any]] = []
    for match in _AUTO_ENTITY_RE.finditer(text):
        kind = match.lastgroup
        assert kind is not None
        entities.append(
            {
                "type": kind,
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group()),
            }
        )
    return entities


# --- rendering for the terminal -----------------------------------------------------------

_ANSI_STYLES: dict[str, tuple[str, str]] = {
    "bold": ("\x1b[1m", "\x1b[22m"),
    "italic": ("\x1b[3m", "\x1b[23m"),
    "underline": ("\x1b[4m", "\x1b[24m"),
    "strikethrough": ("\x1b[9m", "\x1b[29m"),
    "code": ("\x1b[36m", "\x1b[39m"),
    "pre": ("\x1b[36m", "\x1b[39m"),
    "text_link": ("\x1b[4m", "\x1b[24m"),
    "spoiler": ("\x1b[2m", "\x1b[22m"),
}


def render_ansi(text: str, entities: list[dict[str, Any]]) -> str:
    """Plain text with ANSI styles for the entities that have a terminal look."""
    if not entities:
        return text
    # Map UTF-16 offsets to string indexes once, then insert escape codes.
    index_of: dict[int, int] = {}
    units = 0
    for index, char in enumerate(text):
        index_of[units] = index
        units += 2 if ord(char) > 0xFFFF else 1
    index_of[units] = len(text)
    inserts: dict[int, list[str]] = {}
    for entity in entities:
        style = _ANSI_STYLES.get(entity["type"])
        if style is None:
            continue
        start = index_of.get(entity["offset"])
        end = index_of.get(entity["offset"] + entity["length"])
        if start is None or end is None:
            continue
        inserts.setdefault(start, []).append(style[0])
        inserts.setdefault(end, []).insert(0, style[1])
    pieces: list[str] = []
    for index in range(len(text) + 1):
        pieces.extend(inserts.get(index, ()))
        if index < len(text):
            pieces.append(text[index])
    return "".join(pieces)
