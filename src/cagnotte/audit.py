"""The audit trail: who did what, written in the transaction that did it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from cagnotte.db.tables import audit_log


def record_audit(
    connection: Connection,
    merchant_id: uuid.UUID,
    actor: str,
    action: str,
    subject_id: uuid.UUID | None,
    details: dict[str, Any],
    now: datetime,
) -> None:
    connection.execute(
        insert(audit_log).values(
            merchant_id=merchant_id,
            id=uuid.uuid4(),
            actor=actor,
            action=action,
            subject_id=subject_id,
            details=details,
            created_at=now,
        )
    )


def audit_trail(connection: Connection, merchant_id: uuid.UUID, limit: int = 100) -> list[dict]:
    rows = connection.execute(
        select(audit_log)
        .where(audit_log.c.merchant_id == merchant_id)
        .order_by(audit_log.c.created_at.desc(), audit_log.c.id.desc())
        .limit(limit)
    ).mappings()
    return [dict(row) for row in rows]
