"""What the earning engine answers: awards, caps applied, near misses, as frozen values.

Everything is in rule order (priority, then rule id) or sorted by id, so the
same facts give the same `Evaluation`, field for field. The register check
turns it into ledger transfers at commit: one credit per award (a lot expiring
after `expires_after_days` for temporary points), drawn on the award's budget
when it names one; it adds each award to the rule's usage counters and each
`GoodsEarned` to the goods counters. A refund reverses awards line by line
through their `shares`.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from dataclasses import dataclass
from typing import NamedTuple

from cagnotte.programs.loyalty.conditions import Missing
from cagnotte.programs.loyalty.facts import BudgetId, ProductId, ProgramId, RuleId
from cagnotte.programs.loyalty.rules import ProgramKind


class LineShare(NamedTuple):
    """The part of an award earned on one line (the shares of an award add up to it).

    A named tuple, immutable like the dataclasses here but cheaper to make: an
    award has one per line it was earned on.
    """

    line_index: int
    amount: int


@dataclass(frozen=True, slots=True)
class Award:
    """What one rule gives on this check, on which lines, and why.

    `amount` is in the program's unit: points, stamps, or minor units of the
    check's currency for a kitty. No shares means a check-wide award (a bonus
    for the first purchase, a stamp per visit): a refund of some lines leaves it.
    """

    rule_id: RuleId
    program_id: ProgramId
    kind: ProgramKind
    amount: int
    shares: tuple[LineShare, ...]
    reason: str
    amount_before_caps: int
    budget_id: BudgetId | None = None
    expires_after_days: int | None = None

    def __post_init__(self) -> None:
        assert 0 < self.amount <= self.amount_before_caps, self
        assert not self.shares or sum(share.amount for share in self.shares) == self.amount

    @property
    def line_indexes(self) -> tuple[int, ...]:
        return tuple(share.line_index for share in self.shares)


class CapKind(enum.Enum):
    """Which cap cut an award (or which limit on goods cut a line)."""

    PER_CHECK_AMOUNT = "per_check_amount"
    PER_DAY_TIMES = "per_day_times"
    PER_MONTH_TIMES = "per_month_times"
    PER_DAY_AMOUNT = "per_day_amount"
    PER_MONTH_AMOUNT = "per_month_amount"
    GOODS_PER_DAY = "goods_per_day"
    GOODS_PER_MONTH = "goods_per_month"


@dataclass(frozen=True, slots=True)
class AppliedCap:
    """A cut: what a rule would have given, what the cap let through, and why.

    For the amount and times caps, `requested` and `granted` are the award in
    the program's unit and `used_before` what the period had already used (in
    amount, or in times); for a limit on goods they count units of `product_id`.
    """

    rule_id: RuleId
    program_id: ProgramId
    cap: CapKind
    limit: int
    used_before: int
    requested: int
    granted: int
    message: str
    product_id: ProductId | None = None


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A rule (or a program) the customer could still earn from, and what is missing.

    `missing_amount` is in minor units of the currency for a basket or a tier
    spend and in stamps for a card; None when there is no number to give (a
    time window, a profile, joining). `would_earn` is what the rule (or the
    program, for joining) would give on this check; None for a tier-up.
    """

    rule_ids: tuple[RuleId, ...]
    program_id: ProgramId
    missing: Missing
    message: str
    missing_amount: int | None = None
    would_earn: int | None = None

    @property
    def rule_id(self) -> RuleId:
        return self.rule_ids[0]


@dataclass(frozen=True, slots=True)
class ProgramTotal:
    """What a program gives on this check, all its awards added."""

    program_id: ProgramId
    kind: ProgramKind
    amount: int


@dataclass(frozen=True, slots=True)
class StoppedRule:
    """A rule whose condition held but that an exclusive rule before it stopped."""

    rule_id: RuleId
    program_id: ProgramId
    by_rule_id: RuleId


@dataclass(frozen=True, slots=True)
class GoodsEarned:
    """Units of a product that earned under a rule with a limit on goods (for its counters)."""

    rule_id: RuleId
    product_id: ProductId
    quantity: int


@dataclass(frozen=True, slots=True)
class StampCard:
    """A stamps program's card before and after this check; completed cards earn the reward."""

    program_id: ProgramId
    card_size: int
    reward: str
    stamps_before: int
    stamps_after: int

    @property
    def cards_completed(self) -> int:
        return self.stamps_after // self.card_size - self.stamps_before // self.card_size


@dataclass(frozen=True, slots=True)
class BudgetDraw:
    """How much this check's awards draw on a budget (checked at commit, not here)."""

    budget_id: BudgetId
    program_id: ProgramId
    amount: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The answer of `evaluate`: awards and why, caps applied, near misses."""

    index_version: Hashable
    awards: tuple[Award, ...]
    totals: tuple[ProgramTotal, ...]
    near_misses: tuple[NearMiss, ...]
    applied_caps: tuple[AppliedCap, ...]
    stopped: tuple[StoppedRule, ...]
    goods_earned: tuple[GoodsEarned, ...]
    stamp_cards: tuple[StampCard, ...]
    budget_draws: tuple[BudgetDraw, ...]

    def total(self, program_id: ProgramId) -> int:
        """What the program gives on this check (0 when nothing)."""
        for total in self.totals:
            if total.program_id == program_id:
                return total.amount
        return 0

    def award(self, rule_id: RuleId) -> Award | None:
        for award in self.awards:
            if award.rule_id == rule_id:
                return award
        return None
