"""Gift card rules as pure functions of (program, card, amounts, now).

Nothing here reads the database or the clock: the use case gathers the facts
and these functions say yes, or raise the domain error that says no.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cagnotte import errors
from cagnotte.programs.gift_cards.numbers import (
    NUMBER_LENGTH_MAX,
    NUMBER_LENGTH_MIN,
    RANDOM_DIGITS_MIN,
    RANDOM_DIGITS_MIN_WITHOUT_PIN,
    ascii_digits,
    random_digit_count,
)
from cagnotte.programs.gift_cards.program import (
    AUTHORISATION_MINUTES_MAX,
    PIN_LENGTH_MAX,
    PIN_LENGTH_MIN,
    Program,
)

# Kinds of operation that put value on a card, and that take it off.
LOAD_KINDS = ("activation", "load")
SPEND_KINDS = ("spend", "authorisation")


def check_program_settings(settings: dict[str, Any]) -> None:
    """Refuse a program whose settings contradict each other (invalid_input)."""
    length, prefix = settings["number_length"], settings["number_prefix"]
    if not NUMBER_LENGTH_MIN <= length <= NUMBER_LENGTH_MAX:
        raise errors.InvalidInput(
            f"A card number has {NUMBER_LENGTH_MIN} to {NUMBER_LENGTH_MAX} digits."
        )
    if prefix and not ascii_digits(prefix):
        raise errors.InvalidInput("The number prefix is made of digits.")
    random_minimum = (
        RANDOM_DIGITS_MIN if settings["pin_required"] else (RANDOM_DIGITS_MIN_WITHOUT_PIN)
    )
    if random_digit_count(length, prefix, settings["number_luhn"]) < random_minimum:
        raise errors.InvalidInput(
            f"The prefix leaves fewer than {random_minimum} random digits in a number."
        )
    if not PIN_LENGTH_MIN <= settings["pin_length"] <= PIN_LENGTH_MAX:
        raise errors.InvalidInput(f"A PIN has {PIN_LENGTH_MIN} to {PIN_LENGTH_MAX} digits.")
    if (
        not 0
        < settings["load_min_minor"]
        <= settings["load_max_minor"]
        <= (settings["balance_max_minor"])
    ):
        raise errors.InvalidInput("Loads need 0 < minimum load <= maximum load <= maximum balance.")
    if not 1 <= settings["authorisation_minutes"] <= AUTHORISATION_MINUTES_MAX:
        raise errors.InvalidInput("An authorisation lasts 1 minute to 7 days.")


def card_expiry(program: Program, activated_at: datetime) -> datetime | None:
    """When a card activated now expires: N calendar months later, or never."""
    if program.expiry_months is None:
        return None
    month_index = activated_at.month - 1 + program.expiry_months
    year, month = activated_at.year + month_index // 12, month_index % 12 + 1
    day = min(activated_at.day, calendar.monthrange(year, month)[1])
    return activated_at.replace(year=year, month=month, day=day)


def require_usable(state: str) -> None:
    """A card takes operations only while active."""
    if state == "inactive":
        raise errors.GiftCardInactive()
    if state == "frozen":
        raise errors.GiftCardFrozen()
    if state == "closed":
        raise errors.GiftCardClosed()
    assert state == "active", state


def check_operation_amount(program: Program, amount: int) -> None:
    if program.operation_amount_max_minor is not None and (
        amount > program.operation_amount_max_minor
    ):
        raise errors.OperationAmountExceeded()


def check_load_amount(program: Program, amount: int) -> None:
    """The amount of a load, whatever the card: within the load range and the operation maximum."""
    if not program.load_min_minor <= amount <= program.load_max_minor:
        raise errors.LoadOutOfRange()
    check_operation_amount(program, amount)


def check_load(program: Program, amount: int, balance: int, *, first_load: bool) -> None:
    """A load must fit the load range and the maximum balance; a reload needs a reloadable card."""
    if not first_load and not program.reloadable:
        raise errors.GiftCardNotReloadable()
    check_load_amount(program, amount)
    if balance + amount > program.balance_max_minor:
        raise errors.BalanceLimitExceeded()


def check_before_look_up(
    programs: Sequence[Program], amount: int | None, invoice_number: str | None
) -> None:
    """Refuse, before the card is looked up, what every program the caller may use refuses.

    For an operation named by the card's number alone (activation, load): a
    refusal that depends on the card's program would tell a card from no card,
    so what all these programs refuse is refused here, the same for any
    number; what only some refuse is left to the card's own program.
    """
    if not programs:
        return  # no program to use: every number is a miss
    if amount:
        refusals = [_amount_refusal(program, amount) for program in programs]
        if all(refusals):
            raise refusals[0]
    if not invoice_number and all(program.invoice_required for program in programs):
        raise errors.InvoiceRequired()


def _amount_refusal(program: Program, amount: int) -> errors.DomainError | None:
    try:
        check_load_amount(program, amount)
    except errors.DomainError as refusal:
        return refusal
    return None


@dataclass(frozen=True, slots=True)
class DayActivity:
    """What a card did today: how many loads and spends, and how much."""

    loads: int = 0
    loaded_minor: int = 0
    spends: int = 0
    spent_minor: int = 0


def check_daily_load(program: Program, today: DayActivity, amount: int) -> None:
    if program.loads_per_card_per_day_max is not None and (
        today.loads + 1 > program.loads_per_card_per_day_max
    ):
        raise errors.DailyLimitExceeded("The card has had its loads for today.")
    limit = program.load_amount_per_card_per_day_max_minor
    if limit is not None and today.loaded_minor + amount > limit:
        raise errors.DailyLimitExceeded("The amount loaded today would exceed the daily limit.")


def check_daily_spend(program: Program, today: DayActivity, amount: int) -> None:
    if program.spends_per_card_per_day_max is not None and (
        today.spends + 1 > program.spends_per_card_per_day_max
    ):
        raise errors.DailyLimitExceeded("The card has had its spends for today.")
    limit = program.spend_amount_per_card_per_day_max_minor
    if limit is not None and today.spent_minor + amount > limit:
        raise errors.DailyLimitExceeded("The amount spent today would exceed the daily limit.")


def check_invoice(program: Program, invoice_number: str | None) -> None:
    if program.invoice_required and not invoice_number:
        raise errors.InvoiceRequired()


def spend_amount(requested: int, available: int, *, take_what_is_there: bool) -> int:
    """How much a spend takes: all of it, or, when asked, what the card holds."""
    if requested <= available or not take_what_is_there:
        return requested
    if available <= 0:
        raise errors.InsufficientFunds()
    return available


def profile_complete(membership: dict[str, Any]) -> bool:
    return all(membership.get(key) for key in ("first_name", "last_name", "email"))
