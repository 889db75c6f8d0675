"""The one way value moves on one card: lock it, plan, commit the plan — one unit of work.

Every operation locks the card's row first, so the daily limits and the
maximum balance are checked against a balance nobody else is changing; the
ledger still refuses any overspend in the statement that moves the value. The
operation's answer is stored with its Idempotency-Key, and a retry replays it.

Every operation committed here (issue, load, spend, hold, settle, void,
refund, transfer, expiry …) is told to the merchant's webhook endpoints as a
`gift_card.operation` event, written in the same unit of work.

Errors: invoice_reused (two operations with one new invoice number at once),
idempotency_key_reused, and those of the plan and of the ledger.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.db.engine import is_unavailable
from cagnotte.db.unit_of_work import (
    Idempotency,
    StoredAnswer,
    UnitOfWork,
    UnitsOfWork,
    constraint_name,
)
from cagnotte.ledger import Ledger
from cagnotte.programs.gift_cards import plans, repository
from cagnotte.programs.gift_cards.accounts import CardAccounts, ProgramAccounts
from cagnotte.programs.gift_cards.alerts import GiftCardAlerts
from cagnotte.programs.gift_cards.pins import PinHash
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.programs_admin import ProgramCatalogue
from cagnotte.programs.gift_cards.resellers import Resellers
from cagnotte.programs.gift_cards.rows import Actor, CardRow, OperationRow
from cagnotte.programs.gift_cards.tender import LockedCard, card_facts
from cagnotte.programs.gift_cards.views import CardOperation
from cagnotte.programs.tenders import Plan, commit_plans
from cagnotte.security.principals import Principal
from cagnotte.webhooks.service import emit

INVOICE_CONSTRAINT = "uq_gift_card_operations_merchant_id_invoice_number"

log = logging.getLogger("cagnotte.gift_cards")

# What an operation would do to the card it is given, locked: its plan.
Planner = Callable[[LockedCard], Plan]


@dataclass(frozen=True, slots=True)
class Audit:
    """An entry of the audit trail that an operation writes beside its own log row."""

    action: str
    details: dict[str, Any]


class CardOperations:
    def __init__(
        self,
        units: UnitsOfWork,
        ledger: Ledger,
        accounts: CardAccounts,
        programs: ProgramCatalogue,
        resellers: Resellers,
        alerts: GiftCardAlerts,
    ) -> None:
        self.units = units
        self.ledger = ledger
        self.accounts = accounts
        self.programs = programs
        self.resellers = resellers
        self.alerts = alerts

    def operate(
        self,
        caller: Principal,
        program: Program,
        card_id: uuid.UUID,
        kind: str,
        planner: Planner,
        idempotency: Idempotency,
        *,
        audit: Audit | None = None,
        pin_rehash: PinHash | None = None,
    ) -> CardOperation:
        """Lock the card, plan, post the entry, log the operation: one unit of work.

        `pin_rehash`: the card's PIN proven right before the unit, to store
        hashed under the newest key beside the operation.
        """
        work = self.work(
            caller, program, card_id, kind, planner, audit=audit, pin_rehash=pin_rehash
        )
        with invoice_race_means_reused():
            operation = self.units.run(
                caller.merchant_id,
                f"gift_card_{kind}",
                work,
                idempotency=idempotency,
                encode=CardOperation.as_json,
                replay=lambda unit, stored: self.replayed(unit, stored)[0],
            )
        if not operation.replayed:
            self.alert(operation)
        return operation

    def work(
        self,
        caller: Principal,
        program: Program,
        card_id: uuid.UUID,
        kind: str,
        planner: Planner,
        *,
        audit: Audit | None = None,
        pin_rehash: PinHash | None = None,
    ) -> Callable[[UnitOfWork], CardOperation]:
        """The work of `operate`, for a use case that does more in the same unit (an e-card)."""
        accounts = self.accounts.of_program(program)
        actor = self.resellers.actor_of(caller)

        def work(unit: UnitOfWork) -> CardOperation:
            card = repository.lock_card(unit, card_id)
            if pin_rehash is not None:
                repository.rehash_pin(unit.connection, card, pin_rehash.digest, pin_rehash.key_id)
            operation = self.on_locked_card(unit, card, accounts, actor, kind, planner)
            if audit is not None:
                record_audit(
                    unit.connection,
                    unit.merchant_id,
                    caller.actor,
                    audit.action,
                    card_id,
                    audit.details,
                    unit.now,
                )
            return operation

        return work

    def on_locked_card(
        self,
        unit: UnitOfWork,
        card: CardRow,
        accounts: ProgramAccounts,
        actor: Actor,
        kind: str,
        planner: Planner,
    ) -> CardOperation:
        """Plan and commit an operation on a card this unit has locked."""
        card_program = self.programs.program(unit.merchant_id, card.program_id, unit.connection)
        assert card_program.id == accounts.program_id
        facts = card_facts(unit, self.accounts, card, card_program)
        (operation,) = self.commit(
            unit, planner(LockedCard(unit, facts, accounts, actor)), kind=f"gift_card_{kind}"
        )
        return operation

    def alert(self, *operations: CardOperation) -> None:
        """Check the alert rules that operations just committed may trip.

        The operations are done: a database too busy to check the rules just now
        does not turn their answer into a 503, which a client would retry.
        """
        try:
            for operation in operations:
                self.alerts.after_operation(operation)
        except Exception as error:
            if not is_unavailable(error):
                raise
            log.warning(
                "alert rules not checked after operations %s: the database is busy",
                ", ".join(str(operation.id) for operation in operations),
            )

    def commit(self, unit: UnitOfWork, plan: Plan, *, kind: str) -> tuple[CardOperation, ...]:
        """Post a gift card plan as the unit's one entry, apply its rows, check what landed."""
        result = commit_plans(self.ledger, unit, [plan], kind=kind)
        plans.check_landed(plan, result)
        operations = plans.operations_of(plan)
        for operation in operations:
            emit(
                unit.connection,
                unit.merchant_id,
                "gift_card.operation",
                operation.as_json(),
                now=unit.now,
            )
        return operations

    def replay(
        self, merchant_id: uuid.UUID, idempotency: Idempotency
    ) -> list[CardOperation] | None:
        """The operations a first request with this Idempotency-Key answered, if any."""
        return self.units.replay_if_stored(merchant_id, idempotency, self.replayed)

    def replayed(self, unit: UnitOfWork, stored: StoredAnswer) -> list[CardOperation]:
        """The operations the first request with this Idempotency-Key answered."""
        if stored.answer is not None:
            answers = stored.answer.get("operations", [stored.answer])
            return [CardOperation.from_json(answer, replayed=True) for answer in answers]
        # A key recorded before its answer was kept (journal entries kept the keys).
        assert stored.entry_id is not None
        return repository.operations_of_entry(unit.connection, unit.merchant_id, stored.entry_id)

    def operation(
        self, caller: Principal, operation_id: uuid.UUID, kinds: tuple[str, ...]
    ) -> tuple[OperationRow, Program]:
        """An earlier operation of one of these kinds (to settle or refund), and its program."""
        with self.units.database.read() as connection:
            row = repository.operation(connection, caller.merchant_id, operation_id)
        if row is None or row.kind not in kinds:
            raise errors.NotFound("No such operation.")
        return row, self.programs.program(caller.merchant_id, row.program_id)


@contextmanager
def invoice_race_means_reused() -> Iterator[None]:
    """Two operations on two cards with one new invoice number at once: invoice_reused.

    On PostgreSQL the unique constraint refuses the second insert, recognised by
    the constraint's name; on SQLite the look-up before the insert sees it.
    """
    try:
        yield
    except IntegrityError as error:
        if constraint_name(error) == INVOICE_CONSTRAINT:
            raise errors.InvoiceReused() from None
        raise
