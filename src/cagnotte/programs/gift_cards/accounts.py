"""The ledger accounts of gift cards: one per card, and the program's and merchant's.

- a card's own account (owner_type 'gift_card', purpose 'gift_card'): never
  below zero;
- the program's `gift_card_issuance` account, the other side of every load
  (unlimited; its debit balance is what the program has issued);
- the merchant's `settlement` account (the hot, sharded one the wallets use),
  which receives spends;
- the merchant's `breakage`, `gift_card_promotions` and `adjustments` accounts:
  what expired cards held, profile bonuses, manual corrections.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection

from cagnotte.ledger import AccountSpec, Balance, Ledger
from cagnotte.ledger.model import Account
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.rows import CardRow
from cagnotte.programs.wallets import SETTLEMENT_SHARDS

ISSUANCE_SHARDS = 16


@dataclass(frozen=True, slots=True)
class ProgramAccounts:
    """The accounts a program's operations move value between, besides the cards'."""

    program_id: uuid.UUID
    issuance: Account
    settlement: Account
    breakage: Account
    promotions: Account
    adjustments: Account


class CardAccounts:
    """Opens the accounts of gift cards and reads a card's balance."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def of_program(self, program: Program) -> ProgramAccounts:
        """The program's and merchant's accounts, opened before a unit of work needs them.

        Opened inside an operation's transaction, a shared account could be
        remembered by the ledger's cache and then rolled back; opened here, in
        transactions of their own, they exist for good (and are cached after that).
        """
        return ProgramAccounts(
            program_id=program.id,
            issuance=self.ledger.open_account(
                program.merchant_id,
                AccountSpec(
                    asset_code=program.asset_code,
                    owner_type="program",
                    owner_id=program.id,
                    purpose="gift_card_issuance",
                    balance_shards=ISSUANCE_SHARDS,
                ),
            ),
            settlement=self._merchant_account(program, "settlement"),
            breakage=self._merchant_account(program, "breakage"),
            promotions=self._merchant_account(program, "gift_card_promotions"),
            adjustments=self._merchant_account(program, "adjustments"),
        )

    def open_card_account(
        self, program: Program, card_id: uuid.UUID, connection: Connection
    ) -> Account:
        """A new card's account, in the transaction that inserts the card.

        The card's id is new, so a rolled-back transaction leaves nothing to reuse.
        """
        return self.ledger.open_account(
            program.merchant_id,
            AccountSpec(
                asset_code=program.asset_code,
                owner_type="gift_card",
                owner_id=card_id,
                purpose="gift_card",
                debits_must_not_exceed_credits=True,
            ),
            connection,
        )

    def balance(self, card: CardRow, connection: Connection | None = None) -> Balance:
        return self.ledger.balance(card_account(card), connection)

    def _merchant_account(self, program: Program, purpose: str) -> Account:
        shards = SETTLEMENT_SHARDS if purpose == "settlement" else 1
        return self.ledger.open_account(
            program.merchant_id,
            AccountSpec(
                asset_code=program.asset_code,
                owner_type="merchant",
                owner_id=program.merchant_id,
                purpose=purpose,
                balance_shards=shards,
            ),
        )


def card_account(card: CardRow) -> Account:
    """The card's account, enough of it for a balance query: its ids.

    The flags are the card's own (never below zero); the asset is not needed.
    """
    return Account(
        merchant_id=card.merchant_id,
        id=card.account_id,
        asset_code="",
        owner_type="gift_card",
        owner_id=card.id,
        purpose="gift_card",
        debits_must_not_exceed_credits=True,
        credits_must_not_exceed_debits=False,
        uses_lots=False,
        balance_shards=1,
        frozen=False,
        created_at=card.created_at,
    )
