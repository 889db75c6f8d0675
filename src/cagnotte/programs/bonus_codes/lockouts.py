"""The redemption attempts' log: one row per attempt at a code, and per wrong captcha.

A record for people (what a customer, or a client address, tried and when),
kept apart from `repository.py`: these rows are the customer's (no merchant),
written around a redemption rather than inside it. No limit is counted from
it: the attempt limiter (security/attempts.py) counts the attempts, before
the code is looked up, which a log written afterwards cannot do under
parallel requests.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, insert

from cagnotte.programs.bonus_codes.rows import AttemptOutcome
from cagnotte.programs.bonus_codes.tables import bonus_attempts


def record_attempt(
    connection: Connection,
    customer_id: uuid.UUID,
    client_address: str,
    outcome: AttemptOutcome,
    now: datetime,
) -> None:
    connection.execute(
        insert(bonus_attempts).values(
            id=uuid.uuid4(),
            customer_id=customer_id,
            client_address=client_address,
            outcome=outcome,
            created_at=now,
        )
    )
