"""The queries of the redemption attempts' log and of the lockouts it leads to.

Kept apart from `repository.py`: these rows are the customer's (no merchant),
read and written around a redemption rather than inside it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from cagnotte.programs.bonus_codes.repository import dialect_insert
from cagnotte.programs.bonus_codes.rows import AttemptOutcome
from cagnotte.programs.bonus_codes.tables import bonus_attempts, bonus_lockouts


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


def locked_until(connection: Connection, customer_id: uuid.UUID) -> datetime | None:
    """The end of the customer's last lock, past or not."""
    return connection.execute(
        select(bonus_lockouts.c.locked_until).where(bonus_lockouts.c.customer_id == customer_id)
    ).scalar()


def wrong_codes_of_customer(connection: Connection, customer_id: uuid.UUID, since: datetime) -> int:
    return connection.execute(
        select(func.count())
        .select_from(bonus_attempts)
        .where(
            bonus_attempts.c.customer_id == customer_id,
            bonus_attempts.c.outcome == "wrong",
            bonus_attempts.c.created_at > since,
        )
    ).scalar_one()


def wrong_codes_from_address(connection: Connection, client_address: str, since: datetime) -> int:
    return connection.execute(
        select(func.count())
        .select_from(bonus_attempts)
        .where(
            bonus_attempts.c.client_address == client_address,
            bonus_attempts.c.outcome == "wrong",
            bonus_attempts.c.created_at > since,
        )
    ).scalar_one()


def lock_out(connection: Connection, customer_id: uuid.UUID, until: datetime) -> None:
    """Lock the customer's bonus feature until `until` (one statement: no insert race)."""
    statement = dialect_insert(connection)(bonus_lockouts).values(
        customer_id=customer_id, locked_until=until
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[bonus_lockouts.c.customer_id],
            set_={"locked_until": statement.excluded.locked_until},
        )
    )
