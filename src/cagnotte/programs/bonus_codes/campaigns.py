"""Campaigns: a merchant's request, what it looks like (funding, report), an early stop.

Errors: forbidden, invalid_input, invalid_bank_account, bonus_value_too_high,
asset_not_found, campaign_not_found, campaign_not_active.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.db.pages import FIRST_PAGE, Page, PageRequest
from cagnotte.db.unit_of_work import UnitOfWork
from cagnotte.programs.bonus_codes import repository
from cagnotte.programs.bonus_codes.bank import new_variable_symbol, normalise_bank_account
from cagnotte.programs.bonus_codes.context import CODES_PER_CAMPAIGN_MAX, BonusContext
from cagnotte.programs.bonus_codes.rows import Campaign, RestDestination
from cagnotte.programs.bonus_codes.settlement import Settlement
from cagnotte.programs.bonus_codes.tables import bonus_campaigns
from cagnotte.programs.tenders import Plan, RowUpdate, commit_plans
from cagnotte.security.principals import Principal

# Drawing a variable symbol that another campaign has is rare (one in 10^9 per
# campaign): a few draws always find a free one.
VARIABLE_SYMBOL_DRAWS_MAX = 5


@dataclass(frozen=True, slots=True)
class CampaignFunding:
    """How much the campaign needs, how much came, and how to pay the rest."""

    required_minor: int
    funded_minor: int
    outstanding_minor: int
    # None when the platform has no bank account set (no campaign is requested then,
    # but those requested before still show their state).
    bank_account: str | None
    variable_symbol: str


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """Issued against redeemed, and what went back to the merchant."""

    codes_issued: int
    codes_redeemed: int
    redeemed_minor: int
    codes_expired: int
    refunded_minor: int


@dataclass(frozen=True, slots=True)
class CampaignView:
    """A campaign as its merchant sees it: the row, its funding, escrow and report."""

    campaign: Campaign
    funding: CampaignFunding
    escrow_balance_minor: int
    report: CampaignReport
    plain_codes_available: bool


@dataclass(frozen=True, slots=True)
class CampaignRequest:
    """What a merchant asks for (checked by `Campaigns.request_campaign`)."""

    name: str
    description: str
    asset_code: str
    bonus_value_minor: int
    code_count: int
    valid_from: datetime
    valid_to: datetime
    rest_destination: RestDestination
    bank_account: str | None
    notify_email: str | None


def campaign_report(campaign: Campaign, codes_issued: int, codes_redeemed: int) -> CampaignReport:
    """The report of a campaign with these counts (the unused codes expire at settlement)."""
    return CampaignReport(
        codes_issued=codes_issued,
        codes_redeemed=codes_redeemed,
        redeemed_minor=codes_redeemed * campaign.bonus_value_minor,
        codes_expired=codes_issued - codes_redeemed if campaign.is_closed else 0,
        refunded_minor=campaign.rest_minor or 0,
    )


class Campaigns:
    def __init__(self, context: BonusContext, settlement: Settlement) -> None:
        self.context = context
        self.settlement = settlement

    def request_campaign(self, caller: Principal, request: CampaignRequest) -> CampaignView:
        """Ask for a campaign; nothing is generated until it is funded.

        Refused with platform_bank_account_missing while the platform has no bank
        account to tell the merchant to pay to.
        """
        caller.require("manager")
        if not self.context.settings.platform_bank_account:
            raise errors.PlatformBankAccountMissing()
        with self.context.database.read() as connection:
            is_currency = repository.is_currency(connection, request.asset_code)
            head_office_email = repository.head_office_email(connection, caller.merchant_id)
        if not is_currency:
            raise errors.AssetNotFound("Bonus campaigns are in a currency.")
        request = replace(
            self._checked(request),
            notify_email=request.notify_email or head_office_email,
        )
        return self.context.units.run(
            caller.merchant_id,
            "bonus_campaign_request",
            lambda unit: self._store_request(unit, caller, request),
        )

    def _checked(self, request: CampaignRequest) -> CampaignRequest:
        """The request within the platform's limits, its bank account normalised."""
        cap = self.context.settings.bonus_value_max_minor.get(request.asset_code)
        if cap is None:
            raise errors.InvalidInput(f"Bonus campaigns in {request.asset_code} are not offered.")
        if request.bonus_value_minor > cap:
            raise errors.BonusValueTooHigh(
                f"Each bonus is worth at most {cap} minor units of {request.asset_code}."
            )
        if not 0 < request.code_count <= CODES_PER_CAMPAIGN_MAX:
            raise errors.InvalidInput(f"A campaign has 1 to {CODES_PER_CAMPAIGN_MAX} codes.")
        if request.valid_from >= request.valid_to or request.valid_to <= self.context.clock.now():
            raise errors.InvalidInput("The validity must end after it starts, in the future.")
        if request.rest_destination != "bank":
            return replace(request, bank_account=None)
        if not request.bank_account:
            raise errors.InvalidBankAccount("A bank account is needed for the rest.")
        return replace(request, bank_account=normalise_bank_account(request.bank_account))

    def _store_request(
        self, unit: UnitOfWork, caller: Principal, request: CampaignRequest
    ) -> CampaignView:
        campaign_id = uuid.uuid4()
        # Opened in the unit's own transaction, so that no escrow outlives a
        # campaign that was not stored.
        escrow = self.context.accounts.escrow(
            caller.merchant_id, campaign_id, request.asset_code, unit.connection
        )
        values = {
            "merchant_id": caller.merchant_id,
            "id": campaign_id,
            "name": request.name,
            "description": request.description,
            "asset_code": request.asset_code,
            "bonus_value_minor": request.bonus_value_minor,
            "code_count": request.code_count,
            "funding_required_minor": request.bonus_value_minor * request.code_count,
            "valid_from": request.valid_from,
            "valid_to": request.valid_to,
            "rest_destination": request.rest_destination,
            "bank_account": request.bank_account,
            "notify_email": request.notify_email,
            "status": "awaiting_funding",
            "escrow_account_id": escrow.id,
            "requested_by": caller.actor,
            "created_at": unit.now,
        }
        for _draw in range(VARIABLE_SYMBOL_DRAWS_MAX):
            if repository.insert_campaign(
                unit.connection, {**values, "variable_symbol": new_variable_symbol()}
            ):
                break
        else:
            raise AssertionError("no free variable symbol in five draws")
        record_audit(
            unit.connection,
            caller.merchant_id,
            caller.actor,
            "bonus_campaign.requested",
            campaign_id,
            {
                "name": request.name,
                "codes": request.code_count,
                "value": request.bonus_value_minor,
                "asset": request.asset_code,
            },
            unit.now,
        )
        return self.view(unit.connection, self._campaign(unit.connection, caller, campaign_id))

    # Reading ---------------------------------------------------------------------

    def get_campaign(self, caller: Principal, campaign_id: uuid.UUID) -> CampaignView:
        """The campaign, its funding state, instructions and report."""
        caller.require("cashier")
        with self.context.database.read() as connection:
            return self.view(connection, self._campaign(connection, caller, campaign_id))

    def list_campaigns(
        self, caller: Principal, page: PageRequest = FIRST_PAGE
    ) -> Page[CampaignView]:
        """The merchant's campaigns, newest first, each with its funding and report."""
        caller.require("cashier")
        with self.context.database.read() as connection:
            found = repository.campaigns_of(connection, caller.merchant_id, page)
            return found.map(lambda campaign: self.view(connection, campaign))

    def view(self, connection: Connection, campaign: Campaign) -> CampaignView:
        """The campaign with its funding, escrow balance and report, read in `connection`."""
        escrow = self.context.accounts.escrow_balance(campaign, connection)
        funded = escrow.credits_posted
        issued, redeemed = repository.code_counts(connection, campaign)
        return CampaignView(
            campaign=campaign,
            funding=CampaignFunding(
                required_minor=campaign.funding_required_minor,
                funded_minor=funded,
                outstanding_minor=max(campaign.funding_required_minor - funded, 0),
                bank_account=self.context.settings.platform_bank_account,
                variable_symbol=campaign.variable_symbol,
            ),
            escrow_balance_minor=escrow.credit_balance,
            report=campaign_report(campaign, issued, redeemed),
            plain_codes_available=repository.plain_codes_available(connection, campaign),
        )

    @staticmethod
    def _campaign(connection: Connection, caller: Principal, campaign_id: uuid.UUID) -> Campaign:
        """The caller's campaign; another merchant's is not found, as a missing one."""
        campaign = repository.campaign(connection, caller.merchant_id, campaign_id)
        if campaign is None:
            raise errors.CampaignNotFound()
        return campaign

    # Stopping --------------------------------------------------------------------

    def stop_campaign(self, caller: Principal, campaign_id: uuid.UUID) -> CampaignView:
        """Stop early: remaining codes are refused; the rest leaves at the next settlement.

        A campaign still waiting for its funds is cancelled instead, and what came
        of them goes back at once.
        """
        caller.require("manager")
        with self.context.database.read() as connection:
            campaign = self._campaign(connection, caller, campaign_id)
        destination = self.settlement.destination(campaign)
        return self.context.units.run(
            caller.merchant_id,
            "bonus_campaign_stop",
            lambda unit: self._stop_in(unit, caller, campaign_id, destination),
        )

    def _stop_in(
        self,
        unit: UnitOfWork,
        caller: Principal,
        campaign_id: uuid.UUID,
        destination: uuid.UUID,
    ) -> CampaignView:
        campaign = repository.lock_campaign(unit, campaign_id)
        if campaign.status not in ("active", "awaiting_funding"):
            raise errors.CampaignNotActive()
        new_status = "stopped" if campaign.status == "active" else "cancelled"
        stop = Plan(
            "bonus_campaign",
            row_changes=(
                RowUpdate(
                    bonus_campaigns, campaign.id, {"status": new_status, "stopped_at": unit.now}
                ),
            ),
        )
        record_audit(
            unit.connection,
            caller.merchant_id,
            caller.actor,
            f"bonus_campaign.{new_status}",
            campaign.id,
            {},
            unit.now,
        )
        if new_status == "cancelled":
            self.settlement.settle_in(
                unit, replace(campaign, status=new_status), destination, before=(stop,)
            )
        else:
            commit_plans(self.context.ledger, unit, [stop], kind="bonus_campaign_stop")
        return self.view(unit.connection, self._campaign(unit.connection, caller, campaign.id))
