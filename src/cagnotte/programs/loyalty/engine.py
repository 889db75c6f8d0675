"""The earning engine: what a check earns, as a pure function of (rules, check, customer).

`evaluate(index, check, customer)` finds the rules whose targeting holds (the
index), checks the rest of each condition at the check's moment, lets
exclusive rules stop the rules after them in their program, computes each
benefit on the lines that earn (after limits on goods), cuts it by the caps,
and answers an `Evaluation`: the awards and why, the caps applied, and the
near misses. It reads no clock, no table and no setting; the moment is the
check's.

The seam with the register check: a quote evaluates with the facts as they
are; the commit evaluates again, on the server, with the usage counters read
under the unit of work's locks, and posts what that second evaluation says (its
`index_version` tells whether the rules changed in between). A refund reverses
the committed awards through their line shares; nothing here is re-run for it.

Near misses are listed only for a rule that fails exactly one condition the
customer can act on now: a minimum basket, a time window (days or hours), a
profile to complete; for an anonymous customer, joining (what each program
would give, as one near miss per program); and progress that is not a
failure: stamps missing to complete a card, spend missing to reach the next
tier. `EvaluationOptions` sets how near is near.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from cagnotte.money import allocate
from cagnotte.programs.loyalty import wording
from cagnotte.programs.loyalty.benefits import Earned, EarningLine, base_rate, earn
from cagnotte.programs.loyalty.conditions import (
    Missing,
    basket_shortfall,
    in_active_period,
    requirement_missing,
    window_holds,
)
from cagnotte.programs.loyalty.facts import (
    CheckFacts,
    CustomerFacts,
    GoodsUsage,
    ProgramId,
    RuleUsage,
)
from cagnotte.programs.loyalty.index import RuleIndex, compile_rules
from cagnotte.programs.loyalty.results import (
    AppliedCap,
    Award,
    BudgetDraw,
    CapKind,
    Evaluation,
    GoodsEarned,
    LineShare,
    NearMiss,
    ProgramTotal,
    StampCard,
    StoppedRule,
)
from cagnotte.programs.loyalty.rules import (
    AmountBasis,
    Caps,
    EarningPolicy,
    GoodsLimit,
    MinimumBasket,
    Multiplier,
    ProgramKind,
    Rule,
    TieredRate,
)

NO_USAGE = RuleUsage()
NO_CAPS = Caps()
NO_GOODS = GoodsUsage()
# What a near miss may ask of the customer at the check.
ACTIONABLE = frozenset({Missing.MINIMUM_BASKET, Missing.TIME_WINDOW, Missing.PROFILE})


@dataclass(frozen=True, slots=True)
class EvaluationOptions:
    """How near is near; the defaults are the documented policy."""

    near_misses: bool = True
    # At most this many near misses, the first in rule order.
    near_misses_max: int = 5
    # A minimum basket is a near miss once the check reaches this share of it
    # (basis points: 5 000 = half): "add 120 CZK", not "add 4 000 CZK".
    basket_near_miss_from_bp: int = 5_000
    # A card is a near miss when at most this many stamps are missing after the check.
    stamps_near_miss_max: int = 2


DEFAULT_OPTIONS = EvaluationOptions()


class _Status(enum.Enum):
    NOT_APPLICABLE = "not_applicable"
    APPLIED = "applied"
    STOPPED = "stopped"


class _Context:
    """The facts of one evaluation and what is derived from them once."""

    __slots__ = ("check", "customer", "local", "basket_minor", "_bases")

    def __init__(self, check: CheckFacts, customer: CustomerFacts) -> None:
        self.check = check
        self.customer = customer
        self.local: datetime = check.moment.astimezone(ZoneInfo(check.time_zone))
        self.basket_minor = check.basket_minor
        self._bases: dict[EarningPolicy, tuple[tuple[int, int], ...]] = {}

    def basis(self, policy: EarningPolicy) -> tuple[tuple[int, int], ...]:
        """(amount that earns, units that earn) of each line, by position, under the policy."""
        basis = self._bases.get(policy)
        if basis is None:
            basis = self._bases[policy] = tuple(
                _line_basis(line, policy) for line in self.check.lines
            )
        return basis


def _line_basis(line, policy: EarningPolicy) -> tuple[int, int]:
    if policy.amount_basis is AmountBasis.AFTER_DISCOUNTS:
        amount = line.amount_minor
    else:
        amount = line.unit_price_minor * line.quantity
    if policy.earn_on_loyalty_paid or line.paid_with_loyalty_minor == 0:
        return amount, line.quantity
    paid_otherwise = line.amount_minor - line.paid_with_loyalty_minor
    units = line.quantity * paid_otherwise // line.amount_minor
    return max(0, amount - line.paid_with_loyalty_minor), units


class _Assessment:
    """One candidate rule on this check: its lines, what it misses, what became of it."""

    __slots__ = (
        "ordinal",
        "rule",
        "positions",
        "missing",
        "status",
        "earning",
        "goods_cuts",
        "amounts",
    )

    def __init__(self, ordinal: int, rule: Rule, positions: tuple[int, ...]) -> None:
        self.ordinal = ordinal
        self.rule = rule
        self.positions = positions
        self.missing: tuple[Missing, ...] = ()
        self.status = _Status.NOT_APPLICABLE
        self.earning: list[EarningLine] | None = None
        self.goods_cuts: tuple[AppliedCap, ...] = ()
        # A base rule's earning amounts by position, for its multipliers.
        self.amounts: dict[int, int] | None = None


def evaluate(
    index: RuleIndex,
    check: CheckFacts,
    customer: CustomerFacts,
    options: EvaluationOptions = DEFAULT_OPTIONS,
) -> Evaluation:
    """What the check earns the customer under the merchant's rules, and what it nearly earns.

    Deterministic: the same index, facts and options give an equal Evaluation.
    """
    context = _Context(check, customer)
    assessments = [
        _assess(_Assessment(ordinal, index.rules[ordinal], positions), context)
        for ordinal, positions in index.lookup(check, customer)
    ]
    stopped = _settle_exclusivity(assessments)
    by_id = {assessment.rule.id: assessment for assessment in assessments}
    awards: list[Award] = []
    cuts: list[AppliedCap] = []
    goods: list[GoodsEarned] = []
    for assessment in assessments:
        if assessment.status is _Status.APPLIED:
            award = _award(assessment, by_id, context, cuts, goods)
            if award is not None:
                awards.append(award)
    near_misses = (
        _near_misses(index, assessments, by_id, awards, context, options)
        if options.near_misses
        else ()
    )
    return _evaluation(index, customer, awards, cuts, stopped, goods, near_misses)


def evaluate_rules(
    rules: list[Rule],
    check: CheckFacts,
    customer: CustomerFacts,
    options: EvaluationOptions = DEFAULT_OPTIONS,
) -> Evaluation:
    """`evaluate` over rules not compiled yet (tests, a one-off preview of a new rule)."""
    return evaluate(compile_rules(rules), check, customer, options)


def _assess(assessment: _Assessment, context: _Context) -> _Assessment:
    rule = assessment.rule
    condition = rule.condition
    missing = []
    if not in_active_period(rule, context.check.moment):
        missing.append(Missing.ACTIVE_PERIOD)
    if condition.windows and not any(
        window_holds(window, context.local) for window in condition.windows
    ):
        missing.append(Missing.TIME_WINDOW)
    if not context.customer.member:
        missing.append(Missing.MEMBERSHIP)
    if condition.requirements:
        eligible_minor = _eligible_minor(assessment, context)
        for requirement in condition.requirements:
            lack = requirement_missing(
                requirement,
                context.customer,
                context.local.date(),
                context.basket_minor,
                eligible_minor,
            )
            if lack is not None:
                missing.append(lack)
    assessment.missing = tuple(missing)
    return assessment


def _eligible_minor(assessment: _Assessment, context: _Context) -> int:
    basis = context.basis(assessment.rule.policy)
    return sum(basis[position][0] for position in assessment.positions)


def _settle_exclusivity(assessments: list[_Assessment]) -> list[StoppedRule]:
    """An exclusive rule that applies stops every later rule of its program."""
    stopper: dict[ProgramId, str] = {}
    stopped = []
    for assessment in assessments:
        rule = assessment.rule
        by_rule_id = stopper.get(rule.program_id)
        if by_rule_id is not None:
            assessment.status = _Status.STOPPED
            if not assessment.missing:
                stopped.append(StoppedRule(rule.id, rule.program_id, by_rule_id))
        elif not assessment.missing:
            assessment.status = _Status.APPLIED
            if rule.exclusive:
                stopper[rule.program_id] = rule.id
    return stopped


def _award(
    assessment: _Assessment,
    by_id: dict,
    context: _Context,
    cuts: list[AppliedCap],
    goods: list[GoodsEarned],
) -> Award | None:
    rule = assessment.rule
    earned, amount, cap_cuts = _computed(assessment, by_id, context)
    cuts.extend(assessment.goods_cuts)
    cuts.extend(cap_cuts)
    if amount <= 0:
        return None
    if rule.goods_limit is not None:
        goods.extend(_goods_earned(rule, assessment.earning, context))
    reason = earned.reason
    if rule.condition.requirements:
        currency = context.check.currency
        reason += "".join(
            ", " + wording.requirement(requirement, currency)
            for requirement in rule.condition.requirements
        )
    if rule.expires_after_days is not None:
        reason += f", expiring after {wording.plural(rule.expires_after_days, 'day')}"
    return Award(
        rule_id=rule.id,
        program_id=rule.program_id,
        kind=rule.kind,
        amount=amount,
        shares=_shares(earned, amount, context.check),
        reason=reason,
        amount_before_caps=earned.amount,
        budget_id=rule.budget_id,
        expires_after_days=rule.expires_after_days,
    )


def _computed(
    assessment: _Assessment, by_id: dict, context: _Context
) -> tuple[Earned, int, list[AppliedCap]]:
    """The benefit as if the rule applied, and its amount after caps."""
    lines = _earning(assessment, context)
    base = _base(assessment.rule, by_id, context)
    earned = earn(assessment.rule, lines, context.customer, context.check.currency, base)
    amount, cap_cuts = _capped(assessment.rule, earned.amount, context)
    return earned, amount, cap_cuts


def _base(rule: Rule, by_id: dict, context: _Context):
    """A multiplier's base: the base rule, its rate for this customer, its amounts by line."""
    if not isinstance(rule.benefit, Multiplier):
        return None
    base = by_id.get(rule.benefit.base_rule_id)
    if base is None or base.status is not _Status.APPLIED:
        return None
    lines = _earning(base, context)
    rate = base_rate(base.rule, lines, context.customer)
    if rate is None:
        return None
    if base.amounts is None:
        base.amounts = {line.position: line.amount_minor for line in lines}
    return base.rule, rate, base.amounts


def _earning(assessment: _Assessment, context: _Context) -> list[EarningLine]:
    """The rule's lines as they earn: the policy's amounts, then the limits on goods."""
    if assessment.earning is None:
        basis = context.basis(assessment.rule.policy)
        if assessment.rule.goods_limit is None:
            assessment.earning = [
                EarningLine(position, *basis[position]) for position in assessment.positions
            ]
        else:
            assessment.earning, assessment.goods_cuts = _goods_limited(
                assessment.rule, assessment.positions, basis, context
            )
    return assessment.earning


def _goods_limited(
    rule: Rule, positions: tuple[int, ...], basis, context: _Context
) -> tuple[list[EarningLine], tuple[AppliedCap, ...]]:
    limit = rule.goods_limit
    rooms: dict[str, list] = {}
    lines = []
    for position in positions:
        line = context.check.lines[position]
        amount, units = basis[position]
        if line.product_id is None or units == 0:
            lines.append(EarningLine(position, amount, units))
            continue
        room = rooms.get(line.product_id)
        if room is None:
            usage = context.customer.goods_usage.get((rule.id, line.product_id), NO_GOODS)
            # [units left, cap kind, limit, used before, units requested, units granted, sku]
            room = rooms[line.product_id] = [*_goods_room(limit, usage), 0, 0, line.sku]
        take = min(units, room[0])
        room[0] -= take
        room[4] += units
        room[5] += take
        if take:
            lines.append(EarningLine(position, amount * take // units, take))
    cuts = tuple(
        AppliedCap(
            rule_id=rule.id,
            program_id=rule.program_id,
            cap=kind,
            limit=limit_value,
            used_before=used,
            requested=requested,
            granted=granted,
            product_id=product_id,
            message=_goods_message(kind, limit_value, used, sku),
        )
        for product_id, (_, kind, limit_value, used, requested, granted, sku) in rooms.items()
        if granted < requested
    )
    return lines, cuts


def _goods_room(limit: GoodsLimit, usage: GoodsUsage) -> tuple[int, CapKind, int, int]:
    """Units left today and this month, whichever is fewer, and which limit that is."""
    rooms = []
    if limit.per_day_quantity_max is not None:
        rooms.append(
            (
                max(0, limit.per_day_quantity_max - usage.day_quantity),
                0,
                CapKind.GOODS_PER_DAY,
                limit.per_day_quantity_max,
                usage.day_quantity,
            )
        )
    if limit.per_month_quantity_max is not None:
        rooms.append(
            (
                max(0, limit.per_month_quantity_max - usage.month_quantity),
                1,
                CapKind.GOODS_PER_MONTH,
                limit.per_month_quantity_max,
                usage.month_quantity,
            )
        )
    room, _, kind, limit_value, used = min(rooms)
    return room, kind, limit_value, used


def _goods_message(kind: CapKind, limit: int, used: int, sku: str) -> str:
    period = "today" if kind is CapKind.GOODS_PER_DAY else "this month"
    every = "a day" if kind is CapKind.GOODS_PER_DAY else "a month"
    return (
        f"earns on at most {wording.plural(limit, 'unit')} of {sku} {every}; "
        f"{used} already earned {period}"
    )


def _goods_earned(rule: Rule, lines: list[EarningLine], context: _Context) -> list[GoodsEarned]:
    quantities: dict[str, int] = {}
    for line in lines:
        product_id = context.check.lines[line.position].product_id
        if product_id is not None and line.units:
            quantities[product_id] = quantities.get(product_id, 0) + line.units
    return [GoodsEarned(rule.id, product_id, units) for product_id, units in quantities.items()]


def _capped(rule: Rule, amount: int, context: _Context) -> tuple[int, list[AppliedCap]]:
    """The amount after the rule's caps, in the order check, times, day, month."""
    caps = rule.caps
    cuts: list[AppliedCap] = []
    if amount <= 0:
        return 0, cuts
    if caps == NO_CAPS:
        return amount, cuts
    usage = context.customer.rule_usage.get(rule.id, NO_USAGE) if caps.per_customer else NO_USAGE
    steps = (
        (CapKind.PER_CHECK_AMOUNT, caps.per_check_amount_max, 0, caps.per_check_amount_max),
        (CapKind.PER_DAY_TIMES, caps.per_day_times_max, usage.day_times, None),
        (CapKind.PER_MONTH_TIMES, caps.per_month_times_max, usage.month_times, None),
        (CapKind.PER_DAY_AMOUNT, caps.per_day_amount_max, usage.day_amount, None),
        (CapKind.PER_MONTH_AMOUNT, caps.per_month_amount_max, usage.month_amount, None),
    )
    for kind, limit, used, _ in steps:
        if limit is None or amount == 0:
            continue
        if kind in (CapKind.PER_DAY_TIMES, CapKind.PER_MONTH_TIMES):
            room = amount if used < limit else 0
        else:
            room = max(0, limit - used)
        if room < amount:
            cuts.append(
                AppliedCap(
                    rule_id=rule.id,
                    program_id=rule.program_id,
                    cap=kind,
                    limit=limit,
                    used_before=used,
                    requested=amount,
                    granted=room,
                    message=_cap_message(kind, limit, used, rule.kind, context),
                )
            )
            amount = room
    return amount, cuts


def _cap_message(
    kind: CapKind, limit: int, used: int, program_kind: ProgramKind, context: _Context
) -> str:
    currency = context.check.currency
    if kind is CapKind.PER_CHECK_AMOUNT:
        return f"at most {wording.units(limit, program_kind, currency)} per check"
    if kind is CapKind.PER_DAY_TIMES:
        return f"at most {wording.plural(limit, 'time')} a day; {used} already today"
    if kind is CapKind.PER_MONTH_TIMES:
        return f"at most {wording.plural(limit, 'time')} a month; {used} already this month"
    period, every = (
        ("today", "a day") if kind is CapKind.PER_DAY_AMOUNT else ("this month", "a month")
    )
    return (
        f"at most {wording.units(limit, program_kind, currency)} {every}; "
        f"{wording.units(used, program_kind, currency)} already given {period}"
    )


def _shares(earned: Earned, amount: int, check: CheckFacts) -> tuple[LineShare, ...]:
    if not earned.weights:
        return ()
    weights = [weight for _, weight in earned.weights]
    if (earned.exact and amount == earned.amount) or len(weights) == 1:
        parts = weights if len(weights) > 1 else [amount]
    else:
        parts = allocate(amount, weights)
    return tuple(
        LineShare(check.lines[position].index, part)
        for (position, _), part in zip(earned.weights, parts, strict=True)
        if part
    )


# Near misses.


def _near_misses(
    index: RuleIndex,
    assessments: list[_Assessment],
    by_id: dict,
    awards: list[Award],
    context: _Context,
    options: EvaluationOptions,
) -> tuple[NearMiss, ...]:
    """The first near misses in rule order, at most `near_misses_max`.

    A rule's near miss needs its benefit computed, so the rules that may be
    one are put in order first and computed one by one until there are enough:
    a check in a merchant of many hours-of-the-day offers would otherwise
    compute them all to keep five.
    """
    if not context.customer.member:
        found = _join_near_misses(index, context, options)
        found.sort(key=lambda pair: pair[0])
        return tuple(near_miss for _, near_miss in found[: options.near_misses_max])
    prospects = [
        ((assessment.ordinal, assessment.missing[0].value), assessment)
        for assessment in assessments
        if assessment.status is _Status.NOT_APPLICABLE
        and len(assessment.missing) == 1
        and assessment.missing[0] in ACTIONABLE
    ]
    progress = _tier_near_misses(assessments, context)
    progress.extend(_stamp_near_misses(index, awards, context, options))
    prospects.extend(
        ((ordinal, near_miss.missing.value), near_miss) for ordinal, near_miss in progress
    )
    prospects.sort(key=lambda pair: pair[0])
    found = []
    for _, prospect in prospects:
        if len(found) == options.near_misses_max:
            break
        near_miss = (
            _near_miss(prospect, by_id, context, options)
            if isinstance(prospect, _Assessment)
            else prospect
        )
        if near_miss is not None:
            found.append(near_miss)
    return tuple(found)


def _near_miss(
    assessment: _Assessment, by_id: dict, context: _Context, options: EvaluationOptions
) -> NearMiss | None:
    """The near miss of a rule missing one actionable condition, if it would give something."""
    missing = assessment.missing[0]
    rule = assessment.rule
    currency = context.check.currency
    missing_amount = None
    if missing is Missing.TIME_WINDOW:
        # A window whose dates are over cannot be met any more.
        today = context.local.date()
        windows = [
            window
            for window in rule.condition.windows
            if window.date_to is None or window.date_to >= today
        ]
        if not windows:
            return None
        action = "buy " + wording.either(wording.window(window) for window in windows)
    elif missing is Missing.MINIMUM_BASKET:
        requirement, shortfall = _basket_shortfall(assessment, context)
        reached = requirement.amount_minor - shortfall
        if reached * 10_000 < requirement.amount_minor * options.basket_near_miss_from_bp:
            return None
        missing_amount = shortfall
        of = (
            f" of {rule.condition.scope.label}"
            if (requirement.on_eligible_lines and rule.condition.scope.label)
            else ""
        )
        action = f"add {wording.money(shortfall, currency)}{of}"
    else:
        action = "complete your profile"
    _, amount, _ = _computed(assessment, by_id, context)
    if amount <= 0:
        return None
    what = rule.name or wording.units(amount, rule.kind, currency)
    return NearMiss(
        rule_ids=(rule.id,),
        program_id=rule.program_id,
        missing=missing,
        message=f"{action} to earn {what}",
        missing_amount=missing_amount,
        would_earn=amount,
    )


def _basket_shortfall(assessment: _Assessment, context: _Context) -> tuple[MinimumBasket, int]:
    eligible_minor = _eligible_minor(assessment, context)
    for requirement in assessment.rule.condition.requirements:
        if isinstance(requirement, MinimumBasket):
            shortfall = basket_shortfall(requirement, context.basket_minor, eligible_minor)
            if shortfall:
                return requirement, shortfall
    raise AssertionError("a rule missing its minimum basket has one it misses")


def _join_near_misses(
    index: RuleIndex, context: _Context, options: EvaluationOptions
) -> list[tuple[int, NearMiss]]:
    """What each program would give if the anonymous customer joined now."""
    # Joining now makes this check a new member's first purchase and first visit.
    joined = replace(
        context.customer,
        member=True,
        enrolled_this_check=True,
        first_purchase=True,
        visit_number=1,
    )
    evaluation = evaluate(index, context.check, joined, replace(options, near_misses=False))
    found = []
    for total in evaluation.totals:
        rule_ids = tuple(
            award.rule_id for award in evaluation.awards if award.program_id == total.program_id
        )
        words = wording.units(total.amount, total.kind, context.check.currency)
        found.append(
            (
                index.position_by_id[rule_ids[0]],
                NearMiss(
                    rule_ids=rule_ids,
                    program_id=total.program_id,
                    missing=Missing.MEMBERSHIP,
                    message=f"join to earn {words}",
                    would_earn=total.amount,
                ),
            )
        )
    return found


def _tier_near_misses(
    assessments: list[_Assessment], context: _Context
) -> list[tuple[int, NearMiss]]:
    """Spend missing to reach the next tier, once per program whose tiered rule applied."""
    found = []
    seen: set[ProgramId] = set()
    for assessment in assessments:
        rule = assessment.rule
        benefit = rule.benefit
        if assessment.status is not _Status.APPLIED or not isinstance(benefit, TieredRate):
            continue
        standing = context.customer.tiers.get(rule.program_id)
        if rule.program_id in seen or standing is None or not benefit.tier(standing.tier_id):
            continue
        seen.add(rule.program_id)
        higher = benefit.next_tier(standing.tier_id)
        if higher is None:
            continue
        shortfall = higher.spend_min_minor - standing.period_spend_minor - context.basket_minor
        if shortfall <= 0:
            continue
        currency = context.check.currency
        message = (
            f"spend {wording.money(shortfall, currency)} more to reach {higher.tier_id} "
            f"and earn {wording.rate(higher.rate, rule.kind, currency)}"
        )
        found.append(
            (
                assessment.ordinal,
                NearMiss(
                    rule_ids=(rule.id,),
                    program_id=rule.program_id,
                    missing=Missing.TIER,
                    message=message,
                    missing_amount=shortfall,
                ),
            )
        )
    return found


def _stamp_near_misses(
    index: RuleIndex, awards: list[Award], context: _Context, options: EvaluationOptions
) -> list[tuple[int, NearMiss]]:
    """Cards this check leaves a stamp or two short of the reward."""
    found = []
    moment = context.check.moment
    for program_id, card in sorted(index.stamp_cards.items()):
        if not any(in_active_period(index.rule(rule_id), moment) for rule_id in card.rule_ids):
            continue
        after = context.customer.stamps_on_card.get(program_id, 0) + sum(
            award.amount for award in awards if award.program_id == program_id
        )
        on_card = after % card.card_size
        missing = card.card_size - on_card
        if on_card == 0 or missing > options.stamps_near_miss_max:
            continue
        found.append(
            (
                index.position_by_id[card.rule_ids[0]],
                NearMiss(
                    rule_ids=card.rule_ids,
                    program_id=program_id,
                    missing=Missing.STAMPS,
                    message=wording.stamps_to_go(missing, card.reward),
                    missing_amount=missing,
                ),
            )
        )
    return found


def _evaluation(
    index: RuleIndex,
    customer: CustomerFacts,
    awards: list[Award],
    cuts: list[AppliedCap],
    stopped: list[StoppedRule],
    goods: list[GoodsEarned],
    near_misses: tuple[NearMiss, ...],
) -> Evaluation:
    totals: dict[ProgramId, int] = {}
    budgets: dict[str, list] = {}
    for award in awards:
        totals[award.program_id] = totals.get(award.program_id, 0) + award.amount
        if award.budget_id is not None:
            draw = budgets.setdefault(award.budget_id, [award.program_id, 0])
            draw[1] += award.amount
    cards = tuple(
        StampCard(
            program_id=program_id,
            card_size=card.card_size,
            reward=card.reward,
            stamps_before=customer.stamps_on_card.get(program_id, 0),
            stamps_after=customer.stamps_on_card.get(program_id, 0) + totals[program_id],
        )
        for program_id, card in sorted(index.stamp_cards.items())
        if program_id in totals
    )
    return Evaluation(
        index_version=index.version,
        awards=tuple(awards),
        totals=tuple(
            ProgramTotal(program_id, index.program_kinds[program_id], amount)
            for program_id, amount in sorted(totals.items())
        ),
        near_misses=near_misses,
        applied_caps=tuple(cuts),
        stopped=tuple(stopped),
        goods_earned=tuple(goods),
        stamp_cards=cards,
        budget_draws=tuple(
            BudgetDraw(budget_id, program_id, amount)
            for budget_id, (program_id, amount) in sorted(budgets.items())
        ),
    )
