"""Funding: the merchant pays V × N into the campaign's escrow; then its codes exist.

Money comes from the merchant's business account at once, or by bank transfer
with the campaign's variable symbol, which the operator records. A payment
that completes the funds activates the campaign in the same unit of work: its
codes are drawn, stored as keyed hashes, and mailed once it has committed.

The operator's use cases keep their Idempotency-Key among the platform's own
(whichever merchant they touch), so a key reused with another body is refused
even when that body names another campaign.

Errors: forbidden, asset_not_found, asset_mismatch, invalid_input, not_found,
campaign_not_found, campaign_not_awaiting_funding, insufficient_funds,
bank_payment_not_found, bank_payment_already_assigned, idempotency_key_reused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.db.pages import FIRST_PAGE, Page, PageRequest
from cagnotte.db.tables import PLATFORM_MERCHANT_ID
from cagnotte.db.unit_of_work import Idempotency, StoredAnswer, UnitOfWork
from cagnotte.ledger import Transfer
from cagnotte.programs.bonus_codes import repository
from cagnotte.programs.bonus_codes.campaigns import Campaigns, CampaignView
from cagnotte.programs.bonus_codes.codes import LAST_CHARACTERS_SHOWN, code_hash, new_codes
from cagnotte.programs.bonus_codes.context import BonusContext
from cagnotte.programs.bonus_codes.delivery import Delivery
from cagnotte.programs.bonus_codes.rows import BankPayment, Campaign, as_json, from_json
from cagnotte.programs.bonus_codes.tables import bonus_campaigns
from cagnotte.programs.tenders import Plan, RowUpdate, commit_plans
from cagnotte.security.hash_keys import HashKeys
from cagnotte.security.principals import Principal
from cagnotte.webhooks.service import emit

# A code equal to one of another campaign is about one in 10^9 per code: a set
# drawn again is all but sure to be free.
CODE_DRAWS_MAX = 3


@dataclass(frozen=True, slots=True)
class PaymentSplit:
    """How money for a campaign divides: what it still needs, and the excess."""

    to_campaign_minor: int
    to_business_minor: int
    completes_funding: bool


def split_payment(campaign: Campaign, funded_minor: int, amount_minor: int) -> PaymentSplit:
    """What of `amount_minor` the campaign still needs; the rest is the merchant's.

    Only a campaign waiting for its funds needs any: a payment for a funded or
    closed one goes whole to the business account.
    """
    outstanding = 0
    if campaign.status == "awaiting_funding":
        outstanding = max(campaign.funding_required_minor - funded_minor, 0)
    to_campaign = min(amount_minor, outstanding)
    return PaymentSplit(
        to_campaign_minor=to_campaign,
        to_business_minor=amount_minor - to_campaign,
        completes_funding=(
            campaign.status == "awaiting_funding"
            and funded_minor + to_campaign >= campaign.funding_required_minor
        ),
    )


def plan_funding(
    campaign: Campaign, split: PaymentSplit, source: uuid.UUID, business: uuid.UUID
) -> Plan:
    """The transfers of a split: into the escrow, and any excess to the business account."""
    operations = []
    if split.to_campaign_minor:
        operations.append(
            Transfer(
                source,
                campaign.escrow_account_id,
                split.to_campaign_minor,
                "campaign_funding",
                reference=campaign.variable_symbol,
            )
        )
    if split.to_business_minor:
        operations.append(
            Transfer(
                source,
                business,
                split.to_business_minor,
                "bank_overpayment",
                reference=campaign.variable_symbol,
            )
        )
    return Plan(
        "bonus_campaign",
        tuple(operations),
        amount=split.to_campaign_minor + split.to_business_minor,
    )


def plan_activation(campaign: Campaign, now: datetime) -> Plan:
    """A fully funded campaign becomes active (its codes are written beside the plan)."""
    return Plan(
        "bonus_campaign",
        row_changes=(
            RowUpdate(bonus_campaigns, campaign.id, {"status": "active", "funded_at": now}),
        ),
    )


@dataclass(frozen=True, slots=True)
class IncomingPayment:
    """A bank payment as the operator reports it."""

    asset_code: str
    amount_minor: int
    variable_symbol: str | None
    received_at: datetime | None
    note: str | None


class Funding:
    def __init__(self, context: BonusContext, campaigns: Campaigns, delivery: Delivery) -> None:
        self.context = context
        self.campaigns = campaigns
        self.delivery = delivery

    # From the business account -----------------------------------------------------

    def fund_from_business_account(
        self, caller: Principal, campaign_id: uuid.UUID, idempotency: Idempotency
    ) -> CampaignView:
        """Move what is still needed from the merchant's business account, at once."""
        caller.require("manager")
        keys = self.context.code_keys()
        with self.context.database.read() as connection:
            campaign = repository.campaign(connection, caller.merchant_id, campaign_id)
        if campaign is None:
            raise errors.CampaignNotFound()
        business = self.context.accounts.business(caller.merchant_id, campaign.asset_code).id
        return self.context.units.run(
            caller.merchant_id,
            "campaign_funding",
            lambda unit: self._fund_from_business_in(unit, campaign_id, business, keys),
            idempotency=idempotency,
            encode=as_json,
            replay=_replayed_view,
        )

    def _fund_from_business_in(
        self, unit: UnitOfWork, campaign_id: uuid.UUID, business: uuid.UUID, keys: HashKeys
    ) -> CampaignView:
        campaign = repository.lock_campaign(unit, campaign_id)
        if campaign.status != "awaiting_funding":
            raise errors.CampaignNotAwaitingFunding()
        funded = self.context.accounts.escrow_balance(campaign, unit.connection).credits_posted
        self._fund(
            unit,
            campaign,
            business,
            business,
            campaign.funding_required_minor - funded,
            "campaign_funding",
            keys,
        )
        refreshed = repository.campaign(unit.connection, unit.merchant_id, campaign_id)
        assert refreshed is not None
        return self.campaigns.view(unit.connection, refreshed)

    # By bank transfer ------------------------------------------------------------------

    def record_bank_payment(
        self, caller: Principal, payment: IncomingPayment, idempotency: Idempotency
    ) -> BankPayment:
        """The operator records money that reached the platform's bank account.

        Matched by variable symbol to a campaign waiting for funds: what it still
        needs goes to its escrow, any excess to the merchant's business account.
        A payment for a funded or closed campaign goes to the business account;
        an unknown reference is parked in suspense for the operator.
        """
        if not caller.is_operator:
            raise errors.Forbidden("Only the operator records bank payments.")
        with self.context.database.read() as connection:
            if not repository.is_currency(connection, payment.asset_code):
                raise errors.AssetNotFound()
            campaign = None
            if payment.variable_symbol:
                campaign = repository.campaign_by_symbol(
                    connection, payment.variable_symbol, payment.asset_code
                )
        keys = self.context.code_keys()
        accounts = self.context.accounts
        bank = accounts.platform("bank", payment.asset_code).id
        # A matched payment's excess goes to the business account, an unmatched one to suspense.
        other = (
            accounts.business(campaign.merchant_id, payment.asset_code).id
            if campaign
            else accounts.platform("suspense", payment.asset_code).id
        )
        return self.context.units.run(
            PLATFORM_MERCHANT_ID,
            "bank_payment",
            lambda unit: self._record_in(unit, caller, payment, campaign, bank, other, keys),
            idempotency=idempotency,
            encode=as_json,
            replay=_replayed_payment,
        )

    def _record_in(
        self,
        unit: UnitOfWork,
        caller: Principal,
        payment: IncomingPayment,
        campaign: Campaign | None,
        bank: uuid.UUID,
        other: uuid.UUID,
        keys: HashKeys,
    ) -> BankPayment:
        merchant_id = campaign_id = None
        to_campaign = to_business = 0
        if campaign is None:
            commit_plans(
                self.context.ledger,
                unit,
                [
                    Plan(
                        "bank",
                        (
                            Transfer(
                                bank,
                                other,
                                payment.amount_minor,
                                "bank_payment_parked",
                                reference=payment.variable_symbol,
                            ),
                        ),
                        amount=payment.amount_minor,
                    )
                ],
                kind="bank_payment",
                also_platform=True,
            )
        else:
            for_merchant = unit.acting_for(campaign.merchant_id)
            locked = repository.lock_campaign(for_merchant, campaign.id)
            split = self._fund(
                for_merchant, locked, bank, other, payment.amount_minor, "bank_payment", keys
            )
            merchant_id, campaign_id = campaign.merchant_id, campaign.id
            to_campaign, to_business = split.to_campaign_minor, split.to_business_minor
        recorded = BankPayment(
            id=uuid.uuid4(),
            asset_code=payment.asset_code,
            amount_minor=payment.amount_minor,
            variable_symbol=payment.variable_symbol,
            received_at=payment.received_at or unit.now,
            note=payment.note,
            status="unmatched" if campaign is None else "matched",
            merchant_id=merchant_id,
            campaign_id=campaign_id,
            to_campaign_minor=to_campaign,
            to_business_minor=to_business,
            recorded_by=caller.actor,
            created_at=unit.now,
        )
        repository.insert_bank_payment(unit.connection, recorded)
        # Read back, so that the first answer is the one a later read gives (moments in UTC).
        stored = repository.bank_payment(unit.connection, recorded.id)
        assert stored is not None
        return stored

    def assign_bank_payment(
        self,
        caller: Principal,
        payment_id: uuid.UUID,
        *,
        campaign_id: uuid.UUID | None,
        merchant_id: uuid.UUID | None,
        idempotency: Idempotency = Idempotency(),
    ) -> BankPayment:
        """The operator gives a parked payment to a campaign or a merchant's business account."""
        if not caller.is_operator:
            raise errors.Forbidden("Only the operator assigns bank payments.")
        keys = self.context.code_keys()
        target = self._assignment_target(payment_id, campaign_id, merchant_id)
        return self.context.units.run(
            PLATFORM_MERCHANT_ID,
            "bank_payment_assigned",
            lambda unit: self._assign_in(unit, payment_id, target, keys),
            idempotency=idempotency,
            encode=as_json,
            replay=_replayed_payment,
        )

    def _assignment_target(
        self,
        payment_id: uuid.UUID,
        campaign_id: uuid.UUID | None,
        merchant_id: uuid.UUID | None,
    ) -> _Assignment:
        """Where a parked payment is to go, its accounts opened before the unit of work.

        Nothing is refused here: the unit checks it all under its locks, in the
        order the errors take precedence (or replays a first answer).
        """
        with self.context.database.read() as connection:
            payment = repository.bank_payment(connection, payment_id)
            campaign = None
            if campaign_id is not None:
                campaign = repository.campaign_of_any_merchant(connection, campaign_id)
            if campaign is not None:
                merchant_id = campaign.merchant_id
            merchant_known = merchant_id is not None and repository.merchant_exists(
                connection, merchant_id
            )
        target = _Assignment(campaign_id, campaign, merchant_id)
        if payment is None or payment.status != "unmatched":
            return target
        accounts = self.context.accounts
        return _Assignment(
            campaign_id,
            campaign,
            merchant_id,
            suspense=accounts.platform("suspense", payment.asset_code).id,
            business=(
                accounts.business(merchant_id, payment.asset_code).id
                if merchant_known and merchant_id
                else None
            ),
        )

    def _assign_in(
        self, unit: UnitOfWork, payment_id: uuid.UUID, target: _Assignment, keys: HashKeys
    ) -> BankPayment:
        # LOCK_ORDER: the campaign before the payment.
        for_merchant = unit.acting_for(target.merchant_id) if target.merchant_id else unit
        campaign = target.campaign and repository.lock_campaign(for_merchant, target.campaign.id)
        payment = repository.lock_bank_payment(unit, payment_id)
        if payment is None:
            raise errors.BankPaymentNotFound()
        if payment.status != "unmatched":
            raise errors.BankPaymentAlreadyAssigned()
        if target.campaign_id is not None and campaign is None:
            raise errors.CampaignNotFound()
        if campaign is not None and campaign.asset_code != payment.asset_code:
            raise errors.AssetMismatch()
        if target.merchant_id is None:
            raise errors.InvalidInput("Name a campaign or a merchant.")
        if target.business is None:
            raise errors.NotFound("No such merchant.")
        assert target.suspense is not None
        if campaign is None:
            split = PaymentSplit(0, payment.amount_minor, completes_funding=False)
            commit_plans(
                self.context.ledger,
                for_merchant,
                [
                    Plan(
                        "bank",
                        (
                            Transfer(
                                target.suspense,
                                target.business,
                                payment.amount_minor,
                                "bank_payment_assigned",
                            ),
                        ),
                        amount=payment.amount_minor,
                    )
                ],
                kind="bank_payment_assigned",
                also_platform=True,
            )
        else:
            split = self._fund(
                for_merchant,
                campaign,
                target.suspense,
                target.business,
                payment.amount_minor,
                "bank_payment_assigned",
                keys,
            )
        repository.assign_bank_payment(
            unit.connection,
            payment.id,
            merchant_id=target.merchant_id,
            campaign_id=campaign.id if campaign else None,
            to_campaign_minor=split.to_campaign_minor,
            to_business_minor=split.to_business_minor,
        )
        assigned = repository.bank_payment(unit.connection, payment.id)
        assert assigned is not None
        return assigned

    def get_bank_payment(self, caller: Principal, payment_id: uuid.UUID) -> BankPayment:
        if not caller.is_operator:
            raise errors.Forbidden()
        with self.context.database.read() as connection:
            payment = repository.bank_payment(connection, payment_id)
        if payment is None:
            raise errors.BankPaymentNotFound()
        return payment

    def list_bank_payments(
        self, caller: Principal, status: str | None, page: PageRequest = FIRST_PAGE
    ) -> Page[BankPayment]:
        """The payments received, newest first."""
        if not caller.is_operator:
            raise errors.Forbidden()
        with self.context.database.read() as connection:
            return repository.bank_payments_listed(connection, status, page)

    # Money in, and activation -------------------------------------------------------------

    def _fund(
        self,
        unit: UnitOfWork,
        campaign: Campaign,
        source: uuid.UUID,
        business: uuid.UUID,
        amount_minor: int,
        kind: str,
        keys: HashKeys,
    ) -> PaymentSplit:
        """Put money for the (locked) campaign in; activate it if that completes its funds."""
        funded = self.context.accounts.escrow_balance(campaign, unit.connection).credits_posted
        split = split_payment(campaign, funded, amount_minor)
        plans = [plan_funding(campaign, split, source, business)]
        if split.completes_funding:
            plans.append(plan_activation(campaign, unit.now))
        commit_plans(self.context.ledger, unit, plans, kind=kind, also_platform=True)
        if split.completes_funding:
            self.issue_codes(unit, campaign, keys)
            self.delivery.mail_codes(unit, campaign)
        return split

    def issue_codes(self, unit: UnitOfWork, campaign: Campaign, keys: HashKeys) -> list[str]:
        """Draw the campaign's codes, store their keyed hashes, keep them plain for the
        download; returns them in the clear, once.

        Written by the repository in bulk (COPY on PostgreSQL), not as a plan's row
        changes: a campaign may have a million codes.
        """
        connection = unit.connection
        for _draw in range(CODE_DRAWS_MAX):
            plain = new_codes(campaign.code_count)
            # While a key is rotated, a code is new only if no code under an older
            # key is the same: a look-up tries every key.
            if keys.older and repository.any_code_hash(
                connection, [code_hash(older, code) for older in keys.older for code in plain]
            ):
                continue
            hashed = [
                (code_hash(keys.newest, code), code[-LAST_CHARACTERS_SHOWN:]) for code in plain
            ]
            savepoint = connection.begin_nested()
            if repository.store_codes(connection, campaign, hashed, keys.newest_id):
                savepoint.commit()
                break
            savepoint.rollback()
        else:
            raise AssertionError("could not draw distinct codes three times in a row")
        repository.keep_plain_codes(connection, campaign, plain, unit.now)
        record_audit(
            connection,
            campaign.merchant_id,
            "platform",
            "bonus_campaign.funded",
            campaign.id,
            {"codes": len(plain)},
            unit.now,
        )
        emit(
            connection,
            campaign.merchant_id,
            "campaign.funded",
            {"campaign_id": str(campaign.id), "asset": campaign.asset_code, "codes": len(plain)},
            now=unit.now,
        )
        return plain


@dataclass(frozen=True, slots=True)
class _Assignment:
    """Where a parked payment goes, and the accounts opened for it."""

    campaign_id: uuid.UUID | None
    campaign: Campaign | None
    merchant_id: uuid.UUID | None
    suspense: uuid.UUID | None = None
    business: uuid.UUID | None = None


def _replayed_view(_unit: UnitOfWork, stored: StoredAnswer) -> CampaignView:
    assert stored.answer is not None
    return from_json(CampaignView, stored.answer)


def _replayed_payment(_unit: UnitOfWork, stored: StoredAnswer) -> BankPayment:
    assert stored.answer is not None
    return from_json(BankPayment, stored.answer)
