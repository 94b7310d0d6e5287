"""Reading Bot API parameters the way Telegram does, whatever the transport.

Telegram accepts the same parameters as a query string, a urlencoded or multipart form (all
values are strings; objects and arrays are JSON-encoded strings, files are parts) or a JSON
body (native JSON values). aiogram sends forms; other clients send JSON. :class:`Params`
hides the difference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp.web_request import FileField

from sandbox.errors import ApiError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class Params:
    """Typed access to one request's parameters; invalid values raise 400 ApiError."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw: dict[str, Any] = dict(raw)

    def __contains__(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def decoded(self) -> dict[str, Any]:
        """All parameters with JSON-looking strings decoded and files described, for records."""
        result: dict[str, Any] = {}
        for name, value in self.raw.items():
            if isinstance(value, FileField):
                result[name] = f"<file {value.filename}>"
            elif isinstance(value, str) and value[:1] in ("{", "["):
                try:
                    result[name] = json.loads(value)
                except ValueError:
                    result[name] = value
            else:
                result[name] = value
        return result

    def string(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, FileField):
            raise ApiError.bad_request(f'field "{name}" must be of type String')
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return str(value)

    def integer(self, name: str) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ApiError.bad_request(f'field "{name}" must be of type Integer')

    def number(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise ApiError.bad_request(f'field "{name}" must be of type Float')
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ApiError.bad_request(f'field "{name}" must be of type Float')

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
        raise ApiError.bad_request(f'field "{name}" must be of type Boolean')

    def json_value(self, name: str, *, error: str | None = None) -> Any:
        """A JSON-serialized object/array parameter, decoded; ``error`` replaces the default."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, (dict, list)):
            return value
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                pass
        raise ApiError.bad_request(error or f"can't parse {name} JSON object")

    def file(self, name: str) -> FileField | str | None:
        """A file parameter: an uploaded part (directly or via ``attach://``) or a string."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, FileField):
            return value
        if isinstance(value, str) and value.startswith("attach://"):
            attached = self.raw.get(value.removeprefix("attach://"))
            if isinstance(attached, FileField):
                return attached
            raise ApiError.bad_request("wrong file identifier/HTTP URL specified")
        if isinstance(value, str):
            return value
        raise ApiError.bad_request(f'field "{name}" must be of type String')
