"""Stamp cards at the register: stamps earned, and the reward of a card the check fills (pure).

A stamps program counts one stamp per eligible item (or one per visit). When
the stamps on the member's card and those of this check reach the card's size,
the check that fills the card gets the reward at once, and the card's stamps
are taken off (a full card is `size` stamps; the rest carries over):
- a free item: the cheapest eligible line's unit, free (its price after the
  register's own discount, per unit, rounded down);
- a fixed discount off the eligible lines;
- a percentage off the eligible lines (rounded down).
A discount is spread over the eligible lines by largest remainder and never
takes a line below zero. A reward never exceeds what the eligible lines cost.

A card whose reward is delivered later (`delivery` voucher, next_purchase or
credit) is handed in the same way (its stamps taken off) but takes nothing off
this check: the commit issues an open credit instead (checkout/credits.py).

A stamps program's promotions (`extra_stamps` rules: double stamps on Tuesdays)
give more stamps on the checks their conditions hold for; the rules engine
says which (`checkout.earning.stamp_promotions`), and their stamps count
towards filling the card in the same check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cagnotte.checkout.model import Effect, LineShare, PricedLine
from cagnotte.checkout.pricing import ResolvedLine, Standing
from cagnotte.money import Rounding, allocate, percentage
from cagnotte.programs.loyalty.program import ProgramKind, RewardDelivery, StampReward


def stamp_cards(
    lines: Sequence[ResolvedLine],
    priced: list[PricedLine],
    standings: Sequence[Standing],
    extra: Sequence[Effect] = (),
) -> tuple[list[PricedLine], list[Effect]]:
    """Stamps each stamps program gives this check (with the `extra` of its promotions),
    and the rewards of cards it fills."""
    effects: list[Effect] = []
    for standing in standings:
        program = standing.program
        if program.kind != ProgramKind.STAMPS:
            continue
        assert program.stamp_card is not None
        positions = [
            position
            for position, line in enumerate(lines)
            if program.scope.covers(line.product_id, line.category_ids)
        ]
        if not positions:
            continue
        card = program.stamp_card
        if card.counts_visits:
            earned, shares = 1, ()
        else:
            earned = sum(priced[position].quantity for position in positions)
            shares = tuple(LineShare(priced[p].index, priced[p].quantity) for p in positions)
        effects.append(
            Effect(
                contributor="loyalty",
                kind="stamps",
                asset_code=program.asset_code,
                units=earned,
                value_minor=0,
                program_id=program.id,
                lines=shares,
                reason=f"{earned} stamps on the {program.name} card",
            )
        )
        promoted = [effect for effect in extra if effect.program_id == program.id]
        effects.extend(promoted)
        earned += sum(effect.units for effect in promoted)
        if standing.balance_units + earned >= card.size:
            priced, reward = _reward(priced, positions, standing)
            if reward is not None:
                effects.append(reward)
    return priced, effects


def _reward(
    priced: list[PricedLine], positions: list[int], standing: Standing
) -> tuple[list[PricedLine], Effect | None]:
    program = standing.program
    card = program.stamp_card
    assert card is not None
    if card.delivery != RewardDelivery.INSTANT:
        return priced, _handed_in(priced, positions, standing)
    priced, value, parts, what = card_discount(priced, positions, card.reward, card.reward_value)
    if value <= 0:
        return priced, None
    # The effect's lines share its units (the card's stamps) by the value each got,
    # so that refunding a line gives back its share of the card.
    unit_parts = allocate(card.size, parts)
    shares = [
        LineShare(priced[position].index, units)
        for position, units in zip(positions, unit_parts, strict=True)
        if units
    ]
    return priced, Effect(
        contributor="loyalty",
        kind="reward",
        asset_code=program.asset_code,
        units=card.size,
        value_minor=value,
        program_id=program.id,
        lines=tuple(shares),
        reason=f"a full {program.name} card ({card.size} stamps): {what}",
    )


def card_discount(
    priced: list[PricedLine], positions: list[int], reward: StampReward, reward_value: int
) -> tuple[list[PricedLine], int, list[int], str]:
    """A card's reward taken off the lines at `positions`: the lines, the value, each
    position's part of it and what it was (value 0: nothing to take off)."""
    room = [priced[position].net_minor for position in positions]
    if sum(room) == 0:
        return priced, 0, [0] * len(positions), ""
    if reward == StampReward.FREE_ITEM:
        cheapest = min(positions, key=lambda p: (_unit_net(priced[p]), priced[p].index))
        value = _unit_net(priced[cheapest])
        weights = [value if position == cheapest else 0 for position in positions]
        what = f"one {priced[cheapest].sku} free"
    elif reward == StampReward.FIXED_DISCOUNT:
        value, weights, what = min(reward_value, sum(room)), room, "a discount"
    else:
        value = percentage(sum(room), reward_value, Rounding.DOWN)
        percent = f"{reward_value // 100}.{reward_value % 100:02d}".rstrip("0")
        weights, what = room, f"{percent.rstrip('.')} % off"
    if value <= 0 or sum(weights) == 0:
        return priced, 0, [0] * len(positions), ""
    parts = allocate(value, weights, caps=room)
    priced = list(priced)
    for position, part in zip(positions, parts, strict=True):
        if part:
            line = priced[position]
            priced[position] = replace(line, discount_minor=line.discount_minor + part)
    return priced, value, parts, what


def _handed_in(priced: list[PricedLine], positions: list[int], standing: Standing) -> Effect:
    """A full card handed in for a reward delivered later (checkout/credits.py issues it):
    the card's stamps are taken off, nothing off this check. Its lines share the
    stamps by quantity, so that a refund gives back each line's part of the card."""
    program = standing.program
    card = program.stamp_card
    assert card is not None
    unit_parts = allocate(card.size, [priced[position].quantity for position in positions])
    return Effect(
        contributor="loyalty",
        kind="reward",
        asset_code=program.asset_code,
        units=card.size,
        value_minor=0,
        program_id=program.id,
        lines=tuple(
            LineShare(priced[position].index, units)
            for position, units in zip(positions, unit_parts, strict=True)
            if units
        ),
        reason=f"a full {program.name} card ({card.size} stamps): "
        f"a reward for later ({card.delivery.value.replace('_', ' ')})",
    )


def _unit_net(line: PricedLine) -> int:
    return line.net_minor // line.quantity
