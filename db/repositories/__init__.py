"""Data access for the rules in `loyalty/`, one module per area."""

from db.repositories.apikeys import ApiKeyRepository
from db.repositories.audit import AuditLog
from db.repositories.campaign_effect import CampaignEffectRepository
from db.repositories.campaign_outbox import CampaignOutboxRepository
from db.repositories.campaigns import CampaignRepository
from db.repositories.console import ConsoleRepository
from db.repositories.coupons import CouponRepository
from db.repositories.evaluation import EvaluationRepository
from db.repositories.idempotency import IdempotencyRepository
from db.repositories.kpis import KpiRepository
from db.repositories.ledger import LedgerRepository
from db.repositories.members import MemberRepository
from db.repositories.notifications import NotificationRepository
from db.repositories.nudges import NudgeRepository
from db.repositories.personal_data import PersonalDataRepository
from db.repositories.program import ProgramRepository
from db.repositories.purchases import PurchaseRepository
from db.repositories.referrals import ReferralRepository
from db.repositories.rewards import RewardRepository
from db.repositories.secret_keys import SecretKeyRepository
from db.repositories.staff import StaffRepository

__all__ = [
    "ApiKeyRepository",
    "AuditLog",
    "CampaignEffectRepository",
    "CampaignOutboxRepository",
    "CampaignRepository",
    "ConsoleRepository",
    "CouponRepository",
    "EvaluationRepository",
    "IdempotencyRepository",
    "KpiRepository",
    "LedgerRepository",
    "MemberRepository",
    "NotificationRepository",
    "NudgeRepository",
    "PersonalDataRepository",
    "ProgramRepository",
    "PurchaseRepository",
    "ReferralRepository",
    "RewardRepository",
    "SecretKeyRepository",
    "StaffRepository",
]
