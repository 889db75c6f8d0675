"""The bonus code program's one entry point for routes, pages, jobs and the bench.

A thin façade: each method hands over to the module of its use case —
`campaigns` (request, read, stop), `funding` (business account, bank
payments, activation), `delivery` (mail, download), `redemption` (codes,
lockout), `settlement` (rest, payouts, wiping). Their errors are listed there.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.pages import FIRST_PAGE, Page, PageRequest
from cagnotte.db.unit_of_work import Idempotency, UnitsOfWork
from cagnotte.ledger import Ledger
from cagnotte.outbox import MessageState, Outbox
from cagnotte.programs.bonus_codes.accounts import BonusAccounts
from cagnotte.programs.bonus_codes.campaigns import CampaignRequest, Campaigns, CampaignView
from cagnotte.programs.bonus_codes.context import (
    DEFAULT_BONUS_VALUE_MAX_MINOR,
    BonusContext,
    BonusSettings,
)
from cagnotte.programs.bonus_codes.delivery import Delivery
from cagnotte.programs.bonus_codes.funding import Funding, IncomingPayment
from cagnotte.programs.bonus_codes.redemption import Redemption, Redemptions
from cagnotte.programs.bonus_codes.rows import BankPayment, MaskedCode, Payout, RestDestination
from cagnotte.programs.bonus_codes.settlement import Settlement
from cagnotte.security.attempts import AttemptLimiter
from cagnotte.security.captcha import CaptchaService
from cagnotte.security.hash_keys import HashKeys, KeyUsage
from cagnotte.security.platform_keys import HashKeySource
from cagnotte.security.principals import Principal


class BonusCodeService:
    """Bonus code campaigns: request, funding, codes, redemption, lockout, settlement."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        ledger: Ledger,
        outbox: Outbox,
        captchas: CaptchaService,
        *,
        mail_from: str,
        bonus_value_max_minor: dict[str, int] | None = None,
        platform_bank_account: str | None = None,
        units: UnitsOfWork | None = None,
        code_keys: Sequence[bytes] = (),
        attempts: AttemptLimiter | None = None,
    ) -> None:
        self.context = BonusContext(
            database=database,
            clock=clock,
            ledger=ledger,
            units=units or UnitsOfWork(database, clock),
            accounts=BonusAccounts(ledger),
            settings=BonusSettings(
                mail_from=mail_from,
                bonus_value_max_minor=bonus_value_max_minor or DEFAULT_BONUS_VALUE_MAX_MINOR,
                platform_bank_account=platform_bank_account,
            ),
            code_key_source=HashKeySource(database, clock, code_keys, "bonus_codes"),
        )
        self.settlement = Settlement(self.context)
        self.campaigns = Campaigns(self.context, self.settlement)
        self.delivery = Delivery(self.context, outbox)
        self.funding = Funding(self.context, self.campaigns, self.delivery)
        self.redemptions = Redemptions(
            self.context, captchas, attempts or AttemptLimiter(database, clock)
        )

    def code_keys(self) -> HashKeys:
        return self.context.code_keys()

    def code_key_usage(self) -> KeyUsage:
        """How many codes that may still be redeemed are hashed under each key."""
        return self.context.code_key_usage()

    # Campaigns -------------------------------------------------------------------

    def request_campaign(
        self,
        caller: Principal,
        *,
        name: str,
        description: str,
        asset_code: str,
        bonus_value_minor: int,
        code_count: int,
        valid_from: datetime,
        valid_to: datetime,
        rest_destination: RestDestination,
        bank_account: str | None,
        notify_email: str | None,
    ) -> CampaignView:
        return self.campaigns.request_campaign(
            caller,
            CampaignRequest(
                name=name,
                description=description,
                asset_code=asset_code,
                bonus_value_minor=bonus_value_minor,
                code_count=code_count,
                valid_from=valid_from,
                valid_to=valid_to,
                rest_destination=rest_destination,
                bank_account=bank_account,
                notify_email=notify_email,
            ),
        )

    def get_campaign(self, caller: Principal, campaign_id: uuid.UUID) -> CampaignView:
        return self.campaigns.get_campaign(caller, campaign_id)

    def list_campaigns(
        self, caller: Principal, page: PageRequest = FIRST_PAGE
    ) -> Page[CampaignView]:
        return self.campaigns.list_campaigns(caller, page)

    def stop_campaign(self, caller: Principal, campaign_id: uuid.UUID) -> CampaignView:
        return self.campaigns.stop_campaign(caller, campaign_id)

    # Funding -----------------------------------------------------------------------

    def fund_from_business_account(
        self, caller: Principal, campaign_id: uuid.UUID, idempotency: Idempotency
    ) -> CampaignView:
        return self.funding.fund_from_business_account(caller, campaign_id, idempotency)

    def record_bank_payment(
        self,
        caller: Principal,
        *,
        asset_code: str,
        amount_minor: int,
        variable_symbol: str | None,
        received_at: datetime | None,
        note: str | None,
        idempotency: Idempotency,
    ) -> BankPayment:
        return self.funding.record_bank_payment(
            caller,
            IncomingPayment(
                asset_code=asset_code,
                amount_minor=amount_minor,
                variable_symbol=variable_symbol,
                received_at=received_at,
                note=note,
            ),
            idempotency,
        )

    def assign_bank_payment(
        self,
        caller: Principal,
        payment_id: uuid.UUID,
        *,
        campaign_id: uuid.UUID | None,
        merchant_id: uuid.UUID | None,
        idempotency: Idempotency = Idempotency(),
    ) -> BankPayment:
        return self.funding.assign_bank_payment(
            caller,
            payment_id,
            campaign_id=campaign_id,
            merchant_id=merchant_id,
            idempotency=idempotency,
        )

    def get_bank_payment(self, caller: Principal, payment_id: uuid.UUID) -> BankPayment:
        return self.funding.get_bank_payment(caller, payment_id)

    def list_bank_payments(
        self, caller: Principal, status: str | None, page: PageRequest = FIRST_PAGE
    ) -> Page[BankPayment]:
        return self.funding.list_bank_payments(caller, status, page)

    # Delivery ------------------------------------------------------------------------

    def download_codes(
        self, caller: Principal, campaign_id: uuid.UUID, file_format: str
    ) -> tuple[bytes, str]:
        return self.delivery.download_codes(caller, campaign_id, file_format)

    def list_codes(
        self, caller: Principal, campaign_id: uuid.UUID, page: PageRequest = FIRST_PAGE
    ) -> Page[MaskedCode]:
        return self.delivery.list_codes(caller, campaign_id, page)

    def codes_mails(
        self, caller: Principal, campaign_id: uuid.UUID, page: PageRequest = FIRST_PAGE
    ) -> Page[MessageState]:
        return self.delivery.codes_mails(caller, campaign_id, page)

    # Redemption ----------------------------------------------------------------------

    def redeem(
        self,
        customer_id: uuid.UUID,
        *,
        code: str,
        captcha_id: uuid.UUID,
        captcha_answer: str,
        client_address: str,
    ) -> Redemption:
        return self.redemptions.redeem(
            customer_id,
            code=code,
            captcha_id=captcha_id,
            captcha_answer=captcha_answer,
            client_address=client_address,
        )

    def lock_state(self, customer_id: uuid.UUID) -> datetime | None:
        return self.redemptions.lock_state(customer_id)

    # Settlement and payouts ----------------------------------------------------------

    def settle_due_campaigns(self) -> int:
        return self.settlement.settle_due_campaigns()

    def wipe_old_plain_codes(self) -> int:
        return self.settlement.wipe_old_plain_codes()

    def list_payouts(
        self, caller: Principal, status: str | None, page: PageRequest = FIRST_PAGE
    ) -> Page[Payout]:
        return self.settlement.list_payouts(caller, status, page)

    def mark_payout_paid(
        self, caller: Principal, payout_id: uuid.UUID, idempotency: Idempotency = Idempotency()
    ) -> Payout:
        return self.settlement.mark_payout_paid(caller, payout_id, idempotency)
