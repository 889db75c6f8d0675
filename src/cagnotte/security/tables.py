"""Tables of the security features that are not a product's own (migrations 0002, 0016)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Integer, String, Table, Uuid

from cagnotte.db.tables import metadata
from cagnotte.db.types import UTCDateTime

captcha_challenges = Table(
    "captcha_challenges",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, nullable=False),
    Column("answer_hash", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)

# How many challenges a customer or a client address was given in its current
# window (security/captcha.py): one counter row each, raised by an upsert.
captcha_quotas = Table(
    "captcha_quotas",
    metadata,
    Column("scope", String(16), primary_key=True),
    Column("subject", String(100), primary_key=True),
    Column("window_started_at", UTCDateTime, nullable=False),
    Column("issued", Integer, nullable=False),
    CheckConstraint("scope IN ('customer', 'address')", name="scope"),
    CheckConstraint("issued > 0", name="issued_positive"),
)
