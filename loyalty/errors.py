"""Domain errors. Each front end maps them: the bot to a message, the API to a status code.

Each refusal carries what it is about as typed attributes set by its constructor (`field`,
`reason`, `needed`, ...). `details` lists the ones a rule set by name, for code that reads them
that way; the API's error bodies are built from the same attributes.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from db.models import Tier
    from loyalty.stores import RowError


class LoyaltyError(Exception):
    """Base of every rule the program refuses to break. `code` names the template/HTTP detail."""

    code: ClassVar[str] = "error"
    # The typed attributes a class adds, as `details` lists them.
    detail_names: ClassVar[tuple[str, ...]] = ()
    # Why, as a short token the rule chose (never the caller's input): "expired", "used", ...
    # The API sends it as the body's "reason". None: the refusal says it all.
    reason: str | None = None
    # Typed attributes the API's error body carries beside detail, code and reason.
    public_details: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.code)

    @property
    def details(self) -> ErrorDetails:
        return ErrorDetails(self)

    def __reduce__(self) -> tuple[object, ...]:
        # Exception's own rebuilds with cls(*args), which misses the keyword-only attributes.
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(kind: type[LoyaltyError], args: tuple[object, ...], state: dict[str, object]) -> LoyaltyError:
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(state)
    return error


class ErrorDetails(MutableMapping[str, object]):
    """An error's typed attributes by name, those a rule set (not None): `details["reason"]`
    reads `error.reason`, and writing one sets the attribute, so the error stays one thing."""

    def __init__(self, error: LoyaltyError) -> None:
        self._error = error

    def __getitem__(self, name: str) -> object:
        value = getattr(self._error, name) if name in self._error.detail_names else None
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: object) -> None:
        if name not in self._error.detail_names:
            raise KeyError(f"{type(self._error).__name__} has no {name!r}")
        setattr(self._error, name, value)

    def __delitem__(self, name: str) -> None:
        self[name]  # a KeyError for what is not there
        setattr(self._error, name, None)

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._error.detail_names if getattr(self._error, name) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self))


class InvalidInput(LoyaltyError):
    """Input a rule refuses. `field`: the request's field it is about ("amount_minor",
    "opening_hours.mon"), when the rule knows it."""

    code = "invalid_input"
    detail_names: ClassVar[tuple[str, ...]] = ("field",)

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidHours(InvalidInput):
    """Opening hours a rule refuses; `reason` says which rule ("time", "order", "overlap",
    "same", "shape"), for a form that words each in the reader's language."""

    def __init__(self, message: str = "", *, field: str | None = None, reason: str = "shape") -> None:
        super().__init__(message, field=field)
        self.reason = reason


class InvalidPhone(InvalidInput):
    code = "invalid_phone"


class InvalidBirthday(InvalidInput):
    """reason in {"format", "impossible", "future", "too_old"}."""

    code = "invalid_birthday"
    detail_names = ("field", "reason")
    reason: str

    def __init__(self, message: str = "", *, reason: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason


class InvalidCity(InvalidInput):
    """reason in {"empty", "too_long", "chars"}."""

    code = "invalid_city"
    detail_names = ("field", "reason")
    reason: str

    def __init__(self, message: str = "", *, reason: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason


class ControlCharacter(InvalidInput):
    """A text with a NUL byte or another control character (loyalty/text.py)."""

    code = "control_character"


class PointsLimitExceeded(InvalidInput):
    """A credit that would take a member's points past what a member may hold
    (loyalty.ledger.MAX_BALANCE). `field`: the request's field that caused it."""

    code = "points_limit_exceeded"


class ConfirmationMismatch(InvalidInput):
    """An action that cannot be undone was not confirmed as asked (the member number typed again)."""

    code = "confirmation_mismatch"


class NoChat(InvalidInput):
    """The member has no chat the bot can write to (enrolled at a till, or they blocked the bot)."""

    code = "no_chat"


class ConsentRequired(LoyaltyError):
    code = "consent_required"


class NotFound(LoyaltyError):
    code = "not_found"


class MemberNotFound(NotFound):
    code = "member_not_found"


class Gone(LoyaltyError):
    """It existed and was removed for good."""

    code = "gone"


class MemberErased(Gone):
    """The member's personal data was erased; the number stays only in the merchant's accounts."""

    code = "member_erased"


class Conflict(LoyaltyError):
    code = "conflict"


class LastOwner(Conflict):
    """The change would leave the program without an owner: nobody could then sign in to the
    console's owner pages or grant access again but an administrator with the CLI."""

    code = "last_owner"


class AlreadyRegistered(Conflict):
    """member_number: the member who has the phone already, when the refusal may name them
    (an enrolment by a till, which may look the phone up anyway)."""

    code = "already_registered"
    detail_names = ("member_number",)
    public_details = ("member_number",)

    def __init__(self, message: str = "", *, member_number: str | None = None) -> None:
        super().__init__(message)
        self.member_number = member_number


class MemberBlocked(Conflict):
    """Staff blocked the member (loyalty/member_care.py): they earn and redeem nothing."""

    code = "member_blocked"


class PhoneTaken(Conflict):
    """The phone belongs to a member who is already linked to another chat."""

    code = "phone_taken"


class ApiKeyExists(Conflict):
    code = "api_key_exists"


class InvalidCurrency(InvalidInput):
    code = "invalid_currency"


class UnknownStore(InvalidInput):
    code = "unknown_store"


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    detail_names = ("needed", "available")

    def __init__(self, message: str = "", *, needed: int, available: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.available = available


class RewardNotFound(NotFound):
    code = "reward_not_found"


class RewardUnavailable(Conflict):
    """reason in {"out_of_stock", "inactive", "tier", "price_changed"}; `tier`, the tier it
    needs, with "tier"."""

    code = "reward_unavailable"
    detail_names = ("reason", "tier")
    reason: str

    def __init__(self, message: str = "", *, reason: str, tier: Tier | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.tier = tier


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"


class RedemptionNotUsable(Conflict):
    """reason in {"used", "cancelled"}."""

    code = "redemption_not_usable"
    detail_names = ("reason",)
    reason: str

    def __init__(self, message: str = "", *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"


class TierNotFound(NotFound):
    code = "tier_not_found"


class RuleNotFound(NotFound):
    code = "rule_not_found"


class IdempotencyConflict(Conflict):
    """The same idempotency key came with a different request. `field`: where the key came
    ("Idempotency-Key"); reason "key_reused" when the key is the request's own (an order id)."""

    code = "idempotency_conflict"
    detail_names = ("reason", "field")

    def __init__(self, message: str = "", *, reason: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field


class LedgerInconsistent(Exception):
    """A member's cached points disagree with the ledger: a bug or a hand edit, never user input.

    Deliberately not a LoyaltyError, so the edges treat it as an internal error (HTTP 500, the
    chat's apology) rather than a refusal."""

    def __init__(self, member_id: int, problems: list[str]) -> None:
        super().__init__(f"ledger of member {member_id} is inconsistent: " + "; ".join(problems))
        self.member_id = member_id
        self.problems = problems


class DuplicateOrder(Conflict):
    code = "duplicate_order"


class DuplicateRefund(Conflict):
    code = "duplicate_refund"


class TierRankTaken(Conflict):
    code = "tier_rank_taken"


class StoreExists(Conflict):
    code = "store_exists"


class StoreNotFound(NotFound):
    code = "store_not_found"


class RewardExists(Conflict):
    code = "reward_exists"


class StoreImportRejected(InvalidInput):
    """A store import with bad rows, nothing written."""

    code = "store_import_rejected"
    detail_names = ("field", "errors")

    def __init__(self, message: str = "", *, errors: Sequence[RowError], field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.errors = errors


class ImportRejected(InvalidInput):
    """A members or adjustments import with bad rows, nothing written."""

    code = "import_rejected"
    detail_names = ("field", "errors")

    def __init__(self, message: str = "", *, errors: Sequence[RowError], field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.errors = errors


class CouponTemplateNotFound(NotFound):
    code = "coupon_template_not_found"


class CouponTemplateExists(Conflict):
    code = "coupon_template_exists"


class CouponUnavailable(Conflict):
    """A coupon cannot be issued. reason in {"inactive", "ended", "sold_out", "tier", "limit"}."""

    code = "coupon_unavailable"
    detail_names = ("reason",)
    reason: str

    def __init__(self, message: str = "", *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class CouponNotFound(NotFound):
    code = "coupon_not_found"


class CouponNotUsable(Conflict):
    """A till cannot redeem a coupon. reason in {"used", "void", "expired", "not_yet_valid",
    "wrong_store", "below_minimum", "other_member"}, with the day it is valid from or until
    (ISO dates) or the minimum spend when that is why."""

    code = "coupon_not_usable"
    detail_names = ("reason", "valid_from", "valid_until", "min_spend_minor")
    reason: str

    def __init__(
        self,
        message: str = "",
        *,
        reason: str,
        valid_from: str | None = None,
        valid_until: str | None = None,
        min_spend_minor: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.valid_from = valid_from
        self.valid_until = valid_until
        self.min_spend_minor = min_spend_minor


class InvalidTag(InvalidInput):
    """A tag that is not 1-32 of a-z 0-9 - _, or too many of them. `field`: "tags" or
    "tags.<index>"."""

    code = "invalid_tag"


class InvalidCampaign(InvalidInput):
    """A campaign that cannot be sent as given. `field` (e.g. "texts.en", "audience",
    "send_at") and `problem`, a token ("empty", "past", "unknown_tier", ...) the front ends
    put in words a merchant can act on."""

    code = "invalid_campaign"
    detail_names = ("field", "problem")
    field: str

    def __init__(self, message: str = "", *, field: str, problem: str) -> None:
        super().__init__(message, field=field)
        self.problem = problem


class InvalidPeriod(InvalidInput):
    """A range of days that cannot be read; `field` names the bad end ("start", "end") and
    `reason` the rule ("order", "future", "long"), for a page that words each in its reader's
    language."""

    code = "invalid_period"

    def __init__(self, message: str = "", *, field: str | None = None, reason: str = "order") -> None:
        super().__init__(message, field=field)
        self.reason = reason


class CampaignNotFound(NotFound):
    code = "campaign_not_found"


class CampaignStateConflict(Conflict):
    """Pause, resume or cancel asked of a campaign in a state that does not allow it.
    reason: the campaign's status."""

    code = "campaign_state"
    detail_names = ("reason",)
    reason: str

    def __init__(self, message: str = "", *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StaffOnly(LoyaltyError):
    """A staff action by someone who is not staff, or a marketer acting on another's campaign."""

    code = "staff_only"


class AdjustmentCapExceeded(Conflict):
    """An API key would adjust more points today than ADJUSTMENT_DAILY_CAP allows: reason
    "daily_cap", with the cap, the points adjusted today and those asked for."""

    code = "adjustment_cap_exceeded"
    detail_names = ("reason", "cap", "used", "requested")
    reason: str

    def __init__(self, message: str = "", *, reason: str, cap: int, used: int, requested: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.cap = cap
        self.used = used
        self.requested = requested


class CardTokenExpired(InvalidInput):
    """A card QR token (loyalty/card_tokens.py) past its expiry: the member shows the card again."""

    code = "qr_expired"


class CardTokenInvalid(InvalidInput):
    """Something shaped like a card QR token that this program did not sign."""

    code = "qr_invalid"
