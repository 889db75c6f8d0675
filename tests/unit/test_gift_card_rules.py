"""Gift card rules: pure functions of (program, card, amounts, now) that say yes or raise."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cagnotte import errors
from cagnotte.programs.gift_cards.program import (
    AUTHORISATION_MINUTES_MAX,
    PROGRAM_DEFAULTS,
    Program,
)
from cagnotte.programs.gift_cards.rules import (
    DayActivity,
    card_expiry,
    check_daily_load,
    check_daily_spend,
    check_invoice,
    check_load,
    check_operation_amount,
    check_program_settings,
    profile_complete,
    require_usable,
    spend_amount,
)

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
LOADS = {"load_min_minor": 500, "load_max_minor": 50_000, "balance_max_minor": 100_000}


def settings(**overrides: Any) -> dict[str, Any]:
    return {**PROGRAM_DEFAULTS, **LOADS, **overrides}


def program(**overrides: Any) -> Program:
    return Program(
        merchant_id=uuid.uuid4(),
        id=uuid.uuid4(),
        name="Café Bleu",
        asset_code="CAD",
        status="active",
        created_at=NOW,
        **settings(**overrides),
    )


def refusal(check, *arguments, **options) -> str:
    with pytest.raises(errors.DomainError) as refused:
        check(*arguments, **options)
    return refused.value.code


# Program settings ----------------------------------------------------------------------------


def test_the_default_settings_make_a_valid_program():
    check_program_settings(settings())


@pytest.mark.parametrize("length", [12, 19])
def test_a_number_of_12_to_19_digits_is_accepted(length):
    check_program_settings(settings(number_length=length))


@pytest.mark.parametrize("length", [11, 20])
def test_a_number_shorter_than_12_or_longer_than_19_digits_is_refused(length):
    assert refusal(check_program_settings, settings(number_length=length)) == "invalid_input"


def test_a_prefix_is_made_of_digits():
    check_program_settings(settings(number_prefix="6034"))
    assert refusal(check_program_settings, settings(number_prefix="60A4")) == "invalid_input"


def test_the_prefix_must_leave_eight_random_digits_with_a_pin():
    # 16 digits: 7 of prefix, 8 random, 1 check digit.
    check_program_settings(settings(number_prefix="1234567"))
    assert refusal(check_program_settings, settings(number_prefix="12345678")) == ("invalid_input")
    check_program_settings(settings(number_prefix="12345678", number_luhn=False))


def test_a_card_without_a_pin_needs_twelve_random_digits():
    check_program_settings(settings(pin_required=False, number_prefix="123"))
    assert (
        refusal(check_program_settings, settings(pin_required=False, number_prefix="1234"))
        == "invalid_input"
    )
    assert (
        refusal(check_program_settings, settings(pin_required=False, number_length=12))
        == "invalid_input"
    )


@pytest.mark.parametrize(("pin_length", "accepted"), [(3, False), (4, True), (8, True), (9, False)])
def test_a_pin_has_four_to_eight_digits(pin_length, accepted):
    if accepted:
        check_program_settings(settings(pin_length=pin_length))
    else:
        assert refusal(check_program_settings, settings(pin_length=pin_length)) == ("invalid_input")


@pytest.mark.parametrize(
    ("load_min", "load_max", "balance_max"),
    [(0, 100, 100), (-1, 100, 100), (101, 100, 100), (1, 101, 100)],
)
def test_loads_need_a_positive_minimum_below_the_maximum_below_the_balance_cap(
    load_min, load_max, balance_max
):
    assert (
        refusal(
            check_program_settings,
            settings(
                load_min_minor=load_min, load_max_minor=load_max, balance_max_minor=balance_max
            ),
        )
        == "invalid_input"
    )


def test_one_amount_may_be_the_minimum_the_maximum_and_the_cap_at_once():
    check_program_settings(settings(load_min_minor=100, load_max_minor=100, balance_max_minor=100))


@pytest.mark.parametrize(
    ("minutes", "accepted"),
    [
        (0, False),
        (1, True),
        (AUTHORISATION_MINUTES_MAX, True),
        (AUTHORISATION_MINUTES_MAX + 1, False),
    ],
)
def test_an_authorisation_lasts_one_minute_to_seven_days(minutes, accepted):
    assert AUTHORISATION_MINUTES_MAX == 7 * 24 * 60
    if accepted:
        check_program_settings(settings(authorisation_minutes=minutes))
    else:
        assert refusal(check_program_settings, settings(authorisation_minutes=minutes)) == (
            "invalid_input"
        )


def test_the_program_lockout_is_its_minutes():
    assert program(pin_lockout_minutes=30).pin_lockout == timedelta(minutes=30)


# Expiry --------------------------------------------------------------------------------------


def test_a_program_without_expiry_makes_cards_that_never_expire():
    assert card_expiry(program(expiry_months=None), NOW) is None


def test_a_card_expires_the_same_day_and_time_n_months_later():
    assert card_expiry(program(expiry_months=12), NOW) == datetime(2027, 1, 5, 9, 30, tzinfo=UTC)
    assert card_expiry(program(expiry_months=1), NOW) == datetime(2026, 2, 5, 9, 30, tzinfo=UTC)


def test_a_card_activated_in_december_expires_the_next_year():
    december = datetime(2026, 12, 15, tzinfo=UTC)

    assert card_expiry(program(expiry_months=1), december) == datetime(2027, 1, 15, tzinfo=UTC)
    assert card_expiry(program(expiry_months=25), december) == datetime(2029, 1, 15, tzinfo=UTC)


def test_a_card_activated_on_a_day_its_expiry_month_lacks_expires_on_that_months_last_day():
    january_31 = datetime(2026, 1, 31, 18, 0, tzinfo=UTC)

    assert card_expiry(program(expiry_months=1), january_31) == datetime(
        2026, 2, 28, 18, 0, tzinfo=UTC
    )
    assert card_expiry(program(expiry_months=25), january_31) == datetime(
        2028, 2, 29, 18, 0, tzinfo=UTC
    )
    assert card_expiry(program(expiry_months=3), january_31) == datetime(
        2026, 4, 30, 18, 0, tzinfo=UTC
    )


def test_a_card_activated_on_a_leap_day_expires_on_the_28th_of_february_a_year_later():
    leap_day = datetime(2028, 2, 29, tzinfo=UTC)

    assert card_expiry(program(expiry_months=12), leap_day) == datetime(2029, 2, 28, tzinfo=UTC)
    assert card_expiry(program(expiry_months=48), leap_day) == datetime(2032, 2, 29, tzinfo=UTC)


# A card's state ------------------------------------------------------------------------------


def test_only_an_active_card_takes_operations():
    require_usable("active")


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("inactive", "gift_card_inactive"),
        ("frozen", "gift_card_frozen"),
        ("closed", "gift_card_closed"),
    ],
)
def test_a_card_that_is_not_active_is_refused_by_its_state(state, code):
    assert refusal(require_usable, state) == code


def test_an_unknown_state_is_a_programmer_error():
    with pytest.raises(AssertionError):
        require_usable("lost")


# Loads ---------------------------------------------------------------------------------------


def test_a_load_at_either_end_of_the_range_is_accepted():
    check_load(program(), 500, 0, first_load=True)
    check_load(program(), 50_000, 0, first_load=True)


@pytest.mark.parametrize("amount", [499, 50_001])
def test_a_load_outside_the_range_is_refused(amount):
    assert refusal(check_load, program(), amount, 0, first_load=True) == "load_out_of_range"


def test_a_load_may_fill_the_card_up_to_the_maximum_balance_and_no_further():
    check_load(program(), 10_000, 90_000, first_load=False)
    assert refusal(check_load, program(), 10_001, 90_000, first_load=False) == (
        "balance_limit_exceeded"
    )


def test_a_card_of_a_program_that_is_not_reloadable_takes_its_first_load_only():
    once = program(reloadable=False)

    check_load(once, 1000, 0, first_load=True)
    assert refusal(check_load, once, 1000, 1000, first_load=False) == "gift_card_not_reloadable"


def test_a_reload_of_a_card_that_is_not_reloadable_is_refused_before_its_amount_is_looked_at():
    assert refusal(check_load, program(reloadable=False), 1, 10**9, first_load=False) == (
        "gift_card_not_reloadable"
    )


def test_a_load_out_of_range_is_refused_before_the_operation_maximum_and_the_balance():
    capped = program(operation_amount_max_minor=1000)

    assert refusal(check_load, capped, 60_000, 99_000, first_load=True) == "load_out_of_range"
    assert refusal(check_load, capped, 2000, 99_000, first_load=True) == (
        "operation_amount_exceeded"
    )
    assert refusal(check_load, capped, 1000, 99_500, first_load=True) == "balance_limit_exceeded"


def test_the_operation_maximum_is_inclusive_and_absent_by_default():
    check_operation_amount(program(), 10**12)
    check_operation_amount(program(operation_amount_max_minor=1000), 1000)
    assert refusal(check_operation_amount, program(operation_amount_max_minor=1000), 1001) == (
        "operation_amount_exceeded"
    )


# Daily limits --------------------------------------------------------------------------------


def test_without_daily_limits_a_card_loads_and_spends_as_often_as_it_likes():
    busy = DayActivity(loads=1000, loaded_minor=10**9, spends=1000, spent_minor=10**9)

    check_daily_load(program(), busy, 10**9)
    check_daily_spend(program(), busy, 10**9)


def test_the_third_load_of_the_day_is_the_last_under_a_limit_of_three():
    limited = program(loads_per_card_per_day_max=3)

    check_daily_load(limited, DayActivity(loads=2), 500)
    with pytest.raises(errors.DailyLimitExceeded, match="loads for today"):
        check_daily_load(limited, DayActivity(loads=3), 500)


def test_the_amount_loaded_in_a_day_may_reach_the_limit_but_not_pass_it():
    limited = program(load_amount_per_card_per_day_max_minor=1000)

    check_daily_load(limited, DayActivity(loads=1, loaded_minor=900), 100)
    with pytest.raises(errors.DailyLimitExceeded, match="amount loaded today"):
        check_daily_load(limited, DayActivity(loads=1, loaded_minor=900), 101)


def test_the_count_of_loads_is_checked_before_their_amount():
    limited = program(loads_per_card_per_day_max=1, load_amount_per_card_per_day_max_minor=1)

    with pytest.raises(errors.DailyLimitExceeded, match="loads for today"):
        check_daily_load(limited, DayActivity(loads=1, loaded_minor=1), 1)


def test_the_third_spend_of_the_day_is_the_last_under_a_limit_of_three():
    limited = program(spends_per_card_per_day_max=3)

    check_daily_spend(limited, DayActivity(spends=2), 500)
    with pytest.raises(errors.DailyLimitExceeded, match="spends for today"):
        check_daily_spend(limited, DayActivity(spends=3), 500)


def test_the_amount_spent_in_a_day_may_reach_the_limit_but_not_pass_it():
    limited = program(spend_amount_per_card_per_day_max_minor=1000)

    check_daily_spend(limited, DayActivity(spends=4, spent_minor=400), 600)
    with pytest.raises(errors.DailyLimitExceeded, match="amount spent today"):
        check_daily_spend(limited, DayActivity(spends=4, spent_minor=400), 601)


def test_loads_do_not_count_against_the_spend_limits_nor_spends_against_the_load_limits():
    limited = program(loads_per_card_per_day_max=1, spends_per_card_per_day_max=1)

    check_daily_load(limited, DayActivity(spends=5, spent_minor=10**6), 500)
    check_daily_spend(limited, DayActivity(loads=5, loaded_minor=10**6), 500)


# Invoice, spend amount, profile --------------------------------------------------------------


def test_a_program_that_requires_the_invoice_refuses_an_operation_without_one():
    strict = program(invoice_required=True)

    check_invoice(strict, "INV-2026-0001")
    assert refusal(check_invoice, strict, None) == "invoice_required"
    assert refusal(check_invoice, strict, "") == "invoice_required"


def test_a_program_without_the_invoice_rule_takes_operations_with_or_without_one():
    check_invoice(program(), None)
    check_invoice(program(), "INV-1")


def test_a_spend_the_card_covers_takes_what_was_asked():
    assert spend_amount(300, 1000, take_what_is_there=False) == 300
    assert spend_amount(1000, 1000, take_what_is_there=True) == 1000


def test_a_spend_beyond_the_balance_is_passed_on_whole_for_the_ledger_to_refuse():
    assert spend_amount(1500, 1000, take_what_is_there=False) == 1500


def test_a_spend_beyond_the_balance_takes_what_is_there_when_asked():
    assert spend_amount(1500, 1000, take_what_is_there=True) == 1000


@pytest.mark.parametrize("available", [0, -50])
def test_taking_what_is_there_from_an_empty_card_is_insufficient_funds(available):
    assert refusal(spend_amount, 1500, available, take_what_is_there=True) == ("insufficient_funds")


def test_a_profile_is_complete_with_a_first_name_a_last_name_and_an_e_mail():
    full = {"first_name": "Jana", "last_name": "Nováková", "email": "jana@example.cz"}

    assert profile_complete(full)
    assert profile_complete({**full, "phone": None})
    for key in full:
        assert not profile_complete({**full, key: ""})
        assert not profile_complete({k: v for k, v in full.items() if k != key})
