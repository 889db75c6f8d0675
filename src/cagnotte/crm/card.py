"""The customer card (fiche client): what a merchant knows of one member, in one answer.

Everything comes from the ledger and the recorded checks, so it is right after
refunds:

- per currency of the member's checks: `visits` (checks not wholly refunded),
  `last_visit_at`, `total_spent_minor` (gross − discounts − refunded) and
  `average_basket_minor` (total spent / visits, rounded half up);
- per loyalty program (not deleted): the balance in the ledger, what is
  pending (earned, not yet spendable), the stamps on the current card, the
  soonest expiring lots, and the rewards received on the member's checks (a
  stamp card's rewards: how many and their value; those of wholly refunded
  checks do not count);
- open credits: the member's wallets (store credit) and the gift cards
  registered to them, with their balances; and `open_credits`, the vouchers,
  next-purchase discounts and loyalty credit checks issued them that are still
  usable (checkout/credits.py): per kind, how many and the value left;
- the latest checks (the history goes on in `GET /v1/checks?customer_id=`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select

from cagnotte.checkout.credits import open_summary
from cagnotte.checkout.tables import check_effects, checks
from cagnotte.crm.service import CustomerService
from cagnotte.db.engine import Database
from cagnotte.ledger import Ledger
from cagnotte.money import Rounding, divide
from cagnotte.programs.loyalty.admin import LoyaltyPrograms, member_account_among
from cagnotte.programs.loyalty.program import ProgramKind
from cagnotte.security.principals import Principal

# The soonest expiring lots and the latest checks shown.
EXPIRING_SHOWN = 3
RECENT_CHECKS_SHOWN = 10


@dataclass(frozen=True, slots=True)
class Spending:
    currency: str
    visits: int
    last_visit_at: datetime | None
    total_spent_minor: int
    refunded_minor: int

    @property
    def average_basket_minor(self) -> int:
        return divide(self.total_spent_minor, self.visits, Rounding.HALF_UP) if self.visits else 0


@dataclass(frozen=True, slots=True)
class ProgramStanding:
    program_id: uuid.UUID
    name: str
    kind: str
    status: str
    asset_code: str
    balance_units: int
    pending_units: int
    stamps_on_card: int | None
    card_size: int | None
    expiring: list[tuple[int, datetime]]
    rewards_received: int
    rewards_value_minor: int


@dataclass(frozen=True, slots=True)
class CustomerCard:
    customer: dict[str, Any]
    spending: list[Spending]
    programs: list[ProgramStanding]
    wallets: list[tuple[str, int]]
    gift_cards: list[dict[str, Any]]
    recent_checks: list[dict[str, Any]]
    # Per kind (voucher, next_purchase, credit): how many are usable, and the value left.
    open_credits: list[tuple[str, int, int]] = field(default_factory=list)


class CustomerCards:
    def __init__(
        self,
        database: Database,
        ledger: Ledger,
        customers: CustomerService,
        loyalty: LoyaltyPrograms,
        gift_cards: Any | None = None,
    ) -> None:
        self.database = database
        self.ledger = ledger
        self.customers = customers
        self.loyalty = loyalty
        self.gift_cards = gift_cards

    def card(self, caller: Principal, membership_id: uuid.UUID) -> CustomerCard:
        caller.require("cashier")
        merchant_id = caller.merchant_id
        with self.database.read() as connection:  # one snapshot for every figure
            customer = self.customers.get(caller, membership_id)
            accounts = self.ledger.find_accounts(merchant_id, "membership", membership_id)
            spending = [
                Spending(
                    row.currency,
                    int(row.visits),
                    row.last_visit_at,
                    int(row.spent),
                    int(row.refunded),
                )
                for row in connection.execute(
                    select(
                        checks.c.currency,
                        func.sum(case((checks.c.status == "refunded", 0), else_=1)).label("visits"),
                        func.max(checks.c.occurred_at).label("last_visit_at"),
                        func.sum(
                            checks.c.gross_minor - checks.c.discount_minor - checks.c.refunded_minor
                        ).label("spent"),
                        func.sum(checks.c.refunded_minor).label("refunded"),
                    )
                    .where(
                        checks.c.merchant_id == merchant_id, checks.c.membership_id == membership_id
                    )
                    .group_by(checks.c.currency)
                    .order_by(checks.c.currency)
                )
            ]
            rewards = {
                row.program_id: (int(row.count), int(row.value))
                for row in connection.execute(
                    select(
                        check_effects.c.program_id,
                        func.count().label("count"),
                        func.coalesce(func.sum(check_effects.c.value_minor), 0).label("value"),
                    )
                    .join(
                        checks,
                        and_(
                            checks.c.merchant_id == check_effects.c.merchant_id,
                            checks.c.id == check_effects.c.check_id,
                        ),
                    )
                    .where(
                        check_effects.c.merchant_id == merchant_id,
                        checks.c.membership_id == membership_id,
                        checks.c.status != "refunded",
                        check_effects.c.kind == "reward",
                    )
                    .group_by(check_effects.c.program_id)
                )
            }
            programs = []
            for program in self.loyalty.programs_for_checks(merchant_id):
                account = member_account_among(accounts, program, membership_id)
                balance = self.ledger.balance(account, connection) if account else None
                units = balance.credit_balance if balance else 0
                size = program.stamp_card.size if program.kind == ProgramKind.STAMPS else None
                count, value = rewards.get(program.id, (0, 0))
                programs.append(
                    ProgramStanding(
                        program_id=program.id,
                        name=program.name,
                        kind=program.kind.value,
                        status=program.status.value,
                        asset_code=program.asset_code,
                        balance_units=units,
                        pending_units=balance.credits_pending if balance else 0,
                        stamps_on_card=units % size if size else None,
                        card_size=size,
                        expiring=self.ledger.expiring_lots(
                            account, self.loyalty.clock.now(), EXPIRING_SHOWN, connection
                        )
                        if account
                        else [],
                        rewards_received=count,
                        rewards_value_minor=value,
                    )
                )
            wallets = [
                (account.asset_code, self.ledger.balance(account, connection).available)
                for account in accounts
                if account.purpose == "wallet"
            ]
            recent = [
                dict(row)
                for row in connection.execute(
                    select(checks)
                    .where(
                        checks.c.merchant_id == merchant_id, checks.c.membership_id == membership_id
                    )
                    .order_by(checks.c.occurred_at.desc(), checks.c.id.desc())
                    .limit(RECENT_CHECKS_SHOWN)
                ).mappings()
            ]
            credits = open_summary(connection, merchant_id, membership_id, self.loyalty.clock.now())
        cards = (
            self.gift_cards.registered_cards(caller, membership_id)
            if self.gift_cards is not None
            else []
        )
        return CustomerCard(customer, spending, programs, wallets, cards, recent, credits)
