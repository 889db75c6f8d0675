"""Small builders for the earning engine's tests: a check, a customer, a rule in one line."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

from cagnotte.money import Asset
from cagnotte.programs.loyalty import (
    Channel,
    CheckFacts,
    Condition,
    CustomerFacts,
    FixedRate,
    LineFacts,
    ProductScope,
    ProgramKind,
    Rate,
    Rule,
)

CZK = Asset("CZK", 2)
PRAGUE = "Europe/Prague"
# Monday 2 March 2026, 12:00 in Prague (CET, UTC+1).
MONDAY_NOON = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
ONE_POINT_PER_10_CZK = FixedRate(Rate.per(1, 1000))
COFFEE = ProductScope(category_ids=frozenset({"coffee"}), label="coffee")
CONDITION_FIELDS = {field.name for field in fields(Condition)}


def line(
    index: int,
    amount_minor: int,
    *,
    product: str | None = "espresso",
    categories: tuple[str, ...] = ("coffee", "drinks"),
    quantity: int = 1,
    unit_price_minor: int | None = None,
    members_only: bool = False,
    paid_with_loyalty_minor: int = 0,
) -> LineFacts:
    """A line; by default one espresso (category coffee, under drinks) at its amount."""
    return LineFacts(
        index=index,
        sku=product or f"open-{index}",
        product_id=product,
        category_ids=frozenset(categories) if product is not None else frozenset(),
        quantity=quantity,
        unit_price_minor=(
            unit_price_minor if unit_price_minor is not None else amount_minor // quantity
        ),
        amount_minor=amount_minor,
        members_only=members_only,
        paid_with_loyalty_minor=paid_with_loyalty_minor,
    )


def cake(index: int, amount_minor: int, **kwargs) -> LineFacts:
    return line(index, amount_minor, product="cheesecake", categories=("cakes", "food"), **kwargs)


def uncatalogued(index: int, amount_minor: int) -> LineFacts:
    return line(index, amount_minor, product=None, categories=())


def check(
    *lines: LineFacts,
    store: str = "store-1",
    channel: Channel = Channel.REGISTER,
    moment: datetime = MONDAY_NOON,
    time_zone: str = PRAGUE,
) -> CheckFacts:
    return CheckFacts(
        lines=tuple(lines),
        store_id=store,
        terminal_id="till-1",
        channel=channel,
        currency=CZK,
        moment=moment,
        time_zone=time_zone,
    )


def member(**kwargs) -> CustomerFacts:
    return CustomerFacts(member=True, **kwargs)


def rule(
    rule_id: str,
    benefit=ONE_POINT_PER_10_CZK,
    *,
    program: str = "points",
    kind: ProgramKind = ProgramKind.POINTS,
    **kwargs,
) -> Rule:
    """A rule; keyword arguments that are fields of Condition go to its condition."""
    condition = {key: kwargs.pop(key) for key in list(kwargs) if key in CONDITION_FIELDS}
    return Rule(
        id=rule_id,
        program_id=program,
        kind=kind,
        benefit=benefit,
        condition=Condition(**condition),
        **kwargs,
    )
