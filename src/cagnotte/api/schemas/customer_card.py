"""The customer card's answer: a member, their figures, programs, credits and checks."""

from __future__ import annotations

from pydantic import BaseModel

from cagnotte.api.schemas.checks import CheckSummaryOut
from cagnotte.api.schemas.customers import (
    CustomerOut,
    ExpiringOut,
    ProgramStandingOut,
    SpendingOut,
    WalletOut,
)
from cagnotte.api.schemas.gift_cards import CardOut
from cagnotte.crm.card import CustomerCard


class OpenCreditsOut(BaseModel):
    """The member's usable vouchers, next-purchase discounts or credit of one kind."""

    kind: str
    count: int
    value_minor: int


class CustomerCardOut(BaseModel):
    customer: CustomerOut
    spending: list[SpendingOut]
    programs: list[ProgramStandingOut]
    wallets: list[WalletOut]
    gift_cards: list[CardOut]
    recent_checks: list[CheckSummaryOut]
    open_credits: list[OpenCreditsOut]

    @classmethod
    def of(cls, card: CustomerCard) -> CustomerCardOut:
        return cls(
            customer=CustomerOut.of(card.customer),
            spending=[SpendingOut.model_validate(s, from_attributes=True) for s in card.spending],
            programs=[
                ProgramStandingOut(
                    program_id=p.program_id,
                    name=p.name,
                    kind=p.kind,
                    status=p.status,
                    asset_code=p.asset_code,
                    balance_units=p.balance_units,
                    pending_units=p.pending_units,
                    stamps_on_card=p.stamps_on_card,
                    card_size=p.card_size,
                    expiring=[ExpiringOut(units=u, expires_at=at) for u, at in p.expiring],
                    rewards_received=p.rewards_received,
                    rewards_value_minor=p.rewards_value_minor,
                )
                for p in card.programs
            ],
            wallets=[WalletOut(asset_code=a, available_minor=m) for a, m in card.wallets],
            gift_cards=[CardOut(**view) for view in card.gift_cards],
            recent_checks=[CheckSummaryOut(**row) for row in card.recent_checks],
            open_credits=[
                OpenCreditsOut(kind=kind, count=count, value_minor=value)
                for kind, count, value in card.open_credits
            ],
        )
