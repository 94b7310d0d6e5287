"""Domain errors. Each front end maps them: the bot to a message, the API to a status code."""

from __future__ import annotations


class LoyaltyError(Exception):
    """Base of every rule the program refuses to break. `code` names the template/HTTP detail."""

    code = "error"

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.code)
        self.details = details


class InvalidInput(LoyaltyError):
    code = "invalid_input"


class InvalidPhone(InvalidInput):
    code = "invalid_phone"


class InvalidBirthday(InvalidInput):
    code = "invalid_birthday"


class InvalidCity(InvalidInput):
    code = "invalid_city"


class ConsentRequired(LoyaltyError):
    code = "consent_required"


class NotFound(LoyaltyError):
    code = "not_found"


class MemberNotFound(NotFound):
    code = "member_not_found"


class Conflict(LoyaltyError):
    code = "conflict"


class AlreadyRegistered(Conflict):
    code = "already_registered"


class PhoneTaken(Conflict):
    """The phone belongs to a member who is already linked to another chat."""

    code = "phone_taken"


class ApiKeyExists(Conflict):
    code = "api_key_exists"
