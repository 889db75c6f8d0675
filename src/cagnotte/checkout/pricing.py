"""Pricing a check: what points and the kitty pay of it, line by line (pure).

Policies (documented defaults of the programs, `programs.loyalty.program`):
- a program's balance pays for the lines its spending scope admits, at most its
  share of them and never more than is left of the check; what it pays is
  spread over those lines by largest remainder (in proportion to what is left
  of each), so the parts add up exactly and no line goes below zero;
- programs are used in the order the customer named them;
- a balance is the member's available balance before the check: what the check
  earns cannot pay for the same check.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cagnotte import errors
from cagnotte.checkout.model import (
    Effect,
    LineRequest,
    LineShare,
    LoyaltyUse,
    PricedLine,
    Spendable,
)
from cagnotte.money import allocate
from cagnotte.programs.loyalty.program import (
    LoyaltyProgram,
    ProgramKind,
    SpendScope,
    spendable,
)


@dataclass(frozen=True, slots=True)
class ResolvedLine:
    """A requested line with what the catalogue knows of its SKU (nothing: uncatalogued)."""

    index: int
    request: LineRequest
    product_id: uuid.UUID | None = None
    category_ids: frozenset[uuid.UUID] = frozenset()
    members_only: bool = False


@dataclass(frozen=True, slots=True)
class Standing:
    """A member's available balance in one running program, before the check."""

    program: LoyaltyProgram
    balance_units: int


def priced_lines(lines: Sequence[ResolvedLine]) -> list[PricedLine]:
    """The lines before any reward: gross, the register's discount, nothing paid yet."""
    return [
        PricedLine(
            index=line.index,
            sku=line.request.sku,
            product_id=line.product_id,
            quantity=line.request.quantity,
            unit_price_minor=line.request.unit_price_minor,
            gross_minor=line.request.gross_minor,
            discount_minor=line.request.discount_minor,
            loyalty_paid_minor=0,
        )
        for line in lines
    ]


def spend_loyalty(
    lines: Sequence[ResolvedLine],
    priced: list[PricedLine],
    standings: Sequence[Standing],
    uses: Sequence[LoyaltyUse],
) -> tuple[list[PricedLine], list[Spendable], list[Effect]]:
    """What each named program pays, and the most every spendable program could pay.

    Returns the lines with what points and kitty paid of them, the spendable
    figures of every program with a balance (for the quote), and one spend
    effect per program used. A program named but not running for this member is
    invalid_input.
    """
    by_program = {standing.program.id: standing for standing in standings}
    effects: list[Effect] = []
    for use in uses:
        standing = by_program.get(use.program_id)
        if standing is None or standing.program.spending is None:
            raise errors.InvalidInput("The customer cannot pay with this program here.")
        priced, effect = _spend(lines, priced, standing, use.units)
        if effect is not None:
            effects.append(effect)
    spendables = [
        _spendable(lines, priced, standing)
        for standing in standings
        if standing.program.spending is not None
    ]
    return priced, spendables, effects


def _eligible(lines: Sequence[ResolvedLine], program: LoyaltyProgram) -> list[int]:
    """The indexes (positions) of the lines a program's balance may pay for."""
    assert program.spending is not None
    rules = program.spending
    chosen = []
    for position, line in enumerate(lines):
        if rules.scope == SpendScope.PUBLIC:
            admitted = not line.members_only
        elif rules.scope == SpendScope.MEMBERS_ONLY:
            admitted = line.members_only
        elif rules.scope == SpendScope.CHOSEN:
            admitted = rules.chosen.covers(line.product_id, line.category_ids)
        else:
            admitted = True
        # The program's own scope (its catalogue) bounds its spending too.
        if admitted and program.scope.covers(line.product_id, line.category_ids):
            chosen.append(position)
    return chosen


def _left(line: PricedLine) -> int:
    return line.net_minor - line.loyalty_paid_minor


def _spendable(
    lines: Sequence[ResolvedLine],
    priced: Sequence[PricedLine],
    standing: Standing,
) -> Spendable:
    program = standing.program
    assert program.spending is not None
    positions = _eligible(lines, program)
    quote = spendable(
        program.spending,
        balance_units=standing.balance_units,
        eligible_minor=sum(_left(priced[position]) for position in positions),
        check_total_minor=sum(_left(line) for line in priced),
    )
    return Spendable(
        program.id, standing.balance_units, quote.units, quote.value_minor, quote.limited_by
    )


def _spend(
    lines: Sequence[ResolvedLine],
    priced: list[PricedLine],
    standing: Standing,
    requested_units: int | None,
) -> tuple[list[PricedLine], Effect | None]:
    program = standing.program
    assert program.spending is not None
    positions = _eligible(lines, program)
    room = [_left(priced[position]) for position in positions]
    quote = spendable(
        program.spending,
        balance_units=standing.balance_units,
        eligible_minor=sum(room),
        check_total_minor=sum(_left(line) for line in priced),
        requested_units=requested_units,
    )
    if requested_units is not None and quote.units < requested_units:
        raise errors.InsufficientFunds(
            f"At most {quote.units} units of this program may pay for this check."
        )
    if quote.value_minor == 0:
        return priced, None
    parts = allocate(quote.value_minor, room, caps=room)
    # The effect's lines share its units (what a refund gives back), in proportion
    # to the value each line got.
    unit_parts = allocate(quote.units, parts)
    shares = []
    priced = list(priced)
    for position, part, units in zip(positions, parts, unit_parts, strict=True):
        if part:
            line = priced[position]
            priced[position] = replace(line, loyalty_paid_minor=line.loyalty_paid_minor + part)
        if units:
            shares.append(LineShare(priced[position].index, units))
    noun = {ProgramKind.POINTS: "points", ProgramKind.KITTY: "kitty"}.get(program.kind, "units")
    effect = Effect(
        contributor="loyalty",
        kind="spend",
        asset_code=program.asset_code,
        units=quote.units,
        value_minor=quote.value_minor,
        program_id=program.id,
        lines=tuple(shares),
        reason=f"{quote.units} {noun} of {program.name} paid {quote.value_minor} minor units",
    )
    return priced, effect


def wallet_payment(
    priced: Sequence[PricedLine],
    wallet_balance_minor: int,
    amount_minor: int | None,
    asset_code: str,
    tender_effects: Sequence[Effect] = (),
    *,
    contributor: str = "wallet",
) -> Effect | None:
    """What a stored-value tender (the customer's wallet, a gift card) pays: the amount
    asked, or what is left of the check after the tenders before it (up to its balance).

    An amount beyond what is left of the check is invalid_input; beyond the
    balance, insufficient_funds (the ledger refuses it again at commit).
    """
    name = contributor.replace("_", " ")
    left = sum(_left(line) for line in priced) - sum(e.value_minor for e in tender_effects)
    if amount_minor is None:
        amount_minor = min(left, wallet_balance_minor)
    elif amount_minor > left:
        raise errors.InvalidInput(f"The {name} cannot pay more than is left of the check.")
    elif amount_minor > wallet_balance_minor:
        raise errors.InsufficientFunds()
    if amount_minor <= 0:
        return None
    return Effect(
        contributor=contributor,
        kind="payment",
        asset_code=asset_code,
        units=amount_minor,
        value_minor=amount_minor,
        reason=f"{name} paid {amount_minor} minor units",
    )
