"""Bonus code campaigns: merchant, operator and customer routes."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from cagnotte.api.deps import Caller, Customer, IdempotencyDep, OperatorCaller, ServicesDep
from cagnotte.api.pagination import PageDep
from cagnotte.api.schemas import AmountMinor, AssetCode, Email, Name, Strict
from cagnotte.api.schemas.base import example
from cagnotte.api.schemas.mail import MailOut
from cagnotte.api.schemas.pages import Page
from cagnotte.programs.bonus_codes.campaigns import CampaignView
from cagnotte.programs.bonus_codes.delivery import FILE_TYPES
from cagnotte.programs.bonus_codes.rows import BankPayment, Payout

router = APIRouter(prefix="/v1", tags=["bonus codes"])


@example(
    {
        "name": "Spring bonus",
        "bonus_value_minor": 10000,
        "code_count": 500,
        "valid_from": "2026-03-01T00:00:00Z",
        "valid_to": "2026-05-31T23:59:59Z",
    }
)
class CampaignRequest(Strict):
    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    asset: AssetCode = "CZK"
    bonus_value_minor: AmountMinor = Field(description="The value of each bonus.")
    code_count: Annotated[int, Field(strict=True, gt=0, le=1_000_000)]
    valid_from: AwareDatetime
    valid_to: AwareDatetime
    rest_destination: Literal["business_account", "bank"] = "business_account"
    bank_account: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="An IBAN, or a Czech account number with its bank code."
    )
    notify_email: Email | None = Field(
        default=None, description="Where the codes are mailed; default: the head office."
    )


class Funding(BaseModel):
    required_minor: int
    funded_minor: int
    outstanding_minor: int
    bank_account: str | None = Field(
        description="Pay by bank transfer to this account … (null while the platform has "
        "none set: then no campaign can be requested)"
    )
    variable_symbol: str = Field(description="… with this variable symbol (payment reference).")


class CampaignReport(BaseModel):
    codes_issued: int
    codes_redeemed: int
    redeemed_minor: int
    codes_expired: int
    refunded_minor: int


class CampaignOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    description: str
    asset: str
    bonus_value_minor: int
    code_count: int
    valid_from: datetime
    valid_to: datetime
    rest_destination: Literal["business_account", "bank"]
    bank_account: str | None
    notify_email: str | None
    status: Literal["awaiting_funding", "active", "stopped", "settled", "cancelled"]
    funding: Funding
    escrow_balance_minor: int
    report: CampaignReport
    plain_codes_available: bool
    created_at: datetime
    funded_at: datetime | None
    stopped_at: datetime | None
    settled_at: datetime | None

    @classmethod
    def of(cls, view: CampaignView) -> CampaignOut:
        return cls(
            **asdict(view.campaign),
            asset=view.campaign.asset_code,
            funding=Funding(**asdict(view.funding)),
            escrow_balance_minor=view.escrow_balance_minor,
            report=CampaignReport(**asdict(view.report)),
            plain_codes_available=view.plain_codes_available,
        )


class MaskedCode(BaseModel):
    last_characters: str
    redeemed_at: datetime | None


@example(
    {
        "asset": "CZK",
        "amount_minor": 5000000,
        "variable_symbol": "2026000417",
        "note": "Statement of 2 March",
    }
)
class BankPaymentCreate(Strict):
    asset: AssetCode = "CZK"
    amount_minor: AmountMinor
    variable_symbol: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")] | None = None
    received_at: AwareDatetime | None = None
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


@example({"campaign_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"})
class BankPaymentAssign(Strict):
    campaign_id: uuid.UUID | None = None
    merchant_id: uuid.UUID | None = None


class BankPaymentOut(BaseModel):
    id: uuid.UUID
    asset: str
    amount_minor: int
    variable_symbol: str | None
    received_at: datetime
    note: str | None
    status: Literal["matched", "unmatched", "assigned"]
    merchant_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    to_campaign_minor: int
    to_business_minor: int
    created_at: datetime

    @classmethod
    def of(cls, payment: BankPayment) -> BankPaymentOut:
        return cls(**asdict(payment), asset=payment.asset_code)


class PayoutOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    campaign_id: uuid.UUID
    asset: str
    amount_minor: int
    bank_account: str
    status: Literal["pending", "paid"]
    created_at: datetime
    paid_at: datetime | None

    @classmethod
    def of(cls, payout: Payout) -> PayoutOut:
        return cls(**asdict(payout), asset=payout.asset_code)


class CaptchaOut(BaseModel):
    id: uuid.UUID
    kind: Literal["image", "audio"]
    image: str | None = Field(
        default=None, description="For an image: a data: URL of the PNG picture to show."
    )
    audio: str | None = Field(
        default=None, description="For audio: a data: URL of the WAV clip speaking six digits."
    )
    expires_at: datetime


@example(
    {
        "code": "BQ7K-M2XD-9PLA",
        "captcha_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "captcha_answer": "7KQ2P",
    }
)
class RedemptionCreate(Strict):
    code: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    captcha_id: uuid.UUID
    captcha_answer: Annotated[str, StringConstraints(min_length=1, max_length=20)]


class RedemptionOut(BaseModel):
    campaign_name: str
    asset: str
    amount_minor: int
    wallet_account_id: uuid.UUID
    wallet_balance_minor: int
    transfer_id: uuid.UUID


class BonusLockOut(BaseModel):
    locked: bool
    locked_until: datetime | None


# Merchant ---------------------------------------------------------------------


@router.post("/bonus-campaigns", status_code=status.HTTP_201_CREATED)
def request_bonus_campaign(
    body: CampaignRequest, caller: Caller, services: ServicesDep
) -> CampaignOut:
    """Ask for a campaign. The answer says how much to pay and how; no code exists yet."""
    campaign = services.bonus_codes.request_campaign(
        caller,
        name=body.name,
        description=body.description,
        asset_code=body.asset,
        bonus_value_minor=body.bonus_value_minor,
        code_count=body.code_count,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        rest_destination=body.rest_destination,
        bank_account=body.bank_account,
        notify_email=str(body.notify_email) if body.notify_email else None,
    )
    return CampaignOut.of(campaign)


@router.get("/bonus-campaigns")
def list_bonus_campaigns(caller: Caller, services: ServicesDep, page: PageDep) -> Page[CampaignOut]:
    """The merchant's campaigns, newest first."""
    return Page.of(services.bonus_codes.list_campaigns(caller, page), CampaignOut.of)


@router.get("/bonus-campaigns/{campaign_id}")
def get_bonus_campaign(
    campaign_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> CampaignOut:
    """The campaign with its funding state and report."""
    return CampaignOut.of(services.bonus_codes.get_campaign(caller, campaign_id))


@router.post("/bonus-campaigns/{campaign_id}/funding/business-account")
def fund_bonus_campaign_from_business_account(
    campaign_id: uuid.UUID, caller: Caller, services: ServicesDep, idempotency: IdempotencyDep
) -> CampaignOut:
    """Pay what is still needed from the business account; the codes are generated at once."""
    return CampaignOut.of(
        services.bonus_codes.fund_from_business_account(caller, campaign_id, idempotency)
    )


@router.post("/bonus-campaigns/{campaign_id}/stop")
def stop_bonus_campaign(
    campaign_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> CampaignOut:
    """Stop early: the remaining codes are refused and the rest is refunded at settlement."""
    return CampaignOut.of(services.bonus_codes.stop_campaign(caller, campaign_id))


@router.get(
    "/bonus-campaigns/{campaign_id}/codes.{file_format}",
    response_class=Response,
    responses={
        200: {
            "content": {v: {} for v in FILE_TYPES.values()},
            "description": "The plain codes, each format once.",
        }
    },
)
def download_bonus_codes(
    campaign_id: uuid.UUID,
    file_format: Literal["csv", "xlsx"],
    caller: Caller,
    services: ServicesDep,
) -> Response:
    """The plain codes (CSV or XLSX), available once per format; then only their ends."""
    content, media_type = services.bonus_codes.download_codes(caller, campaign_id, file_format)
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="bonus-codes.{file_format}"'},
    )


@router.get("/bonus-campaigns/{campaign_id}/codes")
def list_bonus_codes(
    campaign_id: uuid.UUID,
    caller: Caller,
    services: ServicesDep,
    page: PageDep,
) -> Page[MaskedCode]:
    """The codes as the platform keeps them: their last characters and whether used, in
    an order that tells nothing of when each was made."""
    found = services.bonus_codes.list_codes(caller, campaign_id, page)
    return Page.of(found, lambda code: MaskedCode(**asdict(code)))


@router.get("/bonus-campaigns/{campaign_id}/codes-mails")
def list_bonus_codes_mails(
    campaign_id: uuid.UUID, caller: Caller, services: ServicesDep, page: PageDep
) -> Page[MailOut]:
    """What became of the mail of the campaign's codes (sent by the jobs once funded),
    newest first."""
    return Page.of(services.bonus_codes.codes_mails(caller, campaign_id, page), MailOut.of)


@router.get("/bonus-payouts")
def list_bonus_payouts(
    caller: Caller,
    services: ServicesDep,
    page: PageDep,
    payout_status: Annotated[Literal["pending", "paid"] | None, Query(alias="status")] = None,
) -> Page[PayoutOut]:
    """The payouts of campaigns' rests, newest first."""
    return Page.of(services.bonus_codes.list_payouts(caller, payout_status, page), PayoutOut.of)


# Operator ---------------------------------------------------------------------


@router.post("/bank-payments", status_code=status.HTTP_201_CREATED, tags=["operator"])
def record_bank_payment(
    body: BankPaymentCreate,
    caller: OperatorCaller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
) -> BankPaymentOut:
    """Record money received on the platform's bank account; matched by variable symbol."""
    return BankPaymentOut.of(
        services.bonus_codes.record_bank_payment(
            caller,
            asset_code=body.asset,
            amount_minor=body.amount_minor,
            variable_symbol=body.variable_symbol,
            received_at=body.received_at,
            note=body.note,
            idempotency=idempotency,
        )
    )


@router.get("/bank-payments", tags=["operator"])
def list_bank_payments(
    caller: OperatorCaller,
    services: ServicesDep,
    page: PageDep,
    payment_status: Annotated[
        Literal["matched", "unmatched", "assigned"] | None, Query(alias="status")
    ] = None,
) -> Page[BankPaymentOut]:
    """The payments received on the platform's bank account, newest first."""
    found = services.bonus_codes.list_bank_payments(caller, payment_status, page)
    return Page.of(found, BankPaymentOut.of)


@router.post("/bank-payments/{payment_id}/assign", tags=["operator"])
def assign_bank_payment(
    payment_id: uuid.UUID,
    body: BankPaymentAssign,
    caller: OperatorCaller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
) -> BankPaymentOut:
    """Give a parked payment to a campaign, or to a merchant's business account."""
    return BankPaymentOut.of(
        services.bonus_codes.assign_bank_payment(
            caller,
            payment_id,
            campaign_id=body.campaign_id,
            merchant_id=body.merchant_id,
            idempotency=idempotency,
        )
    )


@router.post("/bonus-payouts/{payout_id}/paid", tags=["operator"])
def mark_payout_paid(
    payout_id: uuid.UUID, caller: OperatorCaller, services: ServicesDep, idempotency: IdempotencyDep
) -> PayoutOut:
    """The operator records that a campaign's rest was paid to the merchant's bank."""
    return PayoutOut.of(services.bonus_codes.mark_payout_paid(caller, payout_id, idempotency))


# Customer ---------------------------------------------------------------------


@router.post("/me/captchas", status_code=status.HTTP_201_CREATED, tags=["customer"])
def create_captcha(
    customer: Customer,
    services: ServicesDep,
    request: Request,
    kind: Annotated[Literal["image", "audio"], Query()] = "image",
) -> CaptchaOut:
    """A captcha for one redemption attempt; it expires after a few minutes. `kind=audio`
    is the accessible alternative: six spoken digits, counted and checked the same way.
    A customer gets 20 an hour, an address 60 (too_many_captchas, with Retry-After)."""
    captcha = services.captchas.issue(
        customer.customer_id,
        request.client.host if request.client else "unknown",
        kind,
    )
    return CaptchaOut(
        id=captcha.id,
        kind=captcha.kind,
        image=captcha.data_url if captcha.kind == "image" else None,
        audio=captcha.data_url if captcha.kind == "audio" else None,
        expires_at=captcha.expires_at,
    )


@router.post("/me/bonus-redemptions", status_code=status.HTTP_201_CREATED, tags=["customer"])
def redeem_bonus_code(
    body: RedemptionCreate, customer: Customer, services: ServicesDep, request: Request
) -> RedemptionOut:
    """Redeem a code into the platform wallet. A wrong, used or withdrawn code, or one outside
    its validity, gets one and the same answer (code_invalid); five of them lock the feature
    for 24 hours, and a right code starts the count again."""
    redemption = services.bonus_codes.redeem(
        customer.customer_id,
        code=body.code,
        captcha_id=body.captcha_id,
        captcha_answer=body.captcha_answer,
        client_address=request.client.host if request.client else "unknown",
    )
    return RedemptionOut(
        campaign_name=redemption.campaign_name,
        asset=redemption.asset_code,
        amount_minor=redemption.amount_minor,
        wallet_account_id=redemption.wallet_account_id,
        wallet_balance_minor=redemption.wallet_balance_minor,
        transfer_id=redemption.transfer_id,
    )


@router.get("/me/bonus-lock", tags=["customer"])
def get_bonus_lock(customer: Customer, services: ServicesDep) -> BonusLockOut:
    locked_until = services.bonus_codes.lock_state(customer.customer_id)
    return BonusLockOut(locked=locked_until is not None, locked_until=locked_until)
