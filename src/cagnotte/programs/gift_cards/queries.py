"""What staff and customers read about cards: views with balances, and histories.

A card is shown by its last four digits, its state and its balance; never its
number or PIN (views.card_view).

Errors: forbidden (a role below manager lists or looks cards up; below cashier
lists a member's cards), not_found, invalid_input (a look-up that is neither
four digits nor a number).
"""

from __future__ import annotations

import uuid
from typing import Any

from cagnotte import errors
from cagnotte.crm.service import CustomerService
from cagnotte.db.engine import Database
from cagnotte.db.pages import (
    FIRST_PAGE,
    Order,
    Page,
    PageRequest,
    page_of_list,
)
from cagnotte.programs.gift_cards import repository
from cagnotte.programs.gift_cards.accounts import CardAccounts
from cagnotte.programs.gift_cards.finding import PIN_SCOPE, pin_subject
from cagnotte.programs.gift_cards.number_keys import NumberKey
from cagnotte.programs.gift_cards.numbers import normalise_number
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.programs_admin import ProgramCatalogue
from cagnotte.programs.gift_cards.rows import CardRow, OperationRow
from cagnotte.programs.gift_cards.tables import gift_cards
from cagnotte.programs.gift_cards.views import CardOperation, card_view
from cagnotte.security.attempts import AttemptLimiter
from cagnotte.security.principals import Principal

CARD_LIST_PAGE_MAX = 500
REGISTERED_ORDER = Order("registered_gift_cards", (gift_cards.c.registered_at, gift_cards.c.id))
CARD_SEARCH_RESULTS_MAX = 20


class CardQueries:
    def __init__(
        self,
        database: Database,
        accounts: CardAccounts,
        programs: ProgramCatalogue,
        customers: CustomerService,
        numbers: NumberKey,
        attempts: AttemptLimiter,
    ) -> None:
        self.database = database
        self.accounts = accounts
        self.programs = programs
        self.customers = customers
        self.numbers = numbers
        self.attempts = attempts

    def get_card(
        self, caller: Principal, card_id: uuid.UUID, *, check_role: bool = True
    ) -> dict[str, Any]:
        if check_role:
            caller.require("manager")
        with self.database.read() as connection:
            card = repository.card(connection, caller.merchant_id, card_id)
        return self.view(card)

    def list_cards(
        self,
        caller: Principal,
        *,
        program_id: uuid.UUID | None = None,
        state: str | None = None,
        membership_id: uuid.UUID | None = None,
        page: PageRequest = FIRST_PAGE,
    ) -> Page[dict[str, Any]]:
        """The merchant's cards, newest first, filtered as asked."""
        caller.require("manager" if membership_id is None else "cashier")
        with self.database.read() as connection:
            cards = repository.cards(
                connection,
                caller.merchant_id,
                program_id=program_id,
                state=state,
                membership_id=membership_id,
                page=page,
            )
        return Page(self.views(cards.items), cards.next_cursor)

    def registered_cards(self, caller: Principal, membership_id: uuid.UUID) -> list[dict[str, Any]]:
        """The cards registered to one of the merchant's members (the customer card)."""
        caller.require("cashier")
        with self.database.read() as connection:
            cards = repository.registered_cards(connection, caller.merchant_id, membership_id)
        return self.views(cards)

    def cards_of_customer(
        self, customer_id: uuid.UUID, page: PageRequest = FIRST_PAGE
    ) -> Page[dict[str, Any]]:
        """The cards registered to any membership of this identity (the customer page), in
        the order they were registered; a customer's few cards, paged in Python."""
        cards: list[CardRow] = []
        for membership in self.customers.memberships_of(customer_id):
            with self.database.read() as connection:
                cards += repository.registered_cards(
                    connection, membership["merchant_id"], membership["id"]
                )
        found = page_of_list(
            cards, REGISTERED_ORDER, page, key=lambda card: (card.registered_at, card.id)
        )
        return Page(self.views(found.items), found.next_cursor)

    def find_cards(self, caller: Principal, text: str) -> list[dict[str, Any]]:
        """Cards by their full number, or by their last four digits (the back office)."""
        caller.require("manager")
        digits = text.replace(" ", "").replace("-", "").strip()
        last4 = len(digits) == 4 and digits.isdigit()
        number = None if last4 else normalise_number(digits)
        if not last4 and number is None:
            raise errors.InvalidInput("Enter a card's last four digits or its whole number.")
        with self.database.read() as connection:
            if number is None:
                cards = repository.cards_by_last4(
                    connection, caller.merchant_id, digits, CARD_SEARCH_RESULTS_MAX
                )
            else:
                found = repository.card_by_number_hashes(
                    connection, caller.merchant_id, self.numbers.hashes(number)
                )
                cards = [found] if found is not None else []
        return self.views(cards)

    def card_history(
        self, caller: Principal, card_id: uuid.UUID, page: PageRequest = FIRST_PAGE
    ) -> Page[CardOperation]:
        """The operations on the card, newest first, a page at a time."""
        caller.require("manager")
        with self.database.read() as connection:
            card = repository.card(connection, caller.merchant_id, card_id)
            rows = repository.card_operations_page(connection, card, page)
        return Page(self._operations(card, rows.items), rows.next_cursor)

    def customer_card_history(
        self, customer_id: uuid.UUID, card_id: uuid.UUID, *, limit: int
    ) -> list[CardOperation]:
        """The latest operations of a card registered to one of this customer's memberships."""
        memberships = self.customers.memberships_of(customer_id)
        with self.database.read() as connection:
            card = repository.card_of_memberships(connection, card_id, memberships)
            if card is None:
                raise errors.NotFound(repository.NO_SUCH_CARD)
            rows = repository.card_operations(
                connection, card, limit=min(limit, CARD_LIST_PAGE_MAX)
            )
        return self._operations(card, rows)

    def program_of_card(self, caller: Principal, card_id: uuid.UUID) -> Program:
        with self.database.read() as connection:
            card = repository.card(connection, caller.merchant_id, card_id)
        return self.programs.program(caller.merchant_id, card.program_id)

    def view(self, card: CardRow) -> dict[str, Any]:
        """The card as shown to staff, with its balance and what is available of it."""
        (view,) = self.views([card])
        return view

    def views(self, cards: list[CardRow]) -> list[dict[str, Any]]:
        """Cards as shown to staff, their PIN attempts read at once."""
        subjects = {card.id: pin_subject(card.merchant_id, card.id) for card in cards}
        pin_attempts = self.attempts.counts(PIN_SCOPE, list(subjects.values()))
        views = []
        for card in cards:
            program = self.programs.program(card.merchant_id, card.program_id)
            balance = self.accounts.balance(card)
            views.append(
                card_view(
                    card,
                    balance.credit_balance,
                    balance.available,
                    program.asset_code,
                    pin_attempts.get(subjects[card.id]),
                )
            )
        return views

    def _operations(self, card: CardRow, rows: list[OperationRow]) -> list[CardOperation]:
        program = self.programs.program(card.merchant_id, card.program_id)
        return [CardOperation.of(row, card.number_last4, program.asset_code) for row in rows]
