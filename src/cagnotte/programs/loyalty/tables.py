"""Loyalty tables: programs and their earning rules.

Balances are not here: a member's points, stamps or kitty are the balance of a
ledger account (owner the membership, purpose 'loyalty', the program's asset).
A program's options are kept as one JSON document (parsed into
`program.LoyaltyProgram`, which checks them); the columns beside it are those
that queries filter on.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
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

from cagnotte.db.tables import metadata
from cagnotte.db.types import UTCDateTime

_JSON = JSON().with_variant(JSONB(), "postgresql")

loyalty_programs = Table(
    "loyalty_programs",
    metadata,
    Column("merchant_id", Uuid, ForeignKey("merchants.id", ondelete="RESTRICT"), nullable=False),
    Column("id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("currency", String(24), ForeignKey("assets.code"), nullable=False),
    # The program's own ledger asset (points, stamps), or the currency (a kitty).
    Column("asset_code", String(24), ForeignKey("assets.code"), nullable=False),
    Column("settings", _JSON, nullable=False),
    # When deleted: what became of the members' balances ('kept' or 'expired').
    Column("open_balances", String(16)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime),
    PrimaryKeyConstraint("merchant_id", "id"),
    CheckConstraint("kind IN ('points', 'stamps', 'kitty')", name="kind"),
    CheckConstraint("status IN ('active', 'suspended', 'deleted')", name="status"),
    CheckConstraint(
        "open_balances IS NULL OR open_balances IN ('kept', 'expired')", name="open_balances"
    ),
)
Index("ix_loyalty_programs_status", loyalty_programs.c.merchant_id, loyalty_programs.c.status)

# A merchant's earning rules (promotions) beyond each program's base rate. A rule's
# conditions and benefit are one JSON document for the rules engine; `version`
# counts every change of the merchant's rules, so a compiled index of them can be
# cached and recognised as stale.
loyalty_rules = Table(
    "loyalty_rules",
    metadata,
    Column("merchant_id", Uuid, ForeignKey("merchants.id", ondelete="RESTRICT"), nullable=False),
    Column("id", Uuid, nullable=False),
    Column("program_id", Uuid, nullable=False),
    Column("name", String(200), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("exclusive", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("definition", _JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "id"),
    ForeignKeyConstraint(
        ["merchant_id", "program_id"], ["loyalty_programs.merchant_id", "loyalty_programs.id"]
    ),
)
Index("ix_loyalty_rules_program", loyalty_rules.c.merchant_id, loyalty_rules.c.program_id)

loyalty_rule_versions = Table(
    "loyalty_rule_versions",
    metadata,
    Column("merchant_id", Uuid, ForeignKey("merchants.id", ondelete="RESTRICT"), nullable=False),
    Column("version", BigInteger, nullable=False),
    PrimaryKeyConstraint("merchant_id"),
)

# A promotion's budget: the ledger account its awards are paid from (funded from
# the program's issuance account with `budget_units`), and what was put in it all
# told, so a changed budget moves only the difference.
loyalty_rule_budgets = Table(
    "loyalty_rule_budgets",
    metadata,
    Column("merchant_id", Uuid, ForeignKey("merchants.id", ondelete="RESTRICT"), nullable=False),
    Column("rule_id", Uuid, nullable=False),
    Column("account_id", Uuid, nullable=False),
    Column("funded_units", BigInteger, nullable=False),
    PrimaryKeyConstraint("merchant_id", "rule_id"),
    ForeignKeyConstraint(
        ["merchant_id", "rule_id"], ["loyalty_rules.merchant_id", "loyalty_rules.id"]
    ),
)
