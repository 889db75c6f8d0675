"""A promotion's budget: a ledger account of its own, which pays the promotion's awards.

A rule with `budget_units` gets an account (owner the rule, purpose
'loyalty_budget', the program's asset) that may not go below zero, funded
from the program's issuance account. Its awards are transfers from that
account to the member instead of from the issuance account, so the ledger
itself refuses to give more than the budget, whatever runs in parallel; the
commit reads what is left under the rule's lock and cuts the awards to it, so
a check near the end of a budget earns what is left instead of failing. A
refund reverses the award's transfer, which gives the units back to the
budget. Changing the budget moves the difference; taking it away (no
`budget_units`) gives what is left back to the issuance account.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from cagnotte.db.tables import account_balances
from cagnotte.ledger import Transfer
from cagnotte.ledger.model import AccountSpec
from cagnotte.programs.loyalty.program import LoyaltyProgram
from cagnotte.programs.loyalty.tables import loyalty_rule_budgets


def budget_account_spec(program: LoyaltyProgram, rule_id: uuid.UUID) -> AccountSpec:
    return AccountSpec(
        asset_code=program.asset_code,
        owner_type="loyalty_rule",
        owner_id=rule_id,
        purpose="loyalty_budget",
        debits_must_not_exceed_credits=True,
    )


@dataclass(frozen=True, slots=True)
class Budget:
    """A promotion's budget account and what it still holds (holds counted)."""

    rule_id: uuid.UUID
    account_id: uuid.UUID
    funded_units: int
    left_units: int

    @property
    def given_units(self) -> int:
        """What its awards took, less what refunds gave back."""
        return self.funded_units - self.left_units


def budgets_of(
    connection: Connection, merchant_id: uuid.UUID, rule_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Budget]:
    """The budgets of these rules (those that have one), read in the caller's transaction."""
    ids = sorted(set(rule_ids))
    if not ids:
        return {}
    # Balance.available of the budget's account (by its index, for these rules only).
    available = (
        select(
            func.coalesce(
                func.sum(
                    account_balances.c.credits_posted
                    - account_balances.c.debits_posted
                    - account_balances.c.debits_pending
                ),
                0,
            )
        )
        .where(
            account_balances.c.merchant_id == loyalty_rule_budgets.c.merchant_id,
            account_balances.c.account_id == loyalty_rule_budgets.c.account_id,
        )
        .scalar_subquery()
        .label("available")
    )
    rows = connection.execute(
        select(loyalty_rule_budgets, available).where(
            loyalty_rule_budgets.c.merchant_id == merchant_id,
            loyalty_rule_budgets.c.rule_id.in_(ids),
        )
    ).mappings()
    return {
        row["rule_id"]: Budget(
            rule_id=row["rule_id"],
            account_id=row["account_id"],
            funded_units=row["funded_units"],
            left_units=int(row["available"] or 0),
        )
        for row in rows
    }


def budget_change(
    connection: Connection,
    merchant_id: uuid.UUID,
    rule_id: uuid.UUID,
    *,
    account_id: uuid.UUID,
    issuance_account_id: uuid.UUID,
    budget_units: int | None,
) -> Transfer | None:
    """The transfer that brings the rule's budget to `budget_units` in all (None: no budget).

    What the awards already took counts: a budget of 1 000 of which 300 were
    given, changed to 800, keeps 500; changed to 200, keeps none. Writes the
    funded total; the caller posts the transfer in the same unit of work,
    under the rule's lock.
    """
    budget = budgets_of(connection, merchant_id, [rule_id]).get(rule_id)
    given = budget.given_units if budget is not None else 0
    left = budget.left_units if budget is not None else 0
    target_left = max(0, (budget_units or 0) - given)
    funded = given + target_left
    if budget is None:
        if budget_units is None:
            return None
        connection.execute(
            insert(loyalty_rule_budgets).values(
                merchant_id=merchant_id, rule_id=rule_id, account_id=account_id, funded_units=funded
            )
        )
    else:
        connection.execute(
            update(loyalty_rule_budgets)
            .where(
                loyalty_rule_budgets.c.merchant_id == merchant_id,
                loyalty_rule_budgets.c.rule_id == rule_id,
            )
            .values(funded_units=funded)
        )
    if target_left > left:
        return Transfer(issuance_account_id, account_id, target_left - left, "loyalty_budget")
    if target_left < left:
        return Transfer(account_id, issuance_account_id, left - target_left, "loyalty_budget")
    return None
