"""What the API shows of a mail owed through the outbox: its envelope and state, no body."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from cagnotte.outbox import MessageState


class MailOut(BaseModel):
    id: uuid.UUID
    recipient: str
    title: str | None
    status: Literal["pending", "sent", "failed", "dropped"] = Field(
        description="pending (waiting for its next attempt), sent, failed (given up), "
        "or dropped (nothing left to send)."
    )
    attempts: int
    next_attempt_at: datetime | None = Field(description="While pending.")
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, state: MessageState) -> MailOut:
        values = asdict(state)
        for name in ("merchant_id", "kind", "reference_id"):
            values.pop(name)
        return cls(**values)
