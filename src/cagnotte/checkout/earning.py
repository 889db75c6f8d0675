"""What a check earns in each running program (the contributor of the loyalty programs).

Each program's base rate earns on the check's eligible amount: the lines in the
program's scope, after discounts and — unless the program says otherwise —
without what points or the kitty paid of them, rounded down once for the check
as a whole. (Stamps are counted by `checkout.stamps`.)
"""

from __future__ import annotations

from collections.abc import Sequence

from cagnotte.checkout.model import Effect, LineShare, PricedLine
from cagnotte.checkout.pricing import ResolvedLine, Standing
from cagnotte.money import allocate
from cagnotte.programs.loyalty.program import LoyaltyProgram, ProgramKind


def earned(
    lines: Sequence[ResolvedLine], priced: Sequence[PricedLine], standings: Sequence[Standing],
) -> list[Effect]:
    """One earn effect per program that earns anything on this check."""
    effects = []
    for standing in standings:
        effect = _earned_in(lines, priced, standing.program)
        if effect is not None:
            effects.append(effect)
    return effects


def _earning_base(line: PricedLine, program: LoyaltyProgram) -> int:
    paid_with_loyalty = 0 if program.earn_on_loyalty_payment else line.loyalty_paid_minor
    return line.net_minor - paid_with_loyalty


def _earned_in(
    lines: Sequence[ResolvedLine], priced: Sequence[PricedLine], program: LoyaltyProgram,
) -> Effect | None:
    positions = [position for position, line in enumerate(lines)
                 if program.scope.covers(line.product_id, line.category_ids)]
    if not positions:
        return None
    if program.kind == ProgramKind.STAMPS:
        return None  # stamps are counted by checkout.stamps
    assert program.earning is not None
    bases = [max(_earning_base(priced[position], program), 0) for position in positions]
    units = program.earning.earned_on(sum(bases))
    if units <= 0:
        return None
    parts = allocate(units, bases)
    shares = tuple(LineShare(priced[p].index, part)
                   for p, part in zip(positions, parts, strict=True) if part)
    noun = "points" if program.kind == ProgramKind.POINTS else "minor units into the kitty"
    return Effect(
        contributor="loyalty", kind="earn", asset_code=program.asset_code, units=units,
        value_minor=0, program_id=program.id, rule_id=f"base:{program.id}", lines=shares,
        reason=(f"{units} {noun} of {program.name} at {program.earning.numerator}/"
                f"{program.earning.denominator} per minor unit on {sum(bases)}"),
    )
