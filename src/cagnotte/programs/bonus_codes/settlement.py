"""Settlement: after the validity (or a stop) the unused rest leaves the escrow.

The rest goes back to the merchant's business account, or waits as a payout
on the platform's `payouts_pending` until the operator records it paid to the
merchant's bank. The plain codes of a closed campaign are wiped, and so are
any kept longer than PLAIN_CODES_KEPT.

Errors: forbidden, payout_not_found, payout_already_paid, idempotency_key_reused.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace

from cagnotte import errors
from cagnotte.db.pages import FIRST_PAGE, Page, PageRequest
from cagnotte.db.tables import PLATFORM_MERCHANT_ID
from cagnotte.db.unit_of_work import Idempotency, UnitOfWork
from cagnotte.ledger import Transfer
from cagnotte.programs.bonus_codes import repository
from cagnotte.programs.bonus_codes.context import PLAIN_CODES_KEPT, BonusContext
from cagnotte.programs.bonus_codes.rows import Campaign, Payout, as_json, from_json
from cagnotte.programs.bonus_codes.tables import bonus_campaigns, bonus_payouts
from cagnotte.programs.tenders import Plan, RowInsert, RowUpdate, commit_plans
from cagnotte.security.principals import Principal
from cagnotte.webhooks.service import emit


class Settlement:
    def __init__(self, context: BonusContext) -> None:
        self.context = context

    def destination(self, campaign: Campaign) -> uuid.UUID:
        """The account the campaign's rest goes to (opened before a unit of work)."""
        accounts = self.context.accounts
        if campaign.rest_destination == "business_account":
            return accounts.business(campaign.merchant_id, campaign.asset_code).id
        return accounts.platform("payouts_pending", campaign.asset_code).id

    def plan_settlement(self, unit: UnitOfWork, campaign: Campaign, destination: uuid.UUID) -> Plan:
        """What is left in the escrow to its destination; the campaign closed.

        A campaign that never got all its funds is cancelled, any other settled.
        """
        rest = self.context.accounts.escrow_balance(campaign, unit.connection).credit_balance
        final_status = (
            "cancelled" if campaign.status in ("awaiting_funding", "cancelled") else "settled"
        )
        rows: list[RowInsert | RowUpdate] = [
            RowUpdate(
                bonus_campaigns,
                campaign.id,
                {
                    "status": final_status,
                    "settled_at": unit.now,
                    "rest_minor": rest,
                },
            )
        ]
        if rest == 0:
            return Plan("bonus_campaign", row_changes=tuple(rows))
        to_bank = campaign.rest_destination == "bank"
        transfer = Transfer(
            campaign.escrow_account_id,
            destination,
            rest,
            "campaign_rest_payout" if to_bank else "campaign_rest_refund",
            reference=campaign.variable_symbol,
        )
        if to_bank:
            rows.append(
                RowInsert(
                    bonus_payouts,
                    {
                        "id": uuid.uuid4(),
                        "campaign_id": campaign.id,
                        "asset_code": campaign.asset_code,
                        "amount_minor": rest,
                        "bank_account": campaign.bank_account,
                        "status": "pending",
                        "created_at": unit.now,
                    },
                )
            )
        return Plan("bonus_campaign", (transfer,), tuple(rows), amount=rest)

    def settle_in(
        self,
        unit: UnitOfWork,
        campaign: Campaign,
        destination: uuid.UUID,
        before: Sequence[Plan] = (),
    ) -> None:
        """Settle the (locked) campaign in this unit, after the plans `before` it."""
        plan = self.plan_settlement(unit, campaign, destination)
        commit_plans(
            self.context.ledger,
            unit,
            [*before, plan],
            kind="campaign_settlement",
            also_platform=True,
        )
        emit(
            unit.connection,
            campaign.merchant_id,
            "campaign.settled",
            {
                "campaign_id": str(campaign.id),
                "asset": campaign.asset_code,
                "returned_minor": plan.amount,
            },
            now=unit.now,
        )
        # Nothing needs the plain codes of a closed campaign.
        repository.wipe_plain_codes_of(unit.connection, campaign, unit.now)

    def settle_due_campaigns(self) -> int:
        """The job: campaigns past their validity, or stopped, give back their rest."""
        with self.context.database.read() as connection:
            due = repository.due_campaigns(connection, self.context.clock.now())
        for merchant_id, campaign_id in due:
            self._settle(merchant_id, campaign_id)
        return len(due)

    def _settle(self, merchant_id: uuid.UUID, campaign_id: uuid.UUID) -> None:
        with self.context.database.read() as connection:
            campaign = repository.campaign(connection, merchant_id, campaign_id)
        assert campaign is not None
        destination = self.destination(campaign)

        def work(unit: UnitOfWork) -> None:
            locked = repository.lock_campaign(unit, campaign_id)
            # Another run of the job may have settled it meanwhile.
            if not locked.is_closed:
                self.settle_in(unit, locked, destination)

        self.context.units.run(merchant_id, "campaign_settlement", work)

    def wipe_old_plain_codes(self) -> int:
        """The job: plain codes kept longer than PLAIN_CODES_KEPT go, downloaded or not."""
        return self.context.units.run(
            PLATFORM_MERCHANT_ID,
            "bonus_plain_codes_wipe",
            lambda unit: repository.wipe_plain_codes_made_before(
                unit.connection, unit.now - PLAIN_CODES_KEPT, unit.now
            ),
        )

    # Payouts -----------------------------------------------------------------------

    def list_payouts(
        self, caller: Principal, status: str | None, page: PageRequest = FIRST_PAGE
    ) -> Page[Payout]:
        """The operator sees every merchant's payouts; a manager their merchant's. Newest
        first."""
        if not caller.is_operator:
            caller.require("manager")
        merchant_id = None if caller.is_operator else caller.merchant_id
        with self.context.database.read() as connection:
            return repository.payouts_listed(connection, merchant_id, status, page)

    def mark_payout_paid(
        self, caller: Principal, payout_id: uuid.UUID, idempotency: Idempotency = Idempotency()
    ) -> Payout:
        """The operator records that the rest was sent to the merchant's bank."""
        if not caller.is_operator:
            raise errors.Forbidden("Only the operator records payouts.")
        with self.context.database.read() as connection:
            payout = repository.payout_of_any_merchant(connection, payout_id)
        if payout is None:
            raise errors.PayoutNotFound()
        clearing = self.context.accounts.platform("payouts_pending", payout.asset_code)
        bank = self.context.accounts.platform("bank", payout.asset_code)
        # The operator's Idempotency-Keys are the platform's, whichever merchant it acts for.
        return self.context.units.run(
            PLATFORM_MERCHANT_ID,
            "bank_payout",
            lambda unit: self._pay_out_in(unit, caller, payout, clearing.id, bank.id),
            idempotency=idempotency,
            encode=as_json,
            replay=lambda _unit, stored: from_json(Payout, stored.answer or {}),
        )

    def _pay_out_in(
        self,
        unit: UnitOfWork,
        caller: Principal,
        payout: Payout,
        clearing: uuid.UUID,
        bank: uuid.UUID,
    ) -> Payout:
        # The payout is the merchant's row; the money moves between the platform's accounts.
        for_merchant = unit.acting_for(payout.merchant_id)
        locked = repository.lock_payout(for_merchant, payout.id)
        assert locked is not None, "payouts are never deleted"
        if locked.status == "paid":
            raise errors.PayoutAlreadyPaid()
        paid = replace(locked, status="paid", paid_at=unit.now, paid_by=caller.actor)
        commit_plans(
            self.context.ledger,
            unit,
            [
                Plan(
                    "bank",
                    (
                        Transfer(
                            clearing,
                            bank,
                            paid.amount_minor,
                            "bank_payout",
                            reference=paid.bank_account,
                        ),
                    ),
                    amount=paid.amount_minor,
                )
            ],
            kind="bank_payout",
        )
        commit_plans(
            self.context.ledger,
            for_merchant,
            [
                Plan(
                    "bonus_payout",
                    row_changes=(
                        RowUpdate(
                            bonus_payouts,
                            paid.id,
                            {
                                "status": paid.status,
                                "paid_at": paid.paid_at,
                                "paid_by": paid.paid_by,
                            },
                        ),
                    ),
                )
            ],
            kind="bank_payout",
        )
        stored = repository.payout_of_any_merchant(unit.connection, paid.id)
        assert stored is not None
        return stored
