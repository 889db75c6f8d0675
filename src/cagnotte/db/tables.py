"""The schema. Merchant-owned tables put merchant_id first in their keys, so the
schema can later be distributed by merchant (e.g. on Citus)."""

from __future__ import annotations

import uuid

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
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from cagnotte.db.types import UTCDateTime

# The platform (the operator) is a tenant like the others: its accounts, keys and
# journal entries carry this merchant_id.
PLATFORM_MERCHANT_ID = uuid.UUID(int=0)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def merchant_id_column() -> Column:
    """The merchant_id every merchant-owned table starts with (a tenant never goes away)."""
    return Column(
        "merchant_id", Uuid, ForeignKey("merchants.id", ondelete="RESTRICT"), nullable=False
    )


def created_at_column() -> Column:
    return Column("created_at", UTCDateTime, nullable=False)


merchants = Table(
    "merchants",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("head_office_email", String(320)),
    created_at_column(),
    # Where the merchant is (i18n.py): the region its customers' phones are read in,
    # the locale its mails and pages are written in, the zone its days begin in.
    Column("country", String(2), nullable=False, server_default=text("'CZ'")),
    Column("locale", String(35), nullable=False, server_default=text("'cs_CZ'")),
    Column("time_zone", String(64), nullable=False, server_default=text("'Europe/Prague'")),
    # The birthday message (crm/birthday_messages.py): on or off, and the merchant's
    # templates (null: the default one).
    Column("birthday_message_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("birthday_message_subject", String(500)),
    Column("birthday_message_body", Text),
    CheckConstraint("status IN ('active', 'suspended')", name="status"),
)

stores = Table(
    "stores",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("name", String(200), nullable=False),
    Column("address", String(500)),
    Column("manager_email", String(320)),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
)

terminals = Table(
    "terminals",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("store_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
    ForeignKeyConstraint(["merchant_id", "store_id"], ["stores.merchant_id", "stores.id"]),
    CheckConstraint("kind IN ('register', 'kiosk', 'e_store')", name="kind"),
)

staff = Table(
    "staff",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(200)),
    # Unused since failed sign-ins are counted by the attempt limiter (security/attempts.py,
    # scope staff_sign_in): kept, as a shipped migration is never edited.
    Column("failed_sign_ins", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", UTCDateTime),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
    # Staff sign in with their e-mail alone, so it names one person platform-wide:
    # that is held by platform_lookups ('staff_email'); here it is unique per merchant.
    UniqueConstraint("merchant_id", "email"),
    CheckConstraint("role IN ('owner', 'manager', 'cashier')", name="role"),
)

api_keys = Table(
    "api_keys",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("store_id", Uuid),
    Column("terminal_id", Uuid),
    Column("key_prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False),
    created_at_column(),
    Column("revoked_at", UTCDateTime),
    PrimaryKeyConstraint("merchant_id", "id"),
    # A key is found by its hash alone through platform_lookups ('api_key').
    UniqueConstraint("merchant_id", "key_hash"),
    CheckConstraint("role IN ('operator', 'owner', 'manager', 'cashier', 'reseller')", name="role"),
)

assets = Table(
    "assets",
    metadata,
    Column("code", String(24), primary_key=True),
    Column("scale", Integer, nullable=False),
    Column("name", String(100), nullable=False),
    # NULL for currencies every merchant may use; a merchant's own unit otherwise.
    Column("merchant_id", Uuid, ForeignKey("merchants.id")),
    created_at_column(),
    CheckConstraint("scale BETWEEN 0 AND 8", name="scale"),
)

accounts = Table(
    "accounts",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("asset_code", String(24), ForeignKey("assets.code"), nullable=False),
    Column("owner_type", String(16), nullable=False),
    Column("owner_id", Uuid, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("debits_must_not_exceed_credits", Boolean, nullable=False),
    Column("credits_must_not_exceed_debits", Boolean, nullable=False),
    Column("uses_lots", Boolean, nullable=False),
    # A hot account (a merchant's settlement account, credited by every payment)
    # spreads its counters over several rows so that concurrent transfers do not
    # queue on one row lock. Only accounts without a balance limit may do so.
    Column("balance_shards", Integer, nullable=False, server_default=text("1")),
    Column("frozen", Boolean, nullable=False, server_default=text("false")),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
    UniqueConstraint("merchant_id", "owner_type", "owner_id", "purpose", "asset_code"),
    CheckConstraint(
        "NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)",
        name="one_limit",
    ),
    CheckConstraint(
        "balance_shards BETWEEN 1 AND 64 AND (balance_shards = 1 OR NOT"
        " (debits_must_not_exceed_credits OR credits_must_not_exceed_debits))",
        name="shards",
    ),
)
Index("ix_accounts_id", accounts.c.id)

account_balances = Table(
    "account_balances",
    metadata,
    Column("merchant_id", Uuid, nullable=False),
    Column("account_id", Uuid, nullable=False),
    Column("shard", Integer, nullable=False),
    Column("debits_posted", BigInteger, nullable=False, server_default=text("0")),
    Column("credits_posted", BigInteger, nullable=False, server_default=text("0")),
    Column("debits_pending", BigInteger, nullable=False, server_default=text("0")),
    Column("credits_pending", BigInteger, nullable=False, server_default=text("0")),
    # Copies of the account's flags, so that a CHECK can guard the limit.
    Column("debits_must_not_exceed_credits", Boolean, nullable=False),
    Column("credits_must_not_exceed_debits", Boolean, nullable=False),
    PrimaryKeyConstraint("merchant_id", "account_id", "shard"),
    ForeignKeyConstraint(["merchant_id", "account_id"], ["accounts.merchant_id", "accounts.id"]),
    CheckConstraint(
        "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0"
        " AND credits_pending >= 0",
        name="non_negative",
    ),
    CheckConstraint(
        "NOT debits_must_not_exceed_credits OR debits_posted + debits_pending <= credits_posted",
        name="debits_limit",
    ),
    CheckConstraint(
        "NOT credits_must_not_exceed_debits OR credits_posted + credits_pending <= debits_posted",
        name="credits_limit",
    ),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64)),
    Column("kind", String(40), nullable=False),
    Column("memo", Text),
    Column("result", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
    UniqueConstraint("merchant_id", "idempotency_key"),
)

# One row per Idempotency-Key of a merchant: the request's hash and what it
# answered. A command claims its key by inserting this row in the transaction that
# does the work, so a concurrent retry waits on the key and then replays the
# answer; a request that wrote no journal entry (an activation without a load, a
# quote) replays like one that did. A ledger entry posted with its own key (the
# register's one-statement payment) stores no answer: its entry's result is it.
idempotency_records = Table(
    "idempotency_records",
    metadata,
    merchant_id_column(),
    Column("key", String(200), nullable=False),
    Column("operation", String(60), nullable=False),
    Column("request_hash", String(64)),
    Column("entry_id", Uuid),
    Column("answer", JSON().with_variant(JSONB(), "postgresql")),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "key"),
)

transfers = Table(
    "transfers",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("entry_id", Uuid, nullable=False),
    Column("debit_account_id", Uuid, nullable=False),
    Column("credit_account_id", Uuid, nullable=False),
    Column("debit_shard", Integer, nullable=False),
    Column("credit_shard", Integer, nullable=False),
    Column("asset_code", String(24), nullable=False),
    Column("amount", BigInteger, nullable=False),
    # What kind of movement: a plain one, a hold, or the end of a hold.
    Column("kind", String(16), nullable=False),
    Column("code", String(40), nullable=False),
    Column("reference", String(200)),
    # For a hold: when it lapses.
    Column("expires_at", UTCDateTime),
    # For the end of a hold (post, void, expire): the hold it ends.
    Column("pending_id", Uuid),
    # For a correcting transfer: the transfer it reverses (in full or in part).
    Column("reverses_id", Uuid),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
    # The entry row is written last, with its result, so the check waits for the commit.
    ForeignKeyConstraint(
        ["merchant_id", "entry_id"],
        ["journal_entries.merchant_id", "journal_entries.id"],
        deferrable=True,
        initially="DEFERRED",
    ),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
    CheckConstraint("kind IN ('regular', 'pending', 'post', 'void', 'expire')", name="kind"),
    CheckConstraint(
        "(kind IN ('post', 'void', 'expire')) = (pending_id IS NOT NULL)", name="pending_link"
    ),
)
# A hold ends once: posted, voided or expired.
Index(
    "uq_transfers_pending_id",
    transfers.c.merchant_id,
    transfers.c.pending_id,
    unique=True,
    sqlite_where=transfers.c.pending_id.isnot(None),
    postgresql_where=transfers.c.pending_id.isnot(None),
)
Index("ix_transfers_debit_account", transfers.c.debit_account_id, transfers.c.created_at)
Index("ix_transfers_credit_account", transfers.c.credit_account_id, transfers.c.created_at)
Index("ix_transfers_reverses_id", transfers.c.merchant_id, transfers.c.reverses_id)
Index(
    "ix_transfers_open_holds",
    transfers.c.expires_at,
    sqlite_where=transfers.c.kind == "pending",
    postgresql_where=transfers.c.kind == "pending",
)

lots = Table(
    "lots",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("account_id", Uuid, nullable=False),
    Column("transfer_id", Uuid, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("expires_at", UTCDateTime),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
    CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining"),
)
Index("ix_lots_account", lots.c.merchant_id, lots.c.account_id, lots.c.expires_at)
Index(
    "ix_lots_expiring",
    lots.c.expires_at,
    sqlite_where=lots.c.remaining > 0,
    postgresql_where=lots.c.remaining > 0,
)

customers = Table(
    "customers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("phone", String(20)),
    Column("email", String(320)),
    # A platform-wide status: a blocked customer may use no platform feature.
    Column("status", String(16), nullable=False, server_default=text("'active'")),
    created_at_column(),
    # When its personal data were erased (crm/privacy.py): the row stays, a pseudonym.
    Column("erased_at", UTCDateTime),
    UniqueConstraint("phone"),
    UniqueConstraint("email"),
    CheckConstraint("phone IS NOT NULL OR email IS NOT NULL", name="contact"),
    CheckConstraint("status IN ('active', 'blocked')", name="status"),
)

memberships = Table(
    "memberships",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("customer_id", Uuid, ForeignKey("customers.id"), nullable=False),
    # The phone this merchant was given (the identity's may come from another merchant).
    Column("phone", String(20)),
    Column("status", String(16), nullable=False),
    Column("first_name", String(100)),
    Column("last_name", String(100)),
    Column("email", String(320)),
    Column("birth_date", Date),
    Column("address", String(500)),
    Column("consent_marketing_email", Boolean, nullable=False, server_default=text("false")),
    Column("consent_marketing_sms", Boolean, nullable=False, server_default=text("false")),
    # Phone canvassing only for those who asked to be called back (crm/consents.py).
    Column("consent_phone_callback", Boolean, nullable=False, server_default=text("false")),
    Column("consent_terms_at", UTCDateTime),
    Column("last_visit_at", UTCDateTime),
    # "first last" folded (crm/names.py: no case, no accents), the directory searches it.
    Column("search_name", String(210), nullable=False, server_default=text("''")),
    created_at_column(),
    Column("updated_at", UTCDateTime, nullable=False),
    # When its personal data were erased: its id goes on naming its accounts and checks.
    Column("erased_at", UTCDateTime),
    # The information notice given at enrolment (crm/notices.py): when, and which version.
    Column("notice_given_at", UTCDateTime),
    Column("notice_version", Integer),
    PrimaryKeyConstraint("merchant_id", "id"),
    UniqueConstraint("merchant_id", "customer_id"),
    CheckConstraint("status IN ('active', 'blocked')", name="status"),
)
# The directory's search (crm/service.py), in its order (name, then id) within a
# merchant: a page is a walk of the first index, which holds the phone too so that a
# fragment of a number is checked on the index; a whole number is looked up in the
# second, already in order. On PostgreSQL trigram indexes find the fragments
# (POSTGRESQL_ONLY_INDEXES in db/schema.py).
Index(
    "ix_memberships_search_name",
    memberships.c.merchant_id,
    memberships.c.search_name,
    memberships.c.id,
    memberships.c.phone,
)
Index(
    "ix_memberships_phone",
    memberships.c.merchant_id,
    memberships.c.phone,
    memberships.c.search_name,
    memberships.c.id,
)

one_time_codes = Table(
    "one_time_codes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("code_hash", String(64), nullable=False),
    # Unused since wrong codes are counted per e-mail by the attempt limiter
    # (security/attempts.py): kept, as a shipped migration is never edited.
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    created_at_column(),
)
Index("ix_one_time_codes_email", one_time_codes.c.email, one_time_codes.c.created_at)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("subject_id", Uuid, nullable=False),
    Column("merchant_id", Uuid),
    Column("expires_at", UTCDateTime, nullable=False),
    created_at_column(),
    CheckConstraint("kind IN ('customer', 'staff')", name="kind"),
)

audit_log = Table(
    "audit_log",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(60), nullable=False),
    Column("subject_id", Uuid),
    Column("details", JSON, nullable=False),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
)
Index("ix_audit_log_created", audit_log.c.merchant_id, audit_log.c.created_at)

# Secrets the platform makes for itself on first use (e.g. the key of the keyed
# hashes of bonus codes), so that a restart does not change them.
# A POS invoice number serves once per merchant, across checks and gift card
# operations (one mechanism): claimed here in the unit of work that uses it.
invoice_numbers = Table(
    "invoice_numbers",
    metadata,
    merchant_id_column(),
    Column("number", String(64), nullable=False),
    Column("used_by", String(24), nullable=False),
    Column("used_by_id", Uuid, nullable=False),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "number"),
)

# What must be unique across the platform and found without knowing the merchant
# (a staff member's e-mail at sign-in, an API key's hash, a bonus code's hash …)
# is claimed here, in the transaction that creates the merchant's row, and points
# to that row. Every merchant-owned table keeps unique constraints that include
# merchant_id, so the tables can be distributed by merchant (this one is small and
# can be a reference table).
platform_lookups = Table(
    "platform_lookups",
    metadata,
    Column("kind", String(24), nullable=False),
    Column("value", String(200), nullable=False),
    Column("merchant_id", Uuid, nullable=False),
    Column("row_id", Uuid, nullable=False),
    created_at_column(),
    PrimaryKeyConstraint("kind", "value"),
)

platform_keys = Table(
    "platform_keys",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("secret", String(200), nullable=False),
    created_at_column(),
)

# Which process runs a scheduled job now, and until when at most (SQLite only:
# PostgreSQL uses advisory locks, db/job_locks.py).
job_locks = Table(
    "job_locks",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("lease_ends_at", UTCDateTime, nullable=False),
)
