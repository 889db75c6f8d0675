"""Gift card tables: programs, batches, cards, operations, alerts, resellers.

Balances are not here: a card's value is the balance of its ledger account
(owner_type 'gift_card', purpose 'gift_card'). These tables hold what the
ledger does not: card states, PIN hashes, limits, and the operation log that
daily limits, alerts and reports read.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
    Text,
    UniqueConstraint,
    Uuid,
)

from cagnotte.db.tables import created_at_column, merchant_id_column, metadata
from cagnotte.db.types import UTCDateTime

gift_card_programs = Table(
    "gift_card_programs",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("name", String(200), nullable=False),
    Column("asset_code", String(24), ForeignKey("assets.code"), nullable=False),
    Column("status", String(16), nullable=False),
    # Card numbers: `number_length` digits, starting with `number_prefix`, the last
    # one a Luhn check digit when `number_luhn`.
    Column("number_length", Integer, nullable=False),
    Column("number_prefix", String(12), nullable=False),
    Column("number_luhn", Boolean, nullable=False),
    Column("pin_required", Boolean, nullable=False),
    Column("pin_length", Integer, nullable=False),
    Column("reloadable", Boolean, nullable=False),
    Column("load_min_minor", BigInteger, nullable=False),
    Column("load_max_minor", BigInteger, nullable=False),
    Column("balance_max_minor", BigInteger, nullable=False),
    # NULL: cards never expire; else what is left goes to breakage N months after activation.
    Column("expiry_months", Integer),
    Column("pin_attempts_max", Integer, nullable=False),
    Column("pin_lockout_minutes", Integer, nullable=False),
    Column("invoice_required", Boolean, nullable=False),
    # Controls; NULL means no limit.
    Column("loads_per_card_per_day_max", Integer),
    Column("spends_per_card_per_day_max", Integer),
    Column("load_amount_per_card_per_day_max_minor", BigInteger),
    Column("spend_amount_per_card_per_day_max_minor", BigInteger),
    Column("operation_amount_max_minor", BigInteger),
    Column("authorisation_minutes", Integer, nullable=False),
    # Credited once per member and program when a registered member's profile is complete.
    Column("profile_bonus_minor", BigInteger, nullable=False),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
    CheckConstraint("status IN ('active', 'retired')", name="status"),
    CheckConstraint("number_length BETWEEN 12 AND 19", name="number_length"),
    CheckConstraint("pin_length BETWEEN 4 AND 8", name="pin_length"),
    CheckConstraint(
        "load_min_minor > 0 AND load_min_minor <= load_max_minor"
        " AND load_max_minor <= balance_max_minor",
        name="load_range",
    ),
    CheckConstraint("expiry_months IS NULL OR expiry_months BETWEEN 1 AND 120", name="expiry"),
    CheckConstraint("pin_attempts_max >= 1 AND pin_lockout_minutes >= 1", name="lockout"),
    CheckConstraint("profile_bonus_minor >= 0", name="profile_bonus"),
)

gift_card_batches = Table(
    "gift_card_batches",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("program_id", Uuid, nullable=False),
    Column("card_count", Integer, nullable=False),
    Column("note", String(200)),
    Column("exported_at", UTCDateTime),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
    ForeignKeyConstraint(
        ["merchant_id", "program_id"],
        ["gift_card_programs.merchant_id", "gift_card_programs.id"],
    ),
    CheckConstraint("card_count > 0", name="card_count"),
)

gift_cards = Table(
    "gift_cards",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("program_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    # HMAC-SHA256 of the number under the server's key: lookup without keeping the number.
    Column("number_hash", String(64), nullable=False),
    # The id of the key number_hash was made under (security/hash_keys.py); NULL
    # for cards hashed before ids were recorded.
    Column("number_key_id", String(16)),
    Column("number_last4", String(4), nullable=False),
    # HMAC-SHA256 of number and PIN under the PIN key (programs/gift_cards/pins.py),
    # or, for a card not checked since, the argon2 hash it was issued with.
    Column("pin_hash", String(200)),
    # The id of the PIN key pin_hash was made under; NULL for an argon2 hash.
    Column("pin_key_id", String(16)),
    # Unused since wrong PINs are counted by the attempt limiter (security/attempts.py,
    # scope gift_card_pin): kept, as a shipped migration is never edited; new cards say 0.
    Column("pin_failures", Integer, nullable=False),
    Column("locked_until", UTCDateTime),
    Column("account_id", Uuid, nullable=False),
    Column("batch_id", Uuid),
    Column("batch_sequence", Integer),
    Column("membership_id", Uuid),
    Column("registered_at", UTCDateTime),
    Column("profile_bonus_at", UTCDateTime),
    Column("recipient_email", String(320)),
    # SHA-256 of the token in the e-card's page address.
    Column("page_token_hash", String(64)),
    # The e-card's number sealed with a key derived from its page token, which is
    # not stored: the page can show the number, the database alone cannot
    # (security.sealing; 100 characters since migration 0013).
    Column("number_sealed", String(100)),
    Column("activated_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("closed_reason", String(16)),
    Column("replaced_by", Uuid),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
    UniqueConstraint("merchant_id", "number_hash"),
    # Unique platform-wide through platform_lookups ('ecard_page').
    UniqueConstraint("merchant_id", "page_token_hash"),
    ForeignKeyConstraint(
        ["merchant_id", "program_id"],
        ["gift_card_programs.merchant_id", "gift_card_programs.id"],
    ),
    CheckConstraint("kind IN ('plastic', 'virtual')", name="kind"),
    CheckConstraint("state IN ('inactive', 'active', 'frozen', 'closed')", name="state"),
    CheckConstraint("pin_failures >= 0", name="pin_failures"),
    CheckConstraint(
        "closed_reason IS NULL OR closed_reason IN ('closed', 'expired', 'transferred')",
        name="closed_reason",
    ),
)
Index(
    "ix_gift_cards_batch",
    gift_cards.c.merchant_id,
    gift_cards.c.batch_id,
    gift_cards.c.batch_sequence,
)
Index("ix_gift_cards_membership", gift_cards.c.merchant_id, gift_cards.c.membership_id)
Index("ix_gift_cards_expiring", gift_cards.c.state, gift_cards.c.expires_at)

# Plain numbers and PINs of a printed batch, kept only until its one export.
gift_card_batch_secrets = Table(
    "gift_card_batch_secrets",
    metadata,
    merchant_id_column(),
    Column("batch_id", Uuid, nullable=False),
    Column("batch_sequence", Integer, nullable=False),
    Column("card_id", Uuid, nullable=False),
    Column("number", String(19), nullable=False),
    Column("pin", String(8)),
    PrimaryKeyConstraint("merchant_id", "batch_id", "batch_sequence"),
)

gift_card_operations = Table(
    "gift_card_operations",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("card_id", Uuid, nullable=False),
    Column("program_id", Uuid, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    # For a spend that took what was there: what was asked.
    Column("requested_minor", BigInteger, nullable=False),
    Column("balance_after_minor", BigInteger, nullable=False),
    Column("entry_id", Uuid),
    # The ledger transfer this operation made (a hold for an authorisation).
    Column("transfer_id", Uuid),
    # For a capture, void or refund: the operation it settles.
    Column("related_id", Uuid),
    Column("store_id", Uuid),
    Column("terminal_id", Uuid),
    Column("reseller_id", Uuid),
    Column("actor", String(100), nullable=False),
    Column("invoice_number", String(64)),
    Column("hold_expires_at", UTCDateTime),
    # The UTC day, kept so that reports group by it the same way on both databases.
    Column("business_date", Date, nullable=False),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
    # A POS invoice number serves one operation per merchant.
    UniqueConstraint("merchant_id", "invoice_number"),
    CheckConstraint(
        "kind IN ('activation', 'load', 'spend', 'authorisation', 'capture', 'void', 'refund',"
        " 'transfer_out', 'transfer_in', 'expiry', 'adjustment', 'profile_bonus')",
        name="kind",
    ),
    CheckConstraint("amount_minor >= 0 AND requested_minor >= 0", name="amounts"),
)
Index(
    "ix_gift_card_operations_card",
    gift_card_operations.c.merchant_id,
    gift_card_operations.c.card_id,
    gift_card_operations.c.created_at,
)
Index(
    "ix_gift_card_operations_entry",
    gift_card_operations.c.merchant_id,
    gift_card_operations.c.entry_id,
)
Index(
    "ix_gift_card_operations_day",
    gift_card_operations.c.merchant_id,
    gift_card_operations.c.business_date,
)

# Balance inquiries and failed look-ups, per terminal: what "many cards checked
# from one terminal" counts.
gift_card_lookups = Table(
    "gift_card_lookups",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("terminal_id", Uuid),
    Column("store_id", Uuid),
    Column("number_hash", String(64), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
)
Index(
    "ix_gift_card_lookups_terminal",
    gift_card_lookups.c.merchant_id,
    gift_card_lookups.c.terminal_id,
    gift_card_lookups.c.created_at,
)

gift_card_alert_rules = Table(
    "gift_card_alert_rules",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("program_id", Uuid),
    Column("threshold_count", Integer),
    Column("threshold_minor", BigInteger),
    Column("window_minutes", Integer),
    Column("notify_head_office", Boolean, nullable=False),
    Column("notify_store_manager", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
    CheckConstraint(
        "kind IN ('wrong_pins', 'large_load', 'large_spend', 'card_velocity',"
        " 'terminal_card_checks', 'balance_transfer', 'manual_adjustment')",
        name="kind",
    ),
)

gift_card_alerts = Table(
    "gift_card_alerts",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("rule_id", Uuid, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("card_id", Uuid),
    Column("store_id", Uuid),
    Column("terminal_id", Uuid),
    Column("summary", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("mailed_to", JSON, nullable=False),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
)
Index("ix_gift_card_alerts_created", gift_card_alerts.c.merchant_id, gift_card_alerts.c.created_at)

gift_card_resellers = Table(
    "gift_card_resellers",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(320)),
    Column("api_key_id", Uuid, nullable=False),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
    UniqueConstraint("api_key_id"),
)

gift_card_reseller_programs = Table(
    "gift_card_reseller_programs",
    metadata,
    merchant_id_column(),
    Column("reseller_id", Uuid, nullable=False),
    Column("program_id", Uuid, nullable=False),
    PrimaryKeyConstraint("merchant_id", "reseller_id", "program_id"),
    ForeignKeyConstraint(
        ["merchant_id", "reseller_id"],
        ["gift_card_resellers.merchant_id", "gift_card_resellers.id"],
    ),
    ForeignKeyConstraint(
        ["merchant_id", "program_id"],
        ["gift_card_programs.merchant_id", "gift_card_programs.id"],
    ),
)
