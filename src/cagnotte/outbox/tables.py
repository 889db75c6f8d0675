"""The outbox's one table (migration 0013)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

from cagnotte.db.tables import created_at_column, merchant_id_column, metadata
from cagnotte.db.types import UTCDateTime

OUTBOX_STATUSES = ("pending", "sent", "failed", "dropped")

# A message that leaves the process (a mail; later a webhook), written in the
# transaction of the work it tells about and delivered by the jobs. The envelope
# (kind, recipient, title, the times, what became of it) is kept for the record;
# the body, which may hold a secret, only while the message is pending.
outbox_messages = Table(
    "outbox_messages",
    metadata,
    # The merchant it is sent for; the platform's own (sign-in codes) carry
    # PLATFORM_MERCHANT_ID.
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    # What it is, which says how the job delivers it (outbox.MessageKind).
    Column("kind", String(60), nullable=False),
    # The business object it is about (a card, a campaign, an alert), if any.
    Column("reference_id", Uuid),
    Column("recipient", String(500), nullable=False),
    Column("title", String(300)),
    # What the delivery needs besides the body, never a secret; kept.
    Column("payload", JSON().with_variant(JSONB(), "postgresql")),
    # The message as it is sent (RFC 5322 bytes for a mail), or none when the
    # job composes it at delivery; wiped when the message stops being pending.
    Column("body", LargeBinary),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    # When the job may try it next; a claim moves it past the claim's lease.
    Column("next_attempt_at", UTCDateTime, nullable=False),
    # The claim of the job runner sending it now: its outcome is recorded only
    # under the same claim.
    Column("claim_id", Uuid),
    Column("last_error", String(500)),
    created_at_column(),
    Column("sent_at", UTCDateTime),
    Column("failed_at", UTCDateTime),
    PrimaryKeyConstraint("merchant_id", "id"),
    CheckConstraint("status IN ('pending', 'sent', 'failed', 'dropped')", name="status"),
    CheckConstraint("attempts >= 0", name="attempts"),
    # A secret in a body never outlives the delivery: the database says so too.
    CheckConstraint("status = 'pending' OR body IS NULL", name="body_only_while_pending"),
)
# The job's claim: what is pending and due, soonest first.
Index(
    "ix_outbox_messages_status_next_attempt_at",
    outbox_messages.c.status,
    outbox_messages.c.next_attempt_at,
)
# What a merchant reads: the deliveries of one card or one campaign.
Index(
    "ix_outbox_messages_merchant_id_kind_reference_id",
    outbox_messages.c.merchant_id,
    outbox_messages.c.kind,
    outbox_messages.c.reference_id,
)
