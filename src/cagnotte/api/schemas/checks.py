"""Request and answer models of the check routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from cagnotte.api.schemas.base import Strict, example
from cagnotte.checkout.model import (
    CHECK_LINES_MAX,
    LINE_QUANTITY_MAX,
    CheckRequest,
    GiftCardUse,
    LineRequest,
    LoyaltyUse,
    Quote,
    WalletUse,
)
from cagnotte.checkout.service import CheckRefund, CommittedCheck
from cagnotte.security.principals import Principal

AMOUNT = Field(ge=0, le=10**15)


class CheckLineIn(Strict):
    sku: str = Field(min_length=1, max_length=64, examples=["ESPRESSO"])
    quantity: int = Field(ge=1, le=LINE_QUANTITY_MAX)
    unit_price_minor: int = AMOUNT
    discount_minor: int = Field(0, ge=0, le=10**15, description="The register's own discount.")


class LoyaltyUseIn(Strict):
    program_id: uuid.UUID
    units: int | None = Field(None, ge=1, le=10**15, description="Omitted: as much as allowed.")


class WalletUseIn(Strict):
    amount_minor: int | None = Field(
        None, ge=1, le=10**15, description="Omitted: what is left, up to the balance."
    )


class GiftCardUseIn(Strict):
    number: str = Field(min_length=1, max_length=40)
    pin: str | None = Field(None, min_length=1, max_length=12)
    amount_minor: int | None = Field(
        None, ge=1, le=10**15, description="Omitted: what is left, up to the card's balance."
    )


@example(
    {
        "store_id": "a1c3e2d4-6b7f-4e8a-9c0d-1e2f3a4b5c6d",
        "channel": "register",
        "currency": "CZK",
        "customer_id": "5b2f8f1e-8a3c-4d61-9a57-0c2f6f0d9b11",
        "lines": [{"sku": "ESPRESSO", "quantity": 2, "unit_price_minor": 5500}],
    }
)
class CheckIn(Strict):
    """A check as the register sends it (the customer is optional: anonymous)."""

    store_id: uuid.UUID | None = Field(None, description="Defaults to the register key's store.")
    channel: Literal["register", "kiosk", "e_store", "customer_app", "third_party_api"] = "register"
    currency: str = Field(min_length=1, max_length=24, examples=["CZK"])
    customer_id: uuid.UUID | None = None
    customer_phone: str | None = Field(
        None, min_length=3, max_length=32, description="Or name the member by phone."
    )
    member_token: str | None = Field(
        None, min_length=8, max_length=200, description="Or by the QR code of the customer page."
    )
    invoice_number: str | None = Field(None, min_length=1, max_length=64)
    lines: list[CheckLineIn] = Field(min_length=1, max_length=CHECK_LINES_MAX)
    use_loyalty: list[LoyaltyUseIn] = Field(default_factory=list, max_length=20)
    use_wallet: WalletUseIn | None = None
    use_gift_card: GiftCardUseIn | None = Field(
        None, description="A gift card pays first (number and PIN checked); the wallet after it."
    )
    occurred_at: AwareDatetime | None = Field(
        None, description="An offline register's replay: when the check was made."
    )
    use_vouchers: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=20,
        description="The member's purchase vouchers to use (single use: what one does not "
        "pay of the check is forfeited).",
    )
    use_credit_minor: int | None = Field(
        None, ge=1, le=10**15, description="This much of the member's loyalty credit."
    )

    def request(self, caller: Principal) -> CheckRequest:
        store_id = self.store_id or caller.store_id
        if store_id is None:
            from cagnotte import errors

            raise errors.InvalidInput("Name the store (this key belongs to none).")
        return CheckRequest(
            store_id=store_id,
            terminal_id=caller.terminal_id,
            channel=self.channel,
            currency=self.currency,
            membership_id=self.customer_id,
            phone=self.customer_phone,
            member_token=self.member_token,
            invoice_number=self.invoice_number,
            lines=tuple(
                LineRequest(line.sku, line.quantity, line.unit_price_minor, line.discount_minor)
                for line in self.lines
            ),
            loyalty_uses=tuple(LoyaltyUse(use.program_id, use.units) for use in self.use_loyalty),
            wallet=WalletUse(self.use_wallet.amount_minor) if self.use_wallet else None,
            gift_card=GiftCardUse(
                self.use_gift_card.number, self.use_gift_card.pin, self.use_gift_card.amount_minor
            )
            if self.use_gift_card
            else None,
            occurred_at=self.occurred_at,
            vouchers=tuple(self.use_vouchers),
            credit_minor=self.use_credit_minor,
        )


class LineOut(BaseModel):
    index: int
    sku: str
    product_id: uuid.UUID | None
    quantity: int
    unit_price_minor: int
    gross_minor: int
    discount_minor: int
    loyalty_paid_minor: int
    net_minor: int


class EffectOut(BaseModel):
    contributor: str
    kind: str
    program_id: uuid.UUID | None
    rule_id: str | None
    asset: str
    units: int
    value_minor: int
    lines: list[list[int]] = Field(description="[line index, share of the units] pairs.")
    reason: str
    expires_at: datetime | None
    pending_until: datetime | None = Field(
        None,
        description="Earned in a program with a return window: held (not spendable) until "
        "then, voided by a refund before it.",
    )


class SpendableOut(BaseModel):
    program_id: uuid.UUID
    balance_units: int
    units: int
    value_minor: int
    limited_by: str | None


class NearMissOut(BaseModel):
    """A rule that nearly applied, and what is missing (\"add 120.00 CZK to …\")."""

    program_id: uuid.UUID | None
    rule_id: str
    message: str


class CreditOfferOut(BaseModel):
    """One of the member's usable open credits and what it gives this check."""

    credit_id: uuid.UUID
    kind: Literal["voucher", "next_purchase", "credit"]
    program_id: uuid.UUID
    remaining_minor: int = Field(description="What is left of a voucher or credit.")
    reward: str | None = Field(description="A next-purchase reward: the card's reward.")
    reward_value: int = Field(description="Minor units, or basis points for a percentage.")
    expires_at: datetime
    gives_minor: int = Field(description="What it gives (or would give) this check.")
    applied: bool = Field(
        description="Used by this check: a next-purchase discount by itself, a voucher or "
        "credit when the check asks (use_vouchers, use_credit_minor)."
    )


class QuoteOut(BaseModel):
    occurred_at: datetime
    lines: list[LineOut]
    effects: list[EffectOut]
    spendable: list[SpendableOut]
    near_misses: list[NearMissOut]
    gross_minor: int
    discount_minor: int
    loyalty_paid_minor: int
    tender_paid_minor: int
    due_minor: int
    credits: list[CreditOfferOut] = Field(
        default_factory=list, description="The member's usable vouchers, discounts and credit."
    )

    @classmethod
    def of(cls, quote: Quote) -> QuoteOut:
        return cls(
            occurred_at=quote.occurred_at,
            lines=[
                LineOut(
                    index=line.index,
                    sku=line.sku,
                    product_id=line.product_id,
                    quantity=line.quantity,
                    unit_price_minor=line.unit_price_minor,
                    gross_minor=line.gross_minor,
                    discount_minor=line.discount_minor,
                    loyalty_paid_minor=line.loyalty_paid_minor,
                    net_minor=line.net_minor,
                )
                for line in quote.lines
            ],
            effects=[
                EffectOut(
                    contributor=e.contributor,
                    kind=e.kind,
                    program_id=e.program_id,
                    rule_id=e.rule_id,
                    asset=e.asset_code,
                    units=e.units,
                    value_minor=e.value_minor,
                    lines=[[s.line_index, s.amount] for s in e.lines],
                    reason=e.reason,
                    expires_at=e.expires_at,
                    pending_until=e.pending_until,
                )
                for e in quote.effects
            ],
            spendable=[
                SpendableOut(
                    program_id=s.program_id,
                    balance_units=s.balance_units,
                    units=s.units,
                    value_minor=s.value_minor,
                    limited_by=s.limited_by,
                )
                for s in quote.spendable
            ],
            near_misses=[
                NearMissOut(program_id=m.program_id, rule_id=m.rule_id, message=m.message)
                for m in quote.near_misses
            ],
            gross_minor=quote.gross_minor,
            discount_minor=quote.discount_minor,
            loyalty_paid_minor=quote.loyalty_paid_minor,
            tender_paid_minor=quote.tender_paid_minor,
            due_minor=quote.due_minor,
            credits=[
                CreditOfferOut.model_validate(offer, from_attributes=True)
                for offer in quote.credits
            ],
        )


class CheckOut(QuoteOut):
    id: uuid.UUID
    entry_id: uuid.UUID | None

    @classmethod
    def of_check(cls, check: CommittedCheck) -> CheckOut:
        return cls(id=check.id, entry_id=check.entry_id, **QuoteOut.of(check.quote).model_dump())


OFFLINE_BATCH_CHECKS_MAX = 500


@example(
    {
        "store_id": "a1c3e2d4-6b7f-4e8a-9c0d-1e2f3a4b5c6d",
        "channel": "register",
        "currency": "CZK",
        "lines": [{"sku": "ESPRESSO", "quantity": 1, "unit_price_minor": 5500}],
        "occurred_at": "2026-03-02T09:30:00Z",
        "idempotency_key": "till-1/offline/0042",
    }
)
class OfflineCheckIn(CheckIn):
    """One check of an offline batch: its own Idempotency-Key and the moment it was made."""

    idempotency_key: str = Field(min_length=1, max_length=150)
    occurred_at: AwareDatetime


@example(
    {
        "checks": [
            {
                "store_id": "a1c3e2d4-6b7f-4e8a-9c0d-1e2f3a4b5c6d",
                "channel": "register",
                "currency": "CZK",
                "lines": [{"sku": "ESPRESSO", "quantity": 1, "unit_price_minor": 5500}],
                "occurred_at": "2026-03-02T09:30:00Z",
                "idempotency_key": "till-1/offline/0042",
            }
        ]
    }
)
class OfflineBatchIn(Strict):
    checks: list[OfflineCheckIn] = Field(min_length=1, max_length=OFFLINE_BATCH_CHECKS_MAX)


class BatchOutcomeOut(BaseModel):
    idempotency_key: str
    status: Literal["committed", "replayed", "refused"]
    check: CheckOut | None
    code: str | None = Field(description="Why it was refused (a problem code).")
    message: str | None


class RefundLineIn(Strict):
    index: int = Field(ge=0, le=CHECK_LINES_MAX)
    quantity: int = Field(ge=1, le=LINE_QUANTITY_MAX)


@example({"lines": [{"index": 0, "quantity": 1}]})
class CheckRefundIn(Strict):
    """Lines and quantities to give back; omitted: whatever is left of the whole check."""

    lines: list[RefundLineIn] | None = Field(None, min_length=1, max_length=CHECK_LINES_MAX)


class CheckRefundOut(BaseModel):
    id: uuid.UUID
    check_id: uuid.UUID
    lines: dict[str, int]
    money_back_minor: int
    to_wallet_minor: int
    to_gift_card_minor: int = Field(description="Put back onto the gift card that paid.")
    kept_off_refund_minor: int = Field(
        description="The value of earned points already spent: paid back that much less."
    )
    other_means_minor: int = Field(description="What the register gives back itself.")
    entry_id: uuid.UUID | None

    @classmethod
    def of(cls, refund: CheckRefund) -> CheckRefundOut:
        return cls(
            id=refund.id,
            check_id=refund.check_id,
            lines={str(index): quantity for index, quantity in refund.lines.items()},
            money_back_minor=refund.money_back_minor,
            to_wallet_minor=refund.to_wallet_minor,
            to_gift_card_minor=refund.to_gift_card_minor,
            kept_off_refund_minor=refund.kept_off_refund_minor,
            other_means_minor=refund.other_means_minor,
            entry_id=refund.entry_id,
        )


class CreditOut(BaseModel):
    """An open credit (avoir) a check issued: what it is, and what became of it."""

    id: uuid.UUID
    membership_id: uuid.UUID
    program_id: uuid.UUID
    kind: Literal["voucher", "next_purchase", "credit"]
    currency: str
    reward: str | None
    reward_value: int
    remaining_minor: int
    state: Literal["open", "used", "expired", "voided"]
    issuing_check_id: uuid.UUID
    issued_at: datetime
    expires_at: datetime
    using_check_id: uuid.UUID | None
    used_at: datetime | None
    used_value_minor: int
    resolved_at: datetime | None


class CheckSummaryOut(BaseModel):
    """A recorded check without its lines."""

    id: uuid.UUID
    store_id: uuid.UUID
    terminal_id: uuid.UUID | None
    channel: str
    invoice_number: str | None
    membership_id: uuid.UUID | None
    currency: str
    gross_minor: int
    discount_minor: int
    loyalty_paid_minor: int
    tender_paid_minor: int
    due_minor: int
    refunded_minor: int
    status: str
    occurred_at: datetime
    entry_id: uuid.UUID | None
    created_at: datetime
