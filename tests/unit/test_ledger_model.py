"""Ledger values: what may be asked of the ledger is checked when it is made (asserts)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cagnotte.ledger.model import (
    AccountSpec,
    Balance,
    EntryResult,
    Expire,
    Hold,
    PostHold,
    Reverse,
    Transfer,
    TransferRecord,
    VoidHold,
    operation_as_json,
)
from cagnotte.money import AMOUNT_MINOR_MAX

DEBIT, CREDIT = uuid.uuid4(), uuid.uuid4()
LATER = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
NOT_AMOUNTS = [0, -1, AMOUNT_MINOR_MAX + 1, True, False, 1.0, Decimal(1), "1", None]


def transfer(amount):
    return Transfer(DEBIT, CREDIT, amount, "load")


def hold(amount):
    return Hold(DEBIT, CREDIT, amount, "auth", LATER)


# Amounts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [transfer, hold])
@pytest.mark.parametrize("amount", [1, AMOUNT_MINOR_MAX])
def test_a_transfer_or_a_hold_takes_any_amount_from_one_to_the_largest_counter(make, amount):
    assert make(amount).amount == amount


@pytest.mark.parametrize("make", [transfer, hold])
@pytest.mark.parametrize("amount", NOT_AMOUNTS)
def test_a_transfer_or_a_hold_of_no_amount_or_out_of_range_is_a_programmer_error(make, amount):
    with pytest.raises(AssertionError):
        make(amount)


@pytest.mark.parametrize("make", [PostHold, Reverse])
def test_posting_or_reversing_without_an_amount_means_all_of_it(make):
    assert make(uuid.uuid4()).amount is None
    assert make(uuid.uuid4(), AMOUNT_MINOR_MAX).amount == AMOUNT_MINOR_MAX


@pytest.mark.parametrize("make", [PostHold, Reverse])
@pytest.mark.parametrize("amount", [a for a in NOT_AMOUNTS if a is not None])
def test_posting_or_reversing_a_zero_negative_or_non_int_amount_is_a_programmer_error(make, amount):
    with pytest.raises(AssertionError):
        make(uuid.uuid4(), amount)


# Accounts ------------------------------------------------------------------------------------


def spec(**flags) -> AccountSpec:
    return AccountSpec("CZK", "customer", uuid.uuid4(), "wallet", **flags)


def test_an_account_may_be_limited_on_one_side_or_none():
    spec()
    spec(debits_must_not_exceed_credits=True)
    spec(credits_must_not_exceed_debits=True)


def test_an_account_limited_on_both_sides_is_a_programmer_error():
    with pytest.raises(AssertionError):
        spec(debits_must_not_exceed_credits=True, credits_must_not_exceed_debits=True)


@pytest.mark.parametrize("shards", [1, 2, 64])
def test_an_account_without_a_limit_spreads_over_one_to_64_shards(shards):
    assert spec(balance_shards=shards).balance_shards == shards


@pytest.mark.parametrize("shards", [0, -1, 65])
def test_fewer_than_one_or_more_than_64_shards_is_a_programmer_error(shards):
    with pytest.raises(AssertionError):
        spec(balance_shards=shards)


@pytest.mark.parametrize(
    "limit", ["debits_must_not_exceed_credits", "credits_must_not_exceed_debits"]
)
def test_an_account_with_a_limit_keeps_one_row_of_counters(limit):
    assert spec(**{limit: True}, balance_shards=1).balance_shards == 1
    with pytest.raises(AssertionError, match="without a limit"):
        spec(**{limit: True}, balance_shards=2)


# Values are frozen and carry their own ids --------------------------------------------------


def test_every_operation_gets_an_id_of_its_own_unless_given_one():
    chosen = uuid.uuid4()

    assert transfer(1).id != transfer(1).id
    assert Transfer(DEBIT, CREDIT, 1, "load", id=chosen).id == chosen


def test_operations_cannot_be_changed_once_made():
    made = transfer(10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.amount = 20  # type: ignore[misc]


# Balances --------------------------------------------------------------------------------------


def test_a_balance_is_credits_less_debits_and_holds_count_against_what_is_available():
    balance = Balance(debits_posted=30, credits_posted=100, debits_pending=20, credits_pending=5)

    assert balance.credit_balance == 70
    assert balance.available == 50


def test_an_empty_balance_is_zero_everywhere():
    assert Balance().credit_balance == Balance().available == 0


def test_a_balance_is_read_from_the_strings_or_ints_a_database_gives():
    assert Balance.from_mapping(
        {"debits_posted": "1", "credits_posted": 2, "debits_pending": 3, "credits_pending": "4"}
    ) == Balance(1, 2, 3, 4)


# What goes to PostgreSQL and what comes back ------------------------------------------------------


def test_an_operation_as_json_names_its_op_and_leaves_out_what_is_not_set():
    made = Hold(DEBIT, CREDIT, 10, "auth", LATER)

    assert operation_as_json(made) == {
        "op": "hold",
        "debit_account_id": str(DEBIT),
        "credit_account_id": str(CREDIT),
        "amount": 10,
        "code": "auth",
        "expires_at": LATER.isoformat(),
        "id": str(made.id),
    }


@pytest.mark.parametrize(
    ("operation", "op"),
    [
        (PostHold(DEBIT), "post"),
        (VoidHold(DEBIT), "void"),
        (Expire(DEBIT), "expire"),
        (Reverse(DEBIT), "reverse"),
        (Transfer(DEBIT, CREDIT, 1, "load"), "transfer"),
    ],
)
def test_every_kind_of_operation_names_itself_for_the_database(operation, op):
    assert operation_as_json(operation)["op"] == op


def test_an_entry_result_is_read_back_from_json():
    transfer_id = uuid.uuid4()
    data = {
        "entry_id": str(uuid.uuid4()),
        "kind": "payment",
        "created_at": LATER.isoformat(),
        "transfers": [
            {
                "id": str(transfer_id),
                "kind": "regular",
                "code": "payment",
                "debit_account_id": str(DEBIT),
                "credit_account_id": str(CREDIT),
                "asset_code": "CZK",
                "amount": "250",
                "reference": None,
                "expires_at": None,
                "pending_id": None,
                "reverses_id": None,
                "created_at": LATER.isoformat(),
            }
        ],
        "balances": {
            str(DEBIT): {
                "debits_posted": 250,
                "credits_posted": 1000,
                "debits_pending": 0,
                "credits_pending": 0,
            }
        },
    }

    result = EntryResult.from_json(data)

    assert result.created_at == LATER
    assert result.replayed is False
    assert result.transfers == (
        TransferRecord(
            id=transfer_id,
            kind="regular",
            code="payment",
            debit_account_id=DEBIT,
            credit_account_id=CREDIT,
            asset_code="CZK",
            amount=250,
            reference=None,
            expires_at=None,
            pending_id=None,
            reverses_id=None,
            created_at=LATER,
        ),
    )
    assert result.balances == {DEBIT: Balance(debits_posted=250, credits_posted=1000)}
