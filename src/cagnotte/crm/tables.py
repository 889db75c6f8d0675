"""The customer directory's own tables (memberships and identities are in db/tables.py)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

from cagnotte.db.tables import merchant_id_column, metadata
from cagnotte.db.types import UTCDateTime

# Every change of a member's consent to marketing, per channel: the proof of
# what was agreed to, when, where and on which text (crm/consents.py). Appended
# only; the membership's flags hold the current state.
consent_events = Table(
    "consent_events",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("membership_id", Uuid, nullable=False),
    Column("channel", String(8), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("source", String(20), nullable=False),
    Column("text_version", String(40)),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "id"),
    ForeignKeyConstraint(
        ["merchant_id", "membership_id"], ["memberships.merchant_id", "memberships.id"]
    ),
    CheckConstraint("channel IN ('email', 'sms', 'phone')", name="channel"),
    CheckConstraint(
        "source IN ('register', 'customer_page', 'import', 'back_office', 'api',"
        " 'unsubscribe_link')",
        name="source",
    ),
)
Index(
    "ix_consent_events_membership",
    consent_events.c.merchant_id,
    consent_events.c.membership_id,
    consent_events.c.created_at,
)

# A merchant's customer segments: a name and filters (crm/segments.py), counted
# live. Deleted ones are kept (a rule or a campaign may still name them).
segments = Table(
    "segments",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("name", String(200), nullable=False),
    Column("definition", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime),
    PrimaryKeyConstraint("merchant_id", "id"),
)
