"""The webhooks' tables (migration 0020): endpoints, events and the log of attempts."""

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
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

from cagnotte.db.tables import created_at_column, merchant_id_column, metadata
from cagnotte.db.types import UTCDateTime

# Where a merchant wants to be told, and about what.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("url", String(2000), nullable=False),
    # The event types it wants, or ["*"] for every one.
    Column("events", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    # The signing secret ("whsec_" and base64), kept as it is: the job must sign
    # with it, so it cannot be hashed (see webhooks/service.py on why it is not sealed).
    Column("secret", String(100), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("description", String(200)),
    created_at_column(),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "id"),
)

# What happened: one row per event, whatever the number of endpoints told. Its id
# is the `webhook-id` of every delivery of it, retries and re-sends included.
webhook_events = Table(
    "webhook_events",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("type", String(60), nullable=False),
    Column("data", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    created_at_column(),
    PrimaryKeyConstraint("merchant_id", "id"),
)

# The delivery log: one row per HTTP attempt of an outbox message of kind
# "webhook" (the message is the delivery of one event to one endpoint).
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    merchant_id_column(),
    Column("id", Uuid, nullable=False),
    Column("message_id", Uuid, nullable=False),
    Column("endpoint_id", Uuid, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("attempt", Integer, nullable=False),
    # The receiver's answer, or none when it gave none (refused, timed out).
    Column("status_code", Integer),
    Column("error", String(500)),
    Column("duration_ms", Integer, nullable=False),
    Column("attempted_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "id"),
    ForeignKeyConstraint(
        ["merchant_id", "event_id"], ["webhook_events.merchant_id", "webhook_events.id"]
    ),
    CheckConstraint("attempt >= 1", name="attempt"),
)
Index(
    "ix_webhook_attempts_merchant_id_message_id",
    webhook_attempts.c.merchant_id,
    webhook_attempts.c.message_id,
)
