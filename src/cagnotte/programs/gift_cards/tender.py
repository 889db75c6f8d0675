"""Gift cards as a tender: the facts a plan needs, read in the unit of work, and the plans.

A use case locks the card's row in its unit of work, reads the facts here
(`card_facts`: the balance, today's activity when the program limits it) and
asks `plans` what the operation would do. A register's check that is paid
partly with a gift card and partly from a wallet does the same with
`GiftCardTender.plan_spend`, asks the wallet for its plan, and commits both
with `tenders.commit_plans`: one journal entry, the card's row changes and its
operation log row applied beside it, all of it or nothing.

What the caller does before the unit of work: find the card by its number and
check its PIN (slow and counted, so never inside a write transaction), open
the accounts (each in a transaction of its own) and name the actor —
`GiftCardService.payment_card` does all three.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from cagnotte.db.unit_of_work import UnitOfWork
from cagnotte.i18n import merchant_locale
from cagnotte.ledger import EntryResult
from cagnotte.programs.gift_cards import plans, repository
from cagnotte.programs.gift_cards.accounts import CardAccounts, ProgramAccounts
from cagnotte.programs.gift_cards.plans import CardFacts, Invoice
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.rows import Actor, CardRow
from cagnotte.programs.gift_cards.rules import DayActivity
from cagnotte.programs.gift_cards.views import CardOperation
from cagnotte.programs.tenders import Plan


def card_facts(
    unit: UnitOfWork, accounts: CardAccounts, card: CardRow, program: Program
) -> CardFacts:
    """What a plan knows of a card whose row this unit of work has locked."""
    assert card.program_id == program.id
    business_date = merchant_locale(unit.connection, unit.merchant_id).local_date(unit.now)
    today = (
        repository.day_activity(unit.connection, card, business_date)
        if program.has_daily_limits
        else DayActivity()
    )
    return CardFacts(
        card=card,
        program=program,
        balance=accounts.balance(card, unit.connection),
        today=today,
        now=unit.now,
        entry_id=unit.entry_id,
        business_date=business_date,
    )


def invoice(unit: UnitOfWork, number: str | None) -> Invoice:
    """The invoice number an operation names, claimed for it; `used` if it served already.

    One record of a merchant's invoice numbers for gift card operations and
    checks alike (`invoice_numbers`), claimed in the unit of work: two
    operations with one new number at once cannot both have it.
    """
    used = bool(number) and not unit.try_claim_invoice_number(
        number, "gift_card_operation", unit.entry_id
    )
    return Invoice(number=number, used=used)


@dataclass(frozen=True, slots=True)
class LockedCard:
    """A card locked in a unit of work, with what its plan needs: the facts, accounts, actor."""

    unit: UnitOfWork
    facts: CardFacts
    accounts: ProgramAccounts
    actor: Actor

    def invoice(self, number: str | None) -> Invoice:
        return invoice(self.unit, number)


class GiftCardTender:
    """Gift cards as a tender: a plan for a card that the caller's unit of work has locked."""

    def __init__(self, accounts: CardAccounts) -> None:
        self.accounts = accounts

    def plan_spend(
        self,
        unit: UnitOfWork,
        card: CardRow,
        program: Program,
        amount: int,
        *,
        accounts: ProgramAccounts,
        actor: Actor,
        invoice_number: str | None = None,
        invoice_claimed: bool = False,
        take_what_is_there: bool = False,
        reference: str | None = None,
    ) -> Plan:
        """Pay `amount` of a sale or a check with the card, without writing anything.

        The card's row is locked in `unit` and its PIN was checked before it;
        `accounts` were opened before it (CardAccounts.of_program). The plan
        holds the spend's transfer, and the operation's log row, which names
        `unit.entry_id`. `invoice_claimed`: the caller (a check) claimed the
        invoice number in this unit already, for itself and the card alike.
        Errors: as GiftCardService.spend.
        """
        assert accounts.program_id == program.id
        facts = card_facts(unit, self.accounts, card, program)
        return plans.spend(
            facts,
            accounts,
            actor,
            amount,
            Invoice(number=invoice_number) if invoice_claimed else invoice(unit, invoice_number),
            take_what_is_there=take_what_is_there,
            reference=reference,
        )

    @staticmethod
    def lock_card(unit: UnitOfWork, card_id: uuid.UUID) -> CardRow:
        """The card's row, locked in `unit` (in the global order: after memberships)."""
        return repository.lock_card(unit, card_id)

    @staticmethod
    def operations_of(plan: Plan) -> tuple[CardOperation, ...]:
        """The card operations a gift card plan logs (its answer once committed)."""
        return plans.operations_of(plan)

    @staticmethod
    def check_landed(plan: Plan, result: EntryResult | None) -> None:
        """Assert that the committed entry did what the gift card plan foresaw."""
        plans.check_landed(plan, result)
