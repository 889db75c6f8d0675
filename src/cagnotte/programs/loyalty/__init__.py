"""Loyalty programs: points, stamps and kitty, and the engine of their earning rules.

The engine is pure: `compile_rules` turns a merchant's rules into a `RuleIndex`
(cache it by merchant and rules version), and `evaluate(index, check,
customer)` answers an `Evaluation`. No database, no clock, no settings here.
"""

from cagnotte.money import Rounding, allocate, divide
from cagnotte.programs.loyalty.conditions import Missing, targets
from cagnotte.programs.loyalty.engine import (
    DEFAULT_OPTIONS,
    EvaluationOptions,
    evaluate,
    evaluate_rules,
)
from cagnotte.programs.loyalty.facts import (
    ANONYMOUS,
    Channel,
    CheckFacts,
    CustomerFacts,
    GoodsUsage,
    LineFacts,
    RuleUsage,
    TierStanding,
)
from cagnotte.programs.loyalty.index import Candidate, RuleIndex, compile_rules
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
    Benefit,
    Birthday,
    Bracket,
    Caps,
    Condition,
    EarningPolicy,
    EnrolledThisCheck,
    FirstPurchase,
    FixedBonus,
    FixedRate,
    GoodsLimit,
    KittyPercentage,
    MinimumBasket,
    Multiplier,
    NthVisit,
    ProductScope,
    ProfileComplete,
    ProgramKind,
    ProgressiveRate,
    Rate,
    Requirement,
    Rule,
    StampsPerItem,
    StampsPerVisit,
    TieredRate,
    TierRate,
    TimeWindow,
)

__all__ = [
    "ANONYMOUS", "DEFAULT_OPTIONS", "AmountBasis", "AppliedCap", "Award", "Benefit",
    "Birthday", "Bracket", "BudgetDraw", "Candidate", "CapKind", "Caps", "Channel",
    "CheckFacts", "Condition", "CustomerFacts", "EarningPolicy", "EnrolledThisCheck",
    "Evaluation", "EvaluationOptions", "FirstPurchase", "FixedBonus", "FixedRate",
    "GoodsEarned", "GoodsLimit", "GoodsUsage", "KittyPercentage", "LineFacts", "LineShare",
    "MinimumBasket", "Missing", "Multiplier", "NearMiss", "NthVisit", "ProductScope",
    "ProfileComplete", "ProgramKind", "ProgramTotal", "ProgressiveRate", "Rate",
    "Requirement", "Rounding", "Rule", "RuleIndex", "RuleUsage", "StampCard",
    "StampsPerItem", "StampsPerVisit", "StoppedRule", "TierRate", "TierStanding",
    "TieredRate", "TimeWindow", "allocate", "compile_rules", "divide", "evaluate",
    "evaluate_rules", "targets",
]
