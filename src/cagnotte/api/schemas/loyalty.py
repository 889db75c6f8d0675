"""Request and answer models of the loyalty routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from cagnotte.api.schemas.base import Strict, example
from cagnotte.programs.loyalty.program import LoyaltyProgram, settings_of

PositiveFraction = Field(ge=1, le=10**12)


class ProgramScopeIn(Strict):
    """Products and categories; both empty: the whole catalogue."""

    product_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10_000)
    category_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10_000)


class EarningIn(Strict):
    """Units earned per minor unit spent: 1 point per 10.00 CZK is 1/1000 (rounded down)."""

    numerator: int = Field(ge=0, le=10**12)
    denominator: int = PositiveFraction


class SpendingIn(Strict):
    """How a balance pays: one unit is worth value_numerator/value_denominator minor units."""

    value_numerator: int = PositiveFraction
    value_denominator: int = PositiveFraction
    share_max_basis_points: int = Field(10_000, ge=1, le=10_000)
    spend_min_units: int = Field(1, ge=1, le=10**12)
    spend_block_units: int = Field(1, ge=1, le=10**12)
    scope: Literal["public", "all", "chosen", "members_only"] = "public"
    chosen: ProgramScopeIn = Field(default_factory=ProgramScopeIn)


class StampCardIn(Strict):
    size: int = Field(ge=2, le=100)
    counts_visits: bool = False
    reward: Literal["free_item", "fixed_discount", "percent_discount"] = "free_item"
    reward_value: int = Field(0, ge=0, le=10**12)
    delivery: Literal["instant", "voucher", "next_purchase", "credit"] = Field(
        "instant",
        description="instant: off the check that fills the card; voucher: a voucher of "
        "reward_value minor units, used once; next_purchase: the reward off a later check; "
        "credit: reward_value added to the member's loyalty credit.",
    )
    valid_days: int = Field(90, ge=1, le=3_650, description="How long a later reward is usable.")


class KittyVoucherIn(Strict):
    """The commit that brings the kitty to threshold_minor turns that amount into a voucher."""

    threshold_minor: int = Field(ge=1, le=10**12)
    valid_days: int = Field(90, ge=1, le=3_650)


class TierIn(Strict):
    name: str = Field(min_length=1, max_length=60)
    spend_min_minor: int = Field(ge=0, le=10**12)


class TiersIn(Strict):
    """A program's tiers by the member's spend over a period, the lowest (from 0) first."""

    period: Literal["rolling_12_months", "calendar_year"] = "rolling_12_months"
    levels: list[TierIn] = Field(min_length=1, max_length=10)


class ProgramSettingsIn(Strict):
    """A program's options; what is left out keeps its default (or, on a change, its value)."""

    scope: ProgramScopeIn | None = None
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    earning: EarningIn | None = None
    spending: SpendingIn | None = None
    stamp_card: StampCardIn | None = None
    earn_on_loyalty_payment: bool | None = None
    spend_earned_in_same_check: bool | None = None
    pending_days: int | None = Field(None, ge=0, le=365)
    tiers: TiersIn | None = None
    kitty_voucher: KittyVoucherIn | None = None

    def settings(self) -> dict[str, Any]:
        return self.model_dump(
            mode="json", exclude_unset=True, exclude={"kind", "name", "currency"}
        )


@example(
    {
        "kind": "points",
        "name": "Café points",
        "currency": "CZK",
        "earning": {"numerator": 1, "denominator": 1000},
    }
)
class LoyaltyProgramCreate(ProgramSettingsIn):
    kind: Literal["points", "stamps", "kitty"]
    name: str = Field(min_length=1, max_length=200)
    currency: str = Field(min_length=1, max_length=24, examples=["CZK"])


@example({"name": "Café Bleu points"})
class LoyaltyProgramChange(ProgramSettingsIn):
    name: str | None = Field(None, min_length=1, max_length=200)


@example({"open_balances": "kept"})
class LoyaltyProgramDeletion(Strict):
    """Kept: members' balances stay spendable until they expire; expired: to breakage now."""

    open_balances: Literal["kept", "expired"]


class LoyaltyProgramOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    kind: str
    name: str
    status: str
    currency: str
    asset: str
    valid_from: datetime | None
    valid_to: datetime | None
    settings: dict[str, Any]

    @classmethod
    def of(cls, program: LoyaltyProgram) -> LoyaltyProgramOut:
        return cls(
            id=program.id,
            merchant_id=program.merchant_id,
            kind=program.kind.value,
            name=program.name,
            status=program.status.value,
            currency=program.currency,
            asset=program.asset_code,
            valid_from=program.valid_from,
            valid_to=program.valid_to,
            settings=settings_of(program),
        )


class PendingOut(BaseModel):
    units: int
    until: datetime = Field(description="When the return window ends and the units post.")


class TierOut(BaseModel):
    name: str
    spend_minor: int = Field(description="The qualifying spend over the tier's period.")
    next_tier: str | None
    next_tier_missing_minor: int | None


class MemberStandingOut(BaseModel):
    """A member in one program: the balance, what may be spent now, pending units, the tier."""

    program_id: uuid.UUID
    name: str
    kind: str
    asset: str
    balance_units: int
    available_units: int
    pending: list[PendingOut]
    tier: TierOut | None

    @classmethod
    def of(cls, standing: Any) -> MemberStandingOut:  # checkout.service.MemberStanding
        program = standing.program
        tier = standing.tier
        return cls(
            program_id=program.id,
            name=program.name,
            kind=program.kind.value,
            asset=program.asset_code,
            balance_units=standing.balance_units,
            available_units=standing.available_units,
            pending=[PendingOut(units=units, until=until) for units, until in standing.pending],
            tier=TierOut(
                name=tier.tier,
                spend_minor=tier.spend_minor,
                next_tier=tier.next_tier,
                next_tier_missing_minor=tier.next_tier_missing_minor,
            )
            if tier is not None
            else None,
        )
