"""A member's tier in each program with tiers: from their spend, recomputed by every check.

A program's tiers (`LoyaltyProgram.tiers`) have spend thresholds over a period
(a rolling 12 months or the calendar year, in local months). A member's
**qualifying spend** is what they paid after discounts, less what points and
the kitty paid (the measure points are earned on by default, and the one a
refund gives back in money). The commit reads the member's spend under their
row lock (`checkout.usage`), so parallel checks of one member count on what
the one before left.

The tier a check earns at is the one reached by the spend before it **plus
this check's own**: the purchase that crosses a threshold is the first at the
new tier (the issue's "tier up on the purchase that crosses the threshold").
Example: Silver from 5 000.00 CZK; a member at 4 900.00 buys for 200.00 — this
check already earns at Silver. A refund takes its qualifying amount back off
the check's month, so the tier the next check sees falls back if the refund
takes the member under the threshold (what the refunded check earned at the
higher rate is taken back with it, in proportion, as every earning is).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection

from cagnotte.checkout.model import PricedLine
from cagnotte.checkout.usage import read_spend, record_spend, take_back_spend
from cagnotte.programs.loyalty import CustomerFacts, TierStanding
from cagnotte.programs.loyalty.program import LoyaltyProgram


@dataclass(frozen=True, slots=True)
class MemberTier:
    """A member's tier in one program now, and what they spent over its period."""

    program_id: uuid.UUID
    tier: str
    spend_minor: int
    next_tier: str | None
    # What the member must still spend to reach the next tier.
    next_tier_missing_minor: int | None


def qualifying_minor(priced: Sequence[PricedLine]) -> int:
    """What the check counts towards a tier: paid after discounts, less points and kitty."""
    return sum(line.net_minor - line.loyalty_paid_minor for line in priced)


def with_standings(
    customer: CustomerFacts,
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    programs: Sequence[LoyaltyProgram],
    moment: datetime,
    time_zone: str,
) -> CustomerFacts:
    """The member's facts with their tier standing (spend before this check) per program."""
    spends = read_spend(connection, merchant_id, membership_id, programs, moment, time_zone)
    if not spends:
        return customer
    standings = {
        str(program.id): TierStanding(
            program.tiers.tier_for(spends[program.id]).name, spends[program.id]
        )
        for program in programs
        if program.tiers is not None
    }
    return replace(customer, tiers={**customer.tiers, **standings})


def with_check(
    customer: CustomerFacts, programs: Sequence[LoyaltyProgram], priced: Sequence[PricedLine]
) -> CustomerFacts:
    """The tier each program's rules see: reached by the spend before plus this check's."""
    if not customer.tiers:
        return customer
    amount = qualifying_minor(priced)
    tiers = dict(customer.tiers)
    for program in programs:
        standing = tiers.get(str(program.id))
        if program.tiers is None or standing is None:
            continue
        reached = program.tiers.tier_for(standing.period_spend_minor + amount).name
        # The spend stays the one before the check: the engine adds the basket itself
        # to say how far the next tier is.
        tiers[str(program.id)] = TierStanding(reached, standing.period_spend_minor)
    return replace(customer, tiers=tiers)


def count_spend(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    programs: Sequence[LoyaltyProgram],
    moment: datetime,
    time_zone: str,
    priced: Sequence[PricedLine],
) -> None:
    """The commit's part: add the check's qualifying spend in every program with tiers."""
    amount = qualifying_minor(priced)
    spends = {program.id: amount for program in programs if program.tiers is not None}
    record_spend(connection, merchant_id, membership_id, moment, time_zone, spends)


def uncount_spend(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    programs: Sequence[LoyaltyProgram],
    moment: datetime,
    time_zone: str,
    refunded_minor: int,
) -> None:
    """A refund's part: the money it gives back comes off the spend of the check's month."""
    spends = {program.id: refunded_minor for program in programs if program.tiers is not None}
    take_back_spend(connection, merchant_id, membership_id, moment, time_zone, spends)


def member_tiers(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    programs: Sequence[LoyaltyProgram],
    moment: datetime,
    time_zone: str,
) -> Mapping[uuid.UUID, MemberTier]:
    """The member's tier in each program with tiers at `moment` (the customer page, the API)."""
    spends = read_spend(connection, merchant_id, membership_id, programs, moment, time_zone)
    out = {}
    for program in programs:
        if program.tiers is None:
            continue
        spend = spends.get(program.id, 0)
        tier = program.tiers.tier_for(spend)
        higher = [level for level in program.tiers.levels if level.spend_min_minor > spend]
        out[program.id] = MemberTier(
            program.id,
            tier.name,
            spend,
            higher[0].name if higher else None,
            higher[0].spend_min_minor - spend if higher else None,
        )
    return out
