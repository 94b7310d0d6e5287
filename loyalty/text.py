"""What a text the program stores may hold: no control characters.

A NUL byte cannot be stored in a PostgreSQL text column at all (the driver fails), and the other
control characters (escape sequences, backspace, form feed, C1 codes) only ever arrive by mistake
or to mislead: in a receipt line, a till display, a chat message or a log. Lone surrogates
(half an emoji, from a broken JSON escape) cannot be encoded for either database. So every text
from outside is checked by this one rule, whichever way it came: the API's schemas type their
strings `SingleLine` / `MultiLine` (below), and the rules call `check_text` for what does not go
through them (a CSV import, the chat, the command line).

A single-line text (a name, a code, a reason, a city, an address, an order id) has none at all.
A multi-line text (a campaign's message, a reward's or coupon's description: texts members read
as paragraphs) may also hold line breaks and tabs: \\n, \\r and \\t.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

from loyalty.errors import ControlCharacter

# What no text holds: C0 controls, DEL and C1 controls; a multi-line text keeps \t \n \r.
_CONTROLS = r"\u0000-\u001f\u007f-\u009f"
_CONTROLS_BUT_LINE_BREAKS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
# Lone UTF-16 surrogates (a broken JSON escape, half an emoji) cannot be stored either; the
# schemas' strings refuse them before they get here (pydantic-core reads text as UTF-8).
_SURROGATES = r"\ud800-\udfff"
_SINGLE_LINE = re.compile(f"[{_CONTROLS}{_SURROGATES}]")
_MULTI_LINE = re.compile(f"[{_CONTROLS_BUT_LINE_BREAKS}{_SURROGATES}]")
# The same rules as JSON Schema patterns (ECMA-262 syntax, also Python's and Rust's): the
# schemas below enforce them, and the OpenAPI document shows them.
SINGLE_LINE_PATTERN = f"^[^{_CONTROLS}]*$"
MULTI_LINE_PATTERN = f"^[^{_CONTROLS_BUT_LINE_BREAKS}]*$"

# The string types of every model that reads text from outside (the API's schemas, a campaign's
# audience). A mismatch is reported by the API as `control_character` (api/errors.py).
SingleLine = Annotated[str, Field(pattern=SINGLE_LINE_PATTERN)]
MultiLine = Annotated[str, Field(pattern=MULTI_LINE_PATTERN)]


def control_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character `text` may not hold, or None."""
    found = (_MULTI_LINE if multiline else _SINGLE_LINE).search(text)
    return found.group() if found else None


def describe(character: str) -> str:
    """U+0000: how an error names a character it must not print."""
    return f"U+{ord(character):04X}"


def refusal(character: str, *, multiline: bool) -> str:
    allowed = " (line breaks and tabs are fine)" if multiline else ""
    return f"must not contain control characters{allowed}; found {describe(character)}"


def check_text(text: str, field: str, *, multiline: bool = False) -> str:
    """`text` itself, or ControlCharacter naming `field`."""
    character = control_character(text, multiline=multiline)
    if character is not None:
        raise ControlCharacter(f"{field} {refusal(character, multiline=multiline)}", field=field)
    return text
