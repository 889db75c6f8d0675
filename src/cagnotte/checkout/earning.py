"""What a check earns in each running points or kitty program: the rules engine's contributor.

Each program's base rate is an earning rule of the engine (`programs/loyalty`,
a pure function of the rules, the check and the customer): it earns on the
lines in the program's scope, after discounts and — unless the program says
otherwise — without what points or the kitty paid of them, rounded down once
for the check as a whole and spread over the lines by largest remainder. The
engine's near misses ("add 120 CZK to …", "join to earn 12 points") are
passed on to the quote. (Stamps are counted by `checkout.stamps`.) A fixed
birthday bonus is left to the birthday job (`checkout.birthdays`).

A promotion with a budget gives at most what is left of it (`budgets_left`,
read by the commit under the rule's lock): the awards drawing on one budget
are cut, in the engine's order, to what is left, each cut award spread over
its lines again by largest remainder; an award cut to nothing is dropped,
and its reason says why the rest was not given.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cagnotte.checkout.birthdays import paid_by_the_job
from cagnotte.checkout.model import Effect, LineShare, NearMiss, PricedLine
from cagnotte.checkout.pricing import ResolvedLine, Standing
from cagnotte.money import Asset, allocate
from cagnotte.programs.loyalty import (
    Channel,
    CheckFacts,
    CustomerFacts,
    LineFacts,
    RuleIndex,
    evaluate,
)
from cagnotte.programs.loyalty.program import ProgramKind


@dataclass(frozen=True, slots=True)
class Earned:
    """What a check earns: its effects, near misses, and what the usage counters add."""

    effects: list[Effect]
    near_misses: list[NearMiss]
    # (rule, product, quantity) that earned under a limit on goods.
    goods: list[tuple[uuid.UUID, uuid.UUID, int]] = field(default_factory=list)
    # What the awards would draw on each budget before any cut (rule id → units).
    budget_draws: dict[uuid.UUID, int] = field(default_factory=dict)


def earned(
    lines: Sequence[ResolvedLine],
    priced: Sequence[PricedLine],
    standings: Sequence[Standing],
    *,
    index: RuleIndex,
    store_id: uuid.UUID,
    terminal_id: uuid.UUID | None,
    channel: str,
    currency: Asset,
    moment: datetime,
    customer: CustomerFacts,
    budgets_left: Mapping[uuid.UUID, int] | None = None,
    time_zone: str = "UTC",
) -> Earned:
    """The earn effects of every running program that earns on this check, and near misses.

    `index` holds the merchant's rules (every program's base rate and
    promotions); only the awards of the programs running for this check count.
    """
    programs = {
        str(standing.program.id): standing.program
        for standing in standings
        if standing.program.kind != ProgramKind.STAMPS
    }
    if not programs:
        return Earned([], [])
    check = CheckFacts(
        lines=tuple(
            _line_facts(line, line_priced) for line, line_priced in zip(lines, priced, strict=True)
        ),
        store_id=str(store_id),
        terminal_id=str(terminal_id) if terminal_id else None,
        channel=Channel(channel),
        currency=currency,
        moment=moment,
        time_zone=time_zone,
    )
    evaluation = evaluate(index, check, customer)
    left = dict(budgets_left or {})
    draws: dict[uuid.UUID, int] = {}
    effects = []
    for award in evaluation.awards:
        program = programs.get(award.program_id)
        if program is None:
            continue  # a suspended program, or one not valid at this moment
        if paid_by_the_job(index.rule(award.rule_id)):
            continue  # a fixed birthday bonus: the birthday job credits it on the day
        units, shares, reason = award.amount, award.shares, award.reason
        budget_id = uuid.UUID(award.budget_id) if award.budget_id else None
        if budget_id is not None:
            draws[budget_id] = draws.get(budget_id, 0) + units
            if budgets_left is not None:
                units = min(units, left.get(budget_id, 0))
                left[budget_id] = left.get(budget_id, 0) - units
                if units < award.amount:
                    reason = f"{reason} (its budget had {units} left)"
                    shares = _spread(units, shares)
        if units == 0:
            continue
        effects.append(
            Effect(
                contributor="loyalty",
                kind="earn",
                asset_code=program.asset_code,
                units=units,
                value_minor=0,
                program_id=program.id,
                rule_id=award.rule_id,
                lines=tuple(LineShare(share.line_index, share.amount) for share in shares),
                reason=reason[:300],
                expires_at=moment + timedelta(days=award.expires_after_days)
                if award.expires_after_days
                else None,
                budget_id=budget_id,
            )
        )
    near_misses = [
        NearMiss(
            uuid.UUID(miss.program_id) if miss.program_id in programs else None,
            miss.rule_id,
            miss.message,
        )
        for miss in evaluation.near_misses
        if miss.program_id in programs
    ]
    given = {effect.rule_id for effect in effects}
    goods = [
        (uuid.UUID(item.rule_id), uuid.UUID(item.product_id), item.quantity)
        for item in evaluation.goods_earned
        if item.rule_id in given
    ]
    return Earned(effects, near_misses, goods, draws)


def stamp_promotions(
    lines: Sequence[ResolvedLine],
    priced: Sequence[PricedLine],
    standings: Sequence[Standing],
    *,
    index: RuleIndex,
    store_id: uuid.UUID,
    terminal_id: uuid.UUID | None,
    channel: str,
    currency: Asset,
    moment: datetime,
    customer: CustomerFacts,
    time_zone: str = "UTC",
) -> list[Effect]:
    """The extra stamps the promotions of the member's stamps programs give on this check
    (double stamps on Tuesdays), each an effect of its rule. Evaluated only when a stamps
    program has promotions (the index then has its card)."""
    programs = {
        str(standing.program.id): standing.program
        for standing in standings
        if standing.program.kind == ProgramKind.STAMPS
        and str(standing.program.id) in index.stamp_cards
    }
    if not programs:
        return []
    check = CheckFacts(
        lines=tuple(
            _line_facts(line, line_priced) for line, line_priced in zip(lines, priced, strict=True)
        ),
        store_id=str(store_id),
        terminal_id=str(terminal_id) if terminal_id else None,
        channel=Channel(channel),
        currency=currency,
        moment=moment,
        time_zone=time_zone,
    )
    effects = []
    for award in evaluate(index, check, customer).awards:
        program = programs.get(award.program_id)
        if program is None:
            continue
        effects.append(
            Effect(
                contributor="loyalty",
                kind="stamps",
                asset_code=program.asset_code,
                units=award.amount,
                value_minor=0,
                program_id=program.id,
                rule_id=award.rule_id,
                lines=tuple(LineShare(share.line_index, share.amount) for share in award.shares),
                reason=award.reason[:300],
            )
        )
    return effects


def _spread(units: int, shares: Sequence[Any]) -> Sequence[Any]:
    """An award's line shares for fewer units: in proportion, adding up exactly."""
    weights = [share.amount for share in shares]
    if not shares or units == 0 or sum(weights) == 0:
        return () if units == 0 else shares
    return tuple(
        share._replace(amount=part)
        for share, part in zip(shares, allocate(units, weights), strict=True)
        if part
    )


def _line_facts(line: ResolvedLine, priced: PricedLine) -> LineFacts:
    return LineFacts(
        index=line.index,
        sku=line.request.sku,
        product_id=str(line.product_id) if line.product_id else None,
        category_ids=frozenset(str(value) for value in line.category_ids)
        if line.product_id
        else frozenset(),
        quantity=priced.quantity,
        unit_price_minor=priced.unit_price_minor,
        amount_minor=priced.net_minor,
        members_only=line.members_only,
        paid_with_loyalty_minor=priced.loyalty_paid_minor,
    )
