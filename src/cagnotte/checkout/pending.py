"""The return window: what a check earns stays pending for N days, then posts by itself.

A points or kitty program with `pending_days` N > 0 does not credit what a
check earns at once: the commit places a ledger **hold** from the program's
issuance (or the promotion's budget) to the member, which counts in the
member's pending credits and not in what they may spend. The hold is named by
the earn transfer's id (the check's effects name it), and a row of
`loyalty_pending_earnings` says when the window ends.

- When the window ends, `post_due_earnings` (a job, under its job lock, batch
  by batch) posts the hold: the points become spendable. Temporary points keep
  their expiry: the post credits their lot with the end date the rule gave
  (counted from the purchase, not from the end of the window).
- A refund within the window voids the refunded share of the hold (rounded up,
  as a refund takes back what was earned: `checkout.refunds`) and takes nothing
  else from the member: the hold is voided and, for a partial refund, the rest
  is held anew until the same end. The budget a promotion drew on gets back
  what is voided.
- A refund after the window takes back from the posted transfer, as for points
  credited at once (what the member already spent is kept off the money
  returned).

A posting job and a refund of the same check take the check's row lock first,
so one waits for the other; a hold is posted once (its post's id is derived
from the hold's, and its row says it is posted).

The hold's own timeout (the ledger releases a hold at it) is the window's end
plus `POSTING_GRACE`: the job runs every minute, so only a job stopped for that
long would leave points to the ledger's hold expiry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from cagnotte import errors
from cagnotte.checkout.model import Effect, Quote
from cagnotte.checkout.tables import checks, loyalty_pending_earnings
from cagnotte.db.engine import Database
from cagnotte.db.unit_of_work import UnitOfWork, UnitsOfWork
from cagnotte.ledger import Ledger
from cagnotte.ledger.model import Hold, Operation, PostHold, VoidHold
from cagnotte.programs.loyalty.program import LoyaltyProgram
from cagnotte.programs.tenders import Plan, RowInsert

log = logging.getLogger("cagnotte.checkout.pending")

POSTING_GRACE = timedelta(days=365)
POSTING_BATCH_SIZE_MAX = 500
_POST_IDS = uuid.UUID("6f1d3c2a-5b7e-4e0a-9c41-2d8f0b6a7e13")


@dataclass(frozen=True, slots=True)
class PendingEarning:
    """An earn transfer held for a return window, as its row says now."""

    transfer_id: uuid.UUID
    hold_id: uuid.UUID
    units: int
    available_at: datetime
    status: str
    posted_transfer_id: uuid.UUID | None


def with_return_window(
    effects: Iterable[Effect], programs: Iterable[LoyaltyProgram], moment: datetime
) -> list[Effect]:
    """The earn effects of programs with a return window, each told when its window ends
    (N days after the check's moment)."""
    days = {program.id: program.pending_days for program in programs if program.pending_days}
    return [
        replace(effect, pending_until=moment + timedelta(days=days[effect.program_id]))
        if effect.kind == "earn" and effect.program_id in days
        else effect
        for effect in effects
    ]


def hold_for(
    effect: Effect, debit_id: uuid.UUID, credit_id: uuid.UUID, amount: int, reference: str | None
) -> Hold:
    """The hold that stands for an earn transfer until its window ends."""
    assert effect.pending_until is not None
    return Hold(
        debit_id,
        credit_id,
        amount,
        f"loyalty_{effect.kind}",
        expires_at=effect.pending_until + POSTING_GRACE,
        reference=reference,
        id=effect.transfer_id,
    )


def pending_rows(check_id: uuid.UUID, membership_id: uuid.UUID | None, quote: Quote) -> Plan:
    """One row per held earn transfer of the check (its units summed over its effects)."""
    held: dict[uuid.UUID, Effect] = {}
    units: dict[uuid.UUID, int] = {}
    for effect in quote.effects:
        if effect.contributor == "loyalty" and effect.pending_until is not None:
            held.setdefault(effect.transfer_id, effect)
            units[effect.transfer_id] = units.get(effect.transfer_id, 0) + effect.units
    if not held or membership_id is None:
        return Plan("return_window")
    return Plan(
        "return_window",
        row_changes=tuple(
            RowInsert(
                loyalty_pending_earnings,
                {
                    "transfer_id": transfer_id,
                    "check_id": check_id,
                    "membership_id": membership_id,
                    "program_id": effect.program_id,
                    "hold_id": transfer_id,
                    "units": units[transfer_id],
                    "available_at": effect.pending_until,
                    "lot_expires_at": effect.expires_at,
                    "status": "pending",
                    "posted_transfer_id": None,
                    "resolved_at": None,
                },
            )
            for transfer_id, effect in held.items()
        ),
    )


def pending_of(
    connection: Connection, merchant_id: uuid.UUID, check_id: uuid.UUID
) -> dict[uuid.UUID, PendingEarning]:
    """The check's held earn transfers by the effects' transfer id (read under its lock)."""
    rows = connection.execute(
        select(loyalty_pending_earnings).where(
            loyalty_pending_earnings.c.merchant_id == merchant_id,
            loyalty_pending_earnings.c.check_id == check_id,
        )
    ).mappings()
    return {
        row["transfer_id"]: PendingEarning(
            row["transfer_id"],
            row["hold_id"],
            int(row["units"]),
            row["available_at"],
            row["status"],
            row["posted_transfer_id"],
        )
        for row in rows
    }


def void_refunded(
    unit: UnitOfWork,
    ledger: Ledger,
    pending: Mapping[uuid.UUID, PendingEarning],
    voided: Mapping[uuid.UUID, int],
) -> list[Operation]:
    """A refund within the window: void each hold, and hold anew what the refund leaves.

    `voided` is transfer id → the units the refund takes back of it; the rows
    are brought up to date in the unit (the entry lands with them, or neither).
    """
    operations: list[Operation] = []
    for transfer_id, units in sorted(voided.items()):
        earning = pending[transfer_id]
        assert earning.status == "pending" and 0 < units <= earning.units
        hold = ledger.transfer_in(unit.connection, unit.merchant_id, earning.hold_id)
        operations.append(VoidHold(earning.hold_id))
        left = earning.units - units
        hold_id = earning.hold_id
        if left:
            hold_id = uuid.uuid4()
            operations.append(
                Hold(
                    hold.debit_account_id,
                    hold.credit_account_id,
                    left,
                    hold.code,
                    expires_at=hold.expires_at or earning.available_at + POSTING_GRACE,
                    reference=hold.reference,
                    id=hold_id,
                )
            )
        unit.connection.execute(
            update(loyalty_pending_earnings)
            .where(
                loyalty_pending_earnings.c.merchant_id == unit.merchant_id,
                loyalty_pending_earnings.c.transfer_id == transfer_id,
            )
            .values(
                hold_id=hold_id,
                units=left,
                status="pending" if left else "voided",
                resolved_at=None if left else unit.now,
            )
        )
    return operations


def post_id(hold_id: uuid.UUID) -> uuid.UUID:
    """The id of a hold's post: derived from the hold's, so that it is made once."""
    return uuid.uuid5(_POST_IDS, str(hold_id))


def post_due_earnings(
    database: Database,
    units: UnitsOfWork,
    ledger: Ledger,
    now: datetime,
    batch_size: int = POSTING_BATCH_SIZE_MAX,
) -> int:
    """Post the holds whose window has ended (the oldest first, one batch); returns how many.

    Each hold is posted in a unit of work of its own, under its check's lock;
    one that cannot be posted (a frozen account) waits for the next run.
    """
    assert 1 <= batch_size <= POSTING_BATCH_SIZE_MAX
    with database.read() as connection:
        due = connection.execute(
            select(
                loyalty_pending_earnings.c.merchant_id,
                loyalty_pending_earnings.c.check_id,
                loyalty_pending_earnings.c.transfer_id,
            )
            .where(
                loyalty_pending_earnings.c.status == "pending",
                loyalty_pending_earnings.c.available_at <= now,
            )
            .order_by(loyalty_pending_earnings.c.available_at)
            .limit(batch_size)
        ).all()
    posted = 0
    for merchant_id, check_id, transfer_id in due:
        try:
            posted += units.run(
                merchant_id,
                "return_window_post",
                lambda unit, c=check_id, t=transfer_id: _post_one(unit, ledger, c, t),
            )
        except errors.DomainError as error:
            log.warning("a return window's hold waits: %s (%s)", error.code, transfer_id)
    return posted


def _post_one(unit: UnitOfWork, ledger: Ledger, check_id: uuid.UUID, transfer_id: uuid.UUID) -> int:
    unit.lock(checks, check_id)
    row = (
        unit.connection.execute(
            select(loyalty_pending_earnings).where(
                loyalty_pending_earnings.c.merchant_id == unit.merchant_id,
                loyalty_pending_earnings.c.transfer_id == transfer_id,
            )
        )
        .mappings()
        .one()
    )
    if row["status"] != "pending" or row["available_at"] > unit.now:
        return 0  # a refund or another run came first
    posting = post_id(row["hold_id"])
    ledger.post_entry(
        unit.merchant_id,
        [PostHold(row["hold_id"], id=posting, lot_expires_at=row["lot_expires_at"])],
        kind="return_window_post",
        unit=unit,
    )
    unit.connection.execute(
        update(loyalty_pending_earnings)
        .where(
            loyalty_pending_earnings.c.merchant_id == unit.merchant_id,
            loyalty_pending_earnings.c.transfer_id == transfer_id,
        )
        .values(status="posted", posted_transfer_id=posting, resolved_at=unit.now)
    )
    return 1


def member_pending(
    connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID
) -> dict[uuid.UUID, list[tuple[int, datetime]]]:
    """A member's pending units per program: (units, until), soonest first."""
    rows = connection.execute(
        select(
            loyalty_pending_earnings.c.program_id,
            loyalty_pending_earnings.c.units,
            loyalty_pending_earnings.c.available_at,
        )
        .where(
            loyalty_pending_earnings.c.merchant_id == merchant_id,
            loyalty_pending_earnings.c.membership_id == membership_id,
            loyalty_pending_earnings.c.status == "pending",
            loyalty_pending_earnings.c.units > 0,
        )
        .order_by(loyalty_pending_earnings.c.available_at)
    ).all()
    out: dict[uuid.UUID, list[tuple[int, datetime]]] = {}
    for program_id, units, available_at in rows:
        out.setdefault(program_id, []).append((int(units), available_at))
    return out
