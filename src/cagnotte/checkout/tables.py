"""Recorded checks: the check, its lines, what each contributor did, and its refunds.

Value is not here: what a check earned, spent and paid is in its journal entry
(`entry_id`); `check_effects` names each transfer of it with the contributor,
rule and line it came from, so that a refund can reverse it in proportion.
Checks of customers who are not members are recorded too (for statistics).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

from cagnotte.db.tables import merchant_id_column, metadata
from cagnotte.db.types import UTCDateTime

_JSON = JSON().with_variant(JSONB(), "postgresql")


checks = Table(
    "checks",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("store_id", Uuid, nullable=False),
    Column("terminal_id", Uuid),
    Column("channel", String(24), nullable=False),
    Column("invoice_number", String(64)),
    # NULL: a customer who is not a member (anonymous).
    Column("membership_id", Uuid),
    Column("currency", String(24), ForeignKey("assets.code"), nullable=False),
    # What the lines cost before discounts, the discounts, what points and kitty
    # paid, what wallets and gift cards paid, and what was left to pay otherwise.
    Column("gross_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("loyalty_paid_minor", BigInteger, nullable=False),
    Column("tender_paid_minor", BigInteger, nullable=False),
    Column("due_minor", BigInteger, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    # When the check was made (an offline register's replay keeps its own time).
    Column("occurred_at", UTCDateTime, nullable=False),
    # Its day in the merchant's time zone, fixed at commit (statistics by day).
    Column("occurred_on", Date),
    Column("entry_id", Uuid),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "id"),
    CheckConstraint("status IN ('committed', 'partly_refunded', 'refunded')", name="status"),
    CheckConstraint(
        "gross_minor >= 0 AND discount_minor >= 0 AND loyalty_paid_minor >= 0"
        " AND tender_paid_minor >= 0 AND due_minor >= 0 AND refunded_minor >= 0",
        name="non_negative",
    ),
)
Index("ix_checks_occurred", checks.c.merchant_id, checks.c.occurred_at, checks.c.id)
Index("ix_checks_membership", checks.c.merchant_id, checks.c.membership_id, checks.c.occurred_at)
Index("ix_checks_occurred_on", checks.c.merchant_id, checks.c.occurred_on, checks.c.store_id)

check_lines = Table(
    "check_lines",
    metadata,
    merchant_id_column(),
    Column("check_id", Uuid, nullable=False),
    Column("line_index", Integer, nullable=False),
    Column("sku", String(64), nullable=False),
    # NULL: a SKU the catalogue does not know (uncatalogued).
    Column("product_id", Uuid),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("gross_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("loyalty_paid_minor", BigInteger, nullable=False),
    Column("net_minor", BigInteger, nullable=False),
    Column("refunded_quantity", Integer, nullable=False),
    PrimaryKeyConstraint("merchant_id", "check_id", "line_index"),
    ForeignKeyConstraint(["merchant_id", "check_id"], ["checks.merchant_id", "checks.id"]),
    CheckConstraint("quantity > 0 AND refunded_quantity BETWEEN 0 AND quantity", name="quantity"),
)

check_effects = Table(
    "check_effects",
    metadata,
    merchant_id_column(),
    Column("check_id", Uuid, nullable=False),
    Column("ordinal", Integer, nullable=False),
    # Who did it: 'loyalty', 'wallet', 'gift_card' (later coupons …).
    Column("contributor", String(24), nullable=False),
    # earn, spend, stamps, reward, payment.
    Column("kind", String(16), nullable=False),
    Column("program_id", Uuid),
    Column("rule_id", String(80)),
    Column("asset_code", String(24), nullable=False),
    # Units of the asset moved, and their value in minor units of the check's currency.
    Column("units", BigInteger, nullable=False),
    Column("value_minor", BigInteger, nullable=False),
    Column("transfer_id", Uuid),
    # The lines it was earned on or paid for, with each line's share (JSON list).
    Column("lines", _JSON, nullable=False),
    Column("reason", String(300), nullable=False),
    PrimaryKeyConstraint("merchant_id", "check_id", "ordinal"),
    ForeignKeyConstraint(["merchant_id", "check_id"], ["checks.merchant_id", "checks.id"]),
)

check_refunds = Table(
    "check_refunds",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("check_id", Uuid, nullable=False),
    # The quantities given back, per line index (JSON object).
    Column("lines", _JSON, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("entry_id", Uuid),
    Column("actor", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "id"),
    ForeignKeyConstraint(["merchant_id", "check_id"], ["checks.merchant_id", "checks.id"]),
)
Index("ix_check_refunds_check", check_refunds.c.merchant_id, check_refunds.c.check_id)


def _usage_period() -> list[Column]:
    # A local day ('day', its date) or month ('month', its first day) of the merchant.
    return [Column("period", String(5), nullable=False), Column("starts_on", Date, nullable=False)]


# What each capped promotion already gave each member in a day and a month: the
# counters its per-customer caps are checked against, kept by the commit under
# the member's lock (checkout/usage.py); a refund takes back its part.
loyalty_rule_usage = Table(
    "loyalty_rule_usage",
    metadata,
    merchant_id_column(),
    Column("membership_id", Uuid, nullable=False),
    Column("rule_id", Uuid, nullable=False),
    *_usage_period(),
    Column("amount", BigInteger, nullable=False),
    Column("times", Integer, nullable=False),
    PrimaryKeyConstraint("merchant_id", "membership_id", "rule_id", "period", "starts_on"),
    CheckConstraint("period IN ('day', 'month')", name="period"),
)

# Units of each product that earned under a promotion with a limit on goods.
loyalty_goods_usage = Table(
    "loyalty_goods_usage",
    metadata,
    merchant_id_column(),
    Column("membership_id", Uuid, nullable=False),
    Column("rule_id", Uuid, nullable=False),
    Column("product_id", Uuid, nullable=False),
    *_usage_period(),
    Column("quantity", BigInteger, nullable=False),
    PrimaryKeyConstraint(
        "merchant_id", "membership_id", "rule_id", "product_id", "period", "starts_on"
    ),
    CheckConstraint("period IN ('day', 'month')", name="period"),
)

# Points and kitty a check earned in a program with a return window: held (a
# ledger pending transfer) until `available_at`, then posted by the job
# (checkout/pending.py); a refund within the window voids its part. One row per
# earn transfer of the check (`transfer_id`, the effects' name for it); `hold_id`
# is the hold open now (a partial refund voids the hold and holds the rest anew).
loyalty_pending_earnings = Table(
    "loyalty_pending_earnings",
    metadata,
    merchant_id_column(),
    Column("transfer_id", Uuid, nullable=False),
    Column("check_id", Uuid, nullable=False),
    Column("membership_id", Uuid, nullable=False),
    Column("program_id", Uuid, nullable=False),
    Column("hold_id", Uuid, nullable=False),
    # What the hold open now keeps (0 once voided in full).
    Column("units", BigInteger, nullable=False),
    Column("available_at", UTCDateTime, nullable=False),
    # Temporary points: when the lot the post credits expires.
    Column("lot_expires_at", UTCDateTime),
    Column("status", String(10), nullable=False),
    Column("posted_transfer_id", Uuid),
    Column("resolved_at", UTCDateTime),
    PrimaryKeyConstraint("merchant_id", "transfer_id"),
    ForeignKeyConstraint(["merchant_id", "check_id"], ["checks.merchant_id", "checks.id"]),
    CheckConstraint("status IN ('pending', 'posted', 'voided')", name="status"),
    CheckConstraint("units >= 0", name="units_not_negative"),
)
Index(
    "ix_loyalty_pending_earnings_due",
    loyalty_pending_earnings.c.status,
    loyalty_pending_earnings.c.available_at,
)
Index(
    "ix_loyalty_pending_earnings_member",
    loyalty_pending_earnings.c.merchant_id,
    loyalty_pending_earnings.c.membership_id,
    loyalty_pending_earnings.c.status,
)

# What each member spent in a program that has tiers, per local month of the
# merchant: the tier's qualifying spend (a rolling 12 months or a calendar year
# is a sum of months), counted by the commit under the member's row lock and
# taken back by a refund (checkout/usage.py).
loyalty_member_spend = Table(
    "loyalty_member_spend",
    metadata,
    merchant_id_column(),
    Column("membership_id", Uuid, nullable=False),
    Column("program_id", Uuid, nullable=False),
    # The first day of the local month.
    Column("starts_on", Date, nullable=False),
    Column("spend_minor", BigInteger, nullable=False),
    PrimaryKeyConstraint("merchant_id", "membership_id", "program_id", "starts_on"),
    CheckConstraint("spend_minor >= 0", name="spend_not_negative"),
)

# A birthday rule's credit, once per member, program and year: the row is the
# job's idempotency (its key names the transfer too, birthday:{program}:{member}:{year}).
loyalty_birthday_credits = Table(
    "loyalty_birthday_credits",
    metadata,
    merchant_id_column(),
    Column("program_id", Uuid, nullable=False),
    Column("membership_id", Uuid, nullable=False),
    Column("year", Integer, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("transfer_id", Uuid, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "program_id", "membership_id", "year"),
)

# Open credits (avoirs): a reward a check issued for later — a purchase voucher,
# a discount on the next purchase, loyalty credit — and what became of it
# (checkout/credits.py). A money-valued one (voucher, credit) is also a balance
# of the member's credit account (`account_id`): the issue, each use, the
# expiry and a void are ledger transfers, and `remaining_minor` says how much of
# that balance is this credit's. A next-purchase discount has no value until a
# check uses it (`reward`, `reward_value`: the stamp card's reward).
loyalty_credits = Table(
    "loyalty_credits",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("membership_id", Uuid, nullable=False),
    Column("program_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("currency", String(24), ForeignKey("assets.code"), nullable=False),
    # next_purchase: the card's reward (free_item, fixed_discount, percent_discount).
    Column("reward", String(20)),
    # Minor units (voucher, credit, a fixed discount) or basis points (a percentage).
    Column("reward_value", BigInteger, nullable=False),
    Column("remaining_minor", BigInteger, nullable=False),
    Column("account_id", Uuid),
    Column("issue_transfer_id", Uuid),
    Column("issuing_check_id", Uuid, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("state", String(10), nullable=False),
    # The check that used it last, and what all its uses gave (minor units).
    Column("using_check_id", Uuid),
    Column("used_at", UTCDateTime),
    Column("used_value_minor", BigInteger, nullable=False),
    Column("resolved_at", UTCDateTime),
    PrimaryKeyConstraint("merchant_id", "id"),
    ForeignKeyConstraint(["merchant_id", "issuing_check_id"], ["checks.merchant_id", "checks.id"]),
    CheckConstraint("kind IN ('voucher', 'next_purchase', 'credit')", name="kind"),
    CheckConstraint("state IN ('open', 'used', 'expired', 'voided')", name="state"),
    CheckConstraint(
        "remaining_minor >= 0 AND used_value_minor >= 0 AND reward_value >= 0",
        name="non_negative",
    ),
)
Index(
    "ix_loyalty_credits_member",
    loyalty_credits.c.merchant_id,
    loyalty_credits.c.membership_id,
    loyalty_credits.c.state,
    loyalty_credits.c.expires_at,
)
Index("ix_loyalty_credits_due", loyalty_credits.c.state, loyalty_credits.c.expires_at)
Index(
    "ix_loyalty_credits_issuing_check",
    loyalty_credits.c.merchant_id,
    loyalty_credits.c.issuing_check_id,
)
