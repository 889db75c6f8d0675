"""Tables of the bonus code program (migration 0002)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from cagnotte.db.tables import metadata
from cagnotte.db.types import UTCDateTime

bonus_campaigns = Table(
    "bonus_campaigns",
    metadata,
    Column("merchant_id", Uuid, nullable=False),
    Column("id", Uuid, nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("asset_code", String(24), nullable=False),
    Column("bonus_value_minor", BigInteger, nullable=False),
    Column("code_count", Integer, nullable=False),
    Column("funding_required_minor", BigInteger, nullable=False),
    Column("valid_from", UTCDateTime, nullable=False),
    Column("valid_to", UTCDateTime, nullable=False),
    # Where the unused rest goes after expiry: the merchant's business account or a bank.
    Column("rest_destination", String(20), nullable=False),
    Column("bank_account", String(64)),
    Column("variable_symbol", String(10), nullable=False),
    Column("notify_email", String(320)),
    Column("status", String(20), nullable=False),
    Column("escrow_account_id", Uuid, nullable=False),
    Column("requested_by", String(100), nullable=False),
    Column("rest_minor", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    Column("funded_at", UTCDateTime),
    Column("stopped_at", UTCDateTime),
    Column("settled_at", UTCDateTime),
    PrimaryKeyConstraint("merchant_id", "id"),
    ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
    # Unique platform-wide through platform_lookups ('variable_symbol').
    UniqueConstraint("merchant_id", "variable_symbol"),
    CheckConstraint("bonus_value_minor > 0 AND code_count > 0", name="positive"),
    CheckConstraint("valid_from < valid_to", name="validity"),
    CheckConstraint(
        "rest_destination IN ('business_account', 'bank')"
        " AND (rest_destination = 'business_account' OR bank_account IS NOT NULL)",
        name="rest_destination",
    ),
    CheckConstraint(
        "status IN ('awaiting_funding', 'active', 'stopped', 'settled', 'cancelled')",
        name="status",
    ),
)
Index("ix_bonus_campaigns_due", bonus_campaigns.c.status, bonus_campaigns.c.valid_to)

# Codes are looked up by their keyed hash alone (a customer types a code without
# saying whose it is), so this table is keyed by the hash, not by merchant.
bonus_codes = Table(
    "bonus_codes",
    metadata,
    Column("code_hash", LargeBinary(32), primary_key=True),
    # The id of the key code_hash was made under (security/hash_keys.py); NULL for
    # codes hashed before ids were recorded.
    Column("code_key_id", String(16)),
    Column("merchant_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("last_characters", String(4), nullable=False),
    Column("redeemed_at", UTCDateTime),
    Column("redeemed_by", Uuid),
    Column("transfer_id", Uuid),
    ForeignKeyConstraint(
        ["merchant_id", "campaign_id"], ["bonus_campaigns.merchant_id", "bonus_campaigns.id"]
    ),
)
Index("ix_bonus_codes_campaign", bonus_codes.c.merchant_id, bonus_codes.c.campaign_id)

# The plain codes, kept only until the merchant has downloaded them.
bonus_code_exports = Table(
    "bonus_code_exports",
    metadata,
    Column("merchant_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("plain_codes", Text),
    Column("csv_downloaded_at", UTCDateTime),
    Column("xlsx_downloaded_at", UTCDateTime),
    Column("wiped_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "campaign_id"),
)

bank_payments = Table(
    "bank_payments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("asset_code", String(24), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("variable_symbol", String(10)),
    Column("received_at", UTCDateTime, nullable=False),
    Column("note", String(500)),
    Column("status", String(16), nullable=False),
    Column("merchant_id", Uuid),
    Column("campaign_id", Uuid),
    Column("to_campaign_minor", BigInteger, nullable=False),
    Column("to_business_minor", BigInteger, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("amount_minor > 0", name="positive"),
    CheckConstraint("status IN ('matched', 'unmatched', 'assigned')", name="status"),
)
Index("ix_bank_payments_status", bank_payments.c.status, bank_payments.c.created_at)

bonus_payouts = Table(
    "bonus_payouts",
    metadata,
    Column("merchant_id", Uuid, nullable=False),
    Column("id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("asset_code", String(24), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("bank_account", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime),
    Column("paid_by", String(100)),
    PrimaryKeyConstraint("merchant_id", "id"),
    CheckConstraint("status IN ('pending', 'paid')", name="status"),
)
Index("ix_bonus_payouts_status", bonus_payouts.c.status)

# The attempts' log (lockouts.py): a record, which no limit is counted from since
# the attempt limiter (security/attempts.py, attempt_limits) counts bonus codes.
bonus_attempts = Table(
    "bonus_attempts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, nullable=False),
    Column("client_address", String(64), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_bonus_attempts_customer", bonus_attempts.c.customer_id, bonus_attempts.c.created_at)
Index("ix_bonus_attempts_address", bonus_attempts.c.client_address, bonus_attempts.c.created_at)

# Unused since bonus code lockouts moved to the attempt limiter (attempt_limits):
# kept, because a shipped migration is never edited (a later one may drop it).
bonus_lockouts = Table(
    "bonus_lockouts",
    metadata,
    Column("customer_id", Uuid, primary_key=True),
    Column("locked_until", UTCDateTime, nullable=False),
)
