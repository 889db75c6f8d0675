"""Finding a card by its number and PIN: one answer for every miss.

A wrong number, a wrong PIN, a locked card, another merchant's card and a card
of a program a reseller may not sell all get the same gift_card_invalid; where
no PIN is checked for real, a dummy check spends the same time, so that timing
does not tell a known card from an unknown one. Wrong PINs count towards the
card's lockout; failed look-ups and balance inquiries are logged per terminal
for the alerts. All of it runs before the operation's unit of work: argon2 and
the counting have no place inside a write transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from cagnotte import errors
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.programs.gift_cards import repository
from cagnotte.programs.gift_cards.alerts import GiftCardAlerts
from cagnotte.programs.gift_cards.number_keys import NumberKey
from cagnotte.programs.gift_cards.numbers import normalise_number
from cagnotte.programs.gift_cards.pins import burn_pin_check, verify_pin
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.programs_admin import ProgramCatalogue
from cagnotte.programs.gift_cards.resellers import Resellers
from cagnotte.programs.gift_cards.rows import CardRow
from cagnotte.security.principals import Principal


@dataclass(frozen=True, slots=True)
class FoundCard:
    """A card found by its number (and its PIN, when its program asks for one)."""

    card: CardRow
    program: Program
    number: str


class CardFinder:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        alerts: GiftCardAlerts,
        programs: ProgramCatalogue,
        resellers: Resellers,
        numbers: NumberKey,
    ) -> None:
        self.database = database
        self.clock = clock
        self.alerts = alerts
        self.programs = programs
        self.resellers = resellers
        self.numbers = numbers

    def find(
        self, caller: Principal, number: str, *, pin: str | None, pin_needed: bool = True
    ) -> FoundCard:
        """The card with this number and (when its program asks) PIN; one error for every miss."""
        digits = normalise_number(number)
        digest = self.numbers.hash(digits) if digits else ""
        card = None
        if digits:
            with self.database.read() as connection:
                card = repository.card_by_number_hashes(
                    connection, caller.merchant_id, self.numbers.hashes(digits)
                )
        program = self.programs.program(caller.merchant_id, card.program_id) if card else None
        if (
            card is None
            or program is None
            or (
                caller.role == "reseller"
                and program.id not in self.resellers.program_ids_of(caller)
            )
        ):
            if pin is not None:
                burn_pin_check()
            self.record_lookup(caller, digest, succeeded=False)
            raise errors.GiftCardInvalid()
        assert digits is not None
        if pin_needed and program.pin_required:
            self._check_pin(caller, card, program, digits, pin)
        card = self.numbers.rehashed(card, digits)
        return FoundCard(card=card, program=program, number=digits)

    def record_lookup(self, caller: Principal, digest: str, *, succeeded: bool) -> None:
        with self.database.transaction() as connection:
            self._insert_lookup(connection, caller, digest, succeeded=succeeded)
        self.alerts.after_lookup(caller)

    def _check_pin(
        self, caller: Principal, card: CardRow, program: Program, number: str, pin: str | None
    ) -> None:
        if card.locked_until is not None and card.locked_until > self.clock.now():
            burn_pin_check()
            self.record_lookup(caller, card.number_hash, succeeded=False)
            raise errors.GiftCardInvalid()
        if pin is None or not verify_pin(card.pin_hash, number, pin):
            self._count_wrong_pin(caller, card, program)
            raise errors.GiftCardInvalid()
        if card.pin_failures:
            with self.database.transaction() as connection:
                repository.update_card(connection, card, {"pin_failures": 0})

    def _count_wrong_pin(self, caller: Principal, card: CardRow, program: Program) -> None:
        """One more wrong PIN; at the program's threshold the card locks for a while."""
        now = self.clock.now()
        with self.database.transaction() as connection:
            # Counted in the statement that changes it, so parallel guesses all count.
            failures = repository.count_wrong_pin(connection, card)
            locked = failures >= program.pin_attempts_max
            if locked:
                repository.update_card(
                    connection,
                    card,
                    {
                        "pin_failures": 0,
                        "locked_until": now + program.pin_lockout,
                    },
                )
            self._insert_lookup(connection, caller, card.number_hash, succeeded=False)
        self.alerts.after_wrong_pin(caller, card, failures, locked)
        self.alerts.after_lookup(caller)

    def _insert_lookup(
        self, connection: Connection, caller: Principal, digest: str, *, succeeded: bool
    ) -> None:
        repository.insert_lookup(
            connection,
            caller.merchant_id,
            terminal_id=caller.terminal_id,
            store_id=caller.store_id,
            digest=digest,
            succeeded=succeeded,
            now=self.clock.now(),
        )
