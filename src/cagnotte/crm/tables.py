"""The customer directory's own tables (memberships and identities are in db/tables.py)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
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

# E-mail campaigns to a segment (crm/campaigns.py) and their recipients, fixed
# when the send begins; a recipient's mail is an outbox message.
campaigns = Table(
    "campaigns",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("name", String(200), nullable=False),
    Column("segment_id", Uuid, nullable=False),
    Column("subject", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("rate_per_hour", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    PrimaryKeyConstraint("merchant_id", "id"),
    ForeignKeyConstraint(["merchant_id", "segment_id"], ["segments.merchant_id", "segments.id"]),
    CheckConstraint("status IN ('draft', 'sending', 'sent')", name="status"),
    CheckConstraint("rate_per_hour > 0", name="rate_positive"),
)
Index("ix_campaigns_status", campaigns.c.status)

campaign_recipients = Table(
    "campaign_recipients",
    metadata,
    merchant_id_column(),
    Column("campaign_id", Uuid, nullable=False),
    Column("membership_id", Uuid, nullable=False),
    Column("status", String(12), nullable=False),
    Column("outbox_id", Uuid),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "campaign_id", "membership_id"),
    ForeignKeyConstraint(["merchant_id", "campaign_id"], ["campaigns.merchant_id", "campaigns.id"]),
    CheckConstraint("status IN ('pending', 'queued', 'unsubscribed')", name="status"),
)

# Each version of a merchant's information notice (how personal data are
# processed, the program's terms; crm/notices.py), kept for good: a membership
# names the version it was given, and the text proves what that was.
information_notices = Table(
    "information_notices",
    metadata,
    merchant_id_column(),
    Column("version", Integer, nullable=False),
    Column("text", Text, nullable=False),
    # The platform's default notice, built from the merchant's name (none set).
    Column("is_default", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "version"),
    CheckConstraint("version > 0", name="version_positive"),
)

# A member's birthday message of one year (crm/birthday_messages.py): the row is
# claimed in the transaction that writes the mail to the outbox, so it goes once.
birthday_messages = Table(
    "birthday_messages",
    metadata,
    merchant_id_column(),
    Column("membership_id", Uuid, nullable=False),
    Column("year", Integer, nullable=False),
    # The mail's outbox message, written in the transaction that claimed the row.
    Column("outbox_id", Uuid),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "membership_id", "year"),
    ForeignKeyConstraint(
        ["merchant_id", "membership_id"], ["memberships.merchant_id", "memberships.id"]
    ),
)
