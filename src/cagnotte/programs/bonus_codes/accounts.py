"""The ledger accounts of bonus campaigns, opened on first use.

- the campaign's `campaign_escrow` (merchant ledger, owner the campaign): holds
  the funds from funding until they are credited to customers or leave at
  settlement; never below zero;
- the merchant's `business` account (merchant ledger): the merchant's money at
  the platform, never below zero;
- the platform's `bank` (what is in the platform's bank account: debited by
  incoming bank payments, credited by payouts), `suspense` (payments whose
  reference matched nothing) and `payouts_pending` (rest owed to a bank
  account until the operator records it paid);
- the customer's platform `wallet` (platform ledger, owner the customer).

Outside a transaction an account is opened in one of its own and remembered,
so the use cases open theirs before their unit of work begins: on SQLite that
transaction would otherwise wait for the unit's write lock.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection

from cagnotte.db.tables import PLATFORM_MERCHANT_ID
from cagnotte.ledger import AccountSpec, Ledger
from cagnotte.ledger.model import Account, Balance
from cagnotte.programs.bonus_codes.rows import Campaign


def escrow_spec(campaign_id: uuid.UUID, asset_code: str) -> AccountSpec:
    return AccountSpec(
        asset_code=asset_code,
        owner_type="campaign",
        owner_id=campaign_id,
        purpose="campaign_escrow",
        debits_must_not_exceed_credits=True,
    )


class BonusAccounts:
    """Opens (or finds) the accounts bonus campaigns move value between."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def escrow(
        self,
        merchant_id: uuid.UUID,
        campaign_id: uuid.UUID,
        asset_code: str,
        connection: Connection,
    ) -> Account:
        """A new campaign's escrow, opened in the transaction that stores the campaign."""
        return self.ledger.open_account(
            merchant_id, escrow_spec(campaign_id, asset_code), connection
        )

    def business(self, merchant_id: uuid.UUID, asset_code: str) -> Account:
        return self.ledger.open_account(
            merchant_id,
            AccountSpec(
                asset_code=asset_code,
                owner_type="merchant",
                owner_id=merchant_id,
                purpose="business",
                debits_must_not_exceed_credits=True,
            ),
        )

    def platform(self, purpose: str, asset_code: str) -> Account:
        """One of the platform's accounts; only `bank` may go below zero."""
        assert purpose in ("bank", "suspense", "payouts_pending")
        return self.ledger.open_account(
            PLATFORM_MERCHANT_ID,
            AccountSpec(
                asset_code=asset_code,
                owner_type="platform",
                owner_id=PLATFORM_MERCHANT_ID,
                purpose=purpose,
                debits_must_not_exceed_credits=purpose != "bank",
            ),
        )

    def customer_wallet(self, customer_id: uuid.UUID, asset_code: str) -> Account:
        """The customer's platform wallet, which bonus codes credit."""
        return self.ledger.open_account(
            PLATFORM_MERCHANT_ID,
            AccountSpec(
                asset_code=asset_code,
                owner_type="customer",
                owner_id=customer_id,
                purpose="wallet",
                debits_must_not_exceed_credits=True,
            ),
        )

    def escrow_balance(self, campaign: Campaign, connection: Connection) -> Balance:
        """The campaign escrow's counters: credits posted is what funded it."""
        escrow = self.ledger.get_account(
            campaign.merchant_id, campaign.escrow_account_id, connection
        )
        return self.ledger.balance(escrow, connection)
