"""A card's state, changed by a manager: freeze, unfreeze, close, and lift a PIN lockout.

A frozen or closed card's ledger account is frozen too, so that nothing moves
its value even past the checks of this package.

Errors: forbidden (a role below manager), not_found, gift_card_inactive,
gift_card_frozen, gift_card_closed, conflict (a change the card's state does
not allow).
"""

from __future__ import annotations

import uuid
from typing import Any

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.db.unit_of_work import UnitOfWork, UnitsOfWork
from cagnotte.ledger import Ledger
from cagnotte.programs.gift_cards import plans, repository, rules
from cagnotte.programs.gift_cards.finding import PIN_SCOPE, pin_subject
from cagnotte.programs.gift_cards.queries import CardQueries
from cagnotte.security.attempts import AttemptLimiter
from cagnotte.security.principals import Principal


class CardStates:
    def __init__(
        self, units: UnitsOfWork, ledger: Ledger, queries: CardQueries, attempts: AttemptLimiter
    ) -> None:
        self.units = units
        self.ledger = ledger
        self.queries = queries
        self.attempts = attempts

    def freeze(self, caller: Principal, card_id: uuid.UUID) -> dict[str, Any]:
        """Stop every operation on the card until it is unfrozen."""
        return self._change_state(caller, card_id, "frozen", ("active",))

    def unfreeze(self, caller: Principal, card_id: uuid.UUID) -> dict[str, Any]:
        return self._change_state(caller, card_id, "active", ("frozen",))

    def close(self, caller: Principal, card_id: uuid.UUID) -> dict[str, Any]:
        """Close a card for good; what it holds stays on it (transfer it first to move it)."""
        return self._change_state(caller, card_id, "closed", ("inactive", "active", "frozen"))

    def unlock(self, caller: Principal, card_id: uuid.UUID) -> dict[str, Any]:
        """Lift a PIN lockout before its time: the card's wrong PINs are forgotten."""
        caller.require("manager")

        def work(unit: UnitOfWork) -> None:
            card = repository.lock_card(unit, card_id)
            self.attempts.reset(
                PIN_SCOPE, pin_subject(card.merchant_id, card.id), connection=unit.connection
            )
            record_audit(
                unit.connection,
                unit.merchant_id,
                caller.actor,
                "gift_card.unlocked",
                card_id,
                {},
                unit.now,
            )

        self.units.run(caller.merchant_id, "gift_card_unlock", work)
        return self.queries.get_card(caller, card_id)

    def _change_state(
        self, caller: Principal, card_id: uuid.UUID, state: str, allowed_from: tuple[str, ...]
    ) -> dict[str, Any]:
        caller.require("manager")

        def work(unit: UnitOfWork) -> None:
            card = repository.lock_card(unit, card_id)
            if card.state not in allowed_from:
                rules.require_usable(card.state)
                raise errors.Conflict(f"The card is {card.state}.")
            changes = plans.closing(unit.now, "closed") if state == "closed" else {"state": state}
            repository.update_card(unit.connection, card, changes)
            self.ledger.set_frozen(
                unit.connection, unit.merchant_id, [card.account_id], frozen=state != "active"
            )
            record_audit(
                unit.connection,
                unit.merchant_id,
                caller.actor,
                f"gift_card.{state}",
                card_id,
                {},
                unit.now,
            )

        self.units.run(caller.merchant_id, f"gift_card_{state}", work)
        return self.queries.get_card(caller, card_id)
