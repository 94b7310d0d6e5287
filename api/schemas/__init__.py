"""What the API accepts and returns, one module per resource: `*Create` / `*Update` for input,
`*Public` for output."""

from api.schemas.common import ErrorPublic, HealthPublic, OkPublic
from api.schemas.members import CONSENT_REQUIRED, Locale, MemberCreate, MemberPublic, MembersPublic
from api.schemas.program import (
    EarningRuleCreate,
    EarningRulePublic,
    EarningRulesPublic,
    EarningRuleUpdate,
    StoreCreate,
    StorePublic,
    StoresPublic,
    TierPublic,
    TiersPublic,
    TierUpsert,
)
from api.schemas.rewards import (
    RedemptionPublic,
    RedemptionUse,
    RewardCreate,
    RewardPublic,
    RewardsPublic,
    RewardUpdate,
)

__all__ = [
    "CONSENT_REQUIRED",
    "ErrorPublic",
    "HealthPublic",
    "Locale",
    "MemberCreate",
    "MemberPublic",
    "MembersPublic",
    "OkPublic",
    "EarningRuleCreate",
    "EarningRulePublic",
    "EarningRulesPublic",
    "EarningRuleUpdate",
    "StoreCreate",
    "StorePublic",
    "StoresPublic",
    "TierPublic",
    "TiersPublic",
    "TierUpsert",
    "RedemptionPublic",
    "RedemptionUse",
    "RewardCreate",
    "RewardPublic",
    "RewardsPublic",
    "RewardUpdate",
]
