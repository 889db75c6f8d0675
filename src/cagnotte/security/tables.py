"""Tables of the security features that are not a product's own (migration 0002)."""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Uuid

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
