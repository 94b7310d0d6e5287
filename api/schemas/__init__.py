"""What the API accepts and returns, one module per resource: `*Create` / `*Update` for input,
`*Public` for output."""

from api.schemas.common import ErrorPublic, HealthPublic, OkPublic
from api.schemas.members import CONSENT_REQUIRED, Locale, MemberCreate, MemberPublic, MembersPublic

__all__ = [
    "CONSENT_REQUIRED",
    "ErrorPublic",
    "HealthPublic",
    "Locale",
    "MemberCreate",
    "MemberPublic",
    "MembersPublic",
    "OkPublic",
]
