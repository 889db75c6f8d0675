"""Tables of the security features that are not a product's own (migrations 0002, 0012, 0016)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Integer, PrimaryKeyConstraint, String, Table, Uuid

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

# One row per subject that has attempts counted (security/attempts.py).
attempt_limits = Table(
    "attempt_limits",
    metadata,
    # What is guessed (staff_sign_in, gift_card_pin, …) and whose attempts they are.
    Column("scope", String(40), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("window_ends_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("scope", "subject"),
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
