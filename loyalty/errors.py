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


class ControlCharacter(InvalidInput):
    """A text with a NUL byte or another control character (loyalty/text.py). details: field."""

    code = "control_character"


class PointsLimitExceeded(InvalidInput):
    """A credit that would take a member's points past what a member may hold
    (loyalty.ledger.MAX_BALANCE). details: field, the request's field that caused it."""

    code = "points_limit_exceeded"


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


class AlreadyRegistered(Conflict):
    code = "already_registered"


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
    """details: needed, available."""

    code = "insufficient_points"


class RewardNotFound(NotFound):
    code = "reward_not_found"


class RewardUnavailable(Conflict):
    """details: reason in {"out_of_stock", "inactive", "tier"}."""

    code = "reward_unavailable"


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"


class RedemptionNotUsable(Conflict):
    """details: reason in {"used", "cancelled"}."""

    code = "redemption_not_usable"


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"


class TierNotFound(NotFound):
    code = "tier_not_found"


class RuleNotFound(NotFound):
    code = "rule_not_found"


class IdempotencyConflict(Conflict):
    """The same idempotency key came with a different request."""

    code = "idempotency_conflict"


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
    """A store import with bad rows, nothing written. details: errors, a list of RowError."""

    code = "store_import_rejected"


class CouponTemplateNotFound(NotFound):
    code = "coupon_template_not_found"


class CouponTemplateExists(Conflict):
    code = "coupon_template_exists"


class CouponUnavailable(Conflict):
    """A coupon cannot be issued. details: reason in {"inactive", "ended", "sold_out", "tier",
    "limit"}."""

    code = "coupon_unavailable"


class CouponNotFound(NotFound):
    code = "coupon_not_found"


class CouponNotUsable(Conflict):
    """A till cannot redeem a coupon. details: reason in {"used", "void", "expired",
    "not_yet_valid", "wrong_store", "below_minimum", "other_member"}."""

    code = "coupon_not_usable"


class InvalidTag(InvalidInput):
    """A tag that is not 1-32 of a-z 0-9 - _, or too many of them. details: field ("tags" or
    "tags.<index>")."""

    code = "invalid_tag"


class InvalidCampaign(InvalidInput):
    """A campaign that cannot be sent as given. details: field (e.g. "texts.en", "audience",
    "send_at") and problem, in words a merchant can act on."""

    code = "invalid_campaign"


class CampaignNotFound(NotFound):
    code = "campaign_not_found"


class CampaignStateConflict(Conflict):
    """Pause, resume or cancel asked of a campaign in a state that does not allow it.
    details: reason = the campaign's status."""

    code = "campaign_state"


class StaffOnly(LoyaltyError):
    """A staff action by someone who is not staff, or a marketer acting on another's campaign."""

    code = "staff_only"


class AdjustmentCapExceeded(Conflict):
    """An API key would adjust more points today than ADJUSTMENT_DAILY_CAP allows.
    details: reason ("daily_cap"), cap, used, requested."""

    code = "adjustment_cap_exceeded"
