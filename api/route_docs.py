"""What the OpenAPI document says a route may answer besides its success, shared by the routers."""

from __future__ import annotations

from typing import Any

from api.schemas import ErrorPublic

# FastAPI's `responses=`: a status code and the OpenAPI fields of that answer.
Responses = dict[int | str, dict[str, Any]]

NOT_FOUND: dict[str, Any] = {"model": ErrorPublic}
INVALID: dict[str, Any] = {"description": "Invalid input; `loc` names the field"}
