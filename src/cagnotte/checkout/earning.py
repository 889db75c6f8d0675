"""What a check earns in each running points or kitty program: the rules engine's contributor.

Each program's base rate is an earning rule of the engine (`programs/loyalty`,
a pure function of the rules, the check and the customer): it earns on the
lines in the program's scope, after discounts and — unless the program says
otherwise — without what points or the kitty paid of them, rounded down once
for the check as a whole and spread over the lines by largest remainder. The
engine's near misses ("add 120 CZK to …", "join to earn 12 points") are
passed on to the quote. (Stamps are counted by `checkout.stamps`.)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from cagnotte.checkout.model import Effect, LineShare, NearMiss, PricedLine
from cagnotte.checkout.pricing import ResolvedLine, Standing
from cagnotte.money import Asset
from cagnotte.programs.loyalty import (
    Channel,
    CheckFacts,
    CustomerFacts,
    LineFacts,
    RuleIndex,
    evaluate,
)
from cagnotte.programs.loyalty.program import ProgramKind


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
    member: bool,
    time_zone: str = "UTC",
) -> tuple[list[Effect], list[NearMiss]]:
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
        return [], []
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
    evaluation = evaluate(index, check, CustomerFacts(member=member))
    effects = []
    for award in evaluation.awards:
        program = programs.get(award.program_id)
        if program is None:
            continue  # a suspended program, or one not valid at this moment
        effects.append(
            Effect(
                contributor="loyalty",
                kind="earn",
                asset_code=program.asset_code,
                units=award.amount,
                value_minor=0,
                program_id=program.id,
                rule_id=award.rule_id,
                lines=tuple(LineShare(share.line_index, share.amount) for share in award.shares),
                reason=award.reason[:300],
                expires_at=moment + timedelta(days=award.expires_after_days)
                if award.expires_after_days
                else None,
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
    return effects, near_misses


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
