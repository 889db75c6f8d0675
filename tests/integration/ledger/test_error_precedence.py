"""Which error post_entry raises when an entry breaks two rules at once, on both databases.

The order is the one of the module docstring of cagnotte.ledger.service, which
follows cagnotte_post_entry (PostgreSQL) and SqliteLedgerWriter. Each test builds
two refusals at once, for each pair of neighbours in that order where both can
be built, and checks the one that wins, and that nothing was written.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from cagnotte import errors
from cagnotte.db.tables import PLATFORM_MERCHANT_ID
from cagnotte.ledger import AccountSpec, Expire, Hold, PostHold, Reverse, Transfer, VoidHold
from cagnotte.money import AMOUNT_MINOR_MAX
from tests.integration.ledger.test_ledger import Books, footprint

BIG = AMOUNT_MINOR_MAX


def refusal(books: Books, *operations, **options) -> str:
    """The code of the error the entry is refused with; the entry must write nothing."""
    before = footprint(books.ledger.database)
    with pytest.raises(errors.DomainError) as refused:
        books.post(*operations, **options)
    assert footprint(books.ledger.database) == before
    return refused.value.code


def freeze(books: Books, *accounts) -> None:
    with books.ledger.database.transaction() as connection:
        books.ledger.set_frozen(connection, books.merchant_id, [a.id for a in accounts], True)


def thaw(books: Books, *accounts) -> None:
    with books.ledger.database.transaction() as connection:
        books.ledger.set_frozen(connection, books.merchant_id, [a.id for a in accounts], False)


def another_issuance(books: Books):
    """A fresh account without a limit, whose counters are all zero."""
    return books.ledger.open_account(
        books.merchant_id, AccountSpec("CZK", "merchant", uuid.uuid4(), "issuance")
    )


def escrow(books: Books):
    """An account whose credits may never exceed its debits (a campaign's escrow)."""
    return books.ledger.open_account(
        books.merchant_id,
        AccountSpec(
            "CZK", "campaign", uuid.uuid4(), "campaign_escrow", credits_must_not_exceed_debits=True
        ),
    )


def platform_wallet(books: Books):
    return books.ledger.open_account(
        PLATFORM_MERCHANT_ID,
        AccountSpec("CZK", "customer", uuid.uuid4(), "wallet", debits_must_not_exceed_credits=True),
    )


# The entry ---------------------------------------------------------------------------------


def test_a_reused_idempotency_key_comes_before_anything_wrong_with_the_operations(books):
    wallet = books.wallet()
    books.post(
        Transfer(books.issuance.id, wallet.id, 10, "load"),
        idempotency_key="k",
        request_hash="first",
    )
    unknown = uuid.uuid4()

    assert (
        refusal(
            books,
            Transfer(unknown, unknown, 10, "loop"),
            idempotency_key="k",
            request_hash="second",
        )
        == "idempotency_key_reused"
    )


def test_the_same_key_and_request_replay_the_first_result_whatever_the_operations_say_now(
    books, database
):
    wallet = books.wallet()
    first = books.post(
        Transfer(books.issuance.id, wallet.id, 10, "load"), idempotency_key="k", request_hash="h"
    )
    freeze(books, wallet)
    before = footprint(database)

    replay = books.post(
        Transfer(wallet.id, books.settlement.id, 10**6, "payment"),
        idempotency_key="k",
        request_hash="h",
    )

    assert replay.replayed and replay.entry_id == first.entry_id
    assert footprint(database) == before


def test_in_an_entry_of_several_operations_the_first_that_fails_decides(books):
    wallet = books.wallet()
    books.fund(wallet, 10)
    too_much = Transfer(wallet.id, books.settlement.id, 11, "payment")
    nowhere = Transfer(books.issuance.id, uuid.uuid4(), 1, "load")

    assert refusal(books, too_much, nowhere) == "insufficient_funds"
    assert refusal(books, nowhere, too_much) == "account_not_found"


# A transfer ---------------------------------------------------------------------------------


def test_an_unknown_account_sent_to_itself_is_the_same_account_before_it_is_not_found(books):
    unknown = uuid.uuid4()

    assert refusal(books, Transfer(unknown, unknown, 10, "loop")) == "same_account"


def test_a_frozen_account_sent_to_itself_is_the_same_account(books):
    wallet = books.wallet()
    freeze(books, wallet)

    assert refusal(books, Transfer(wallet.id, wallet.id, 10, "loop")) == "same_account"


def test_accounts_of_two_assets_are_a_mismatch_before_one_of_them_is_frozen(books):
    czk_wallet, eur_wallet = books.wallet("CZK"), books.wallet("EUR")
    books.fund(czk_wallet, 100)
    freeze(books, czk_wallet)

    assert refusal(books, Transfer(czk_wallet.id, eur_wallet.id, 10, "exchange")) == (
        "asset_mismatch"
    )
    assert refusal(books, Transfer(eur_wallet.id, czk_wallet.id, 10, "exchange")) == (
        "asset_mismatch"
    )


@pytest.mark.parametrize("frozen_side", ["debit", "credit"])
def test_a_frozen_account_with_too_little_money_is_frozen(books, frozen_side):
    poor, other = books.wallet(), books.wallet()
    books.fund(poor, 5)
    freeze(books, poor if frozen_side == "debit" else other)

    assert refusal(books, Transfer(poor.id, other.id, 10, "payment")) == "account_frozen"


def test_a_hold_follows_the_order_of_a_transfer(books, clock):
    wallet = books.wallet()
    books.fund(wallet, 5)
    freeze(books, wallet)
    hold = Hold(wallet.id, books.settlement.id, 10, "auth", clock.now() + timedelta(hours=1))

    assert refusal(books, hold) == "account_frozen"
    thaw(books, wallet)
    assert refusal(books, hold) == "insufficient_funds"


def test_too_little_money_for_an_amount_that_would_also_overflow_the_debits_is_insufficient(
    books,
):
    wallet = books.wallet()
    books.fund(wallet, 10)
    books.post(Transfer(wallet.id, books.settlement.id, 5, "payment"))

    # debits_posted 5 + 2**63 - 1 would not fit the counter either.
    assert refusal(books, Transfer(wallet.id, books.settlement.id, BIG, "payment")) == (
        "insufficient_funds"
    )


def test_the_debit_side_comes_first_too_little_money_before_an_overflowing_credit(books):
    rich = books.wallet()
    books.fund(rich, BIG)
    poor = books.wallet()
    books.post(Transfer(another_issuance(books).id, poor.id, 10, "load"))

    assert refusal(books, Transfer(poor.id, rich.id, 100, "gift")) == "insufficient_funds"


def test_an_overflowing_debit_comes_before_the_credit_sides_limit(books):
    books.fund(books.wallet(), BIG)  # the issuance account's debits are now full
    limited = escrow(books)

    assert refusal(books, Transfer(books.issuance.id, limited.id, 1, "repay")) == (
        "amount_overflow"
    )
    assert refusal(books, Transfer(another_issuance(books).id, limited.id, 1, "repay")) == (
        "limit_exceeded"
    )


def test_a_credit_beyond_the_limit_that_would_also_overflow_the_credits_is_the_limit(books):
    limited = escrow(books)
    books.post(Transfer(limited.id, books.settlement.id, 10, "advance"))
    books.post(Transfer(books.issuance.id, limited.id, 5, "repay"))

    # credits_posted 5 + 2**63 - 1 would not fit the counter either.
    assert refusal(books, Transfer(another_issuance(books).id, limited.id, BIG, "repay")) == (
        "limit_exceeded"
    )


def test_a_reused_transfer_id_is_found_only_once_the_balances_would_allow_the_transfer(books):
    wallet = books.wallet()
    funding = books.fund(wallet, 10)
    limited = escrow(books)
    reused = funding.id

    assert refusal(books, Transfer(wallet.id, books.settlement.id, 11, "pay", id=reused)) == (
        "insufficient_funds"
    )
    assert refusal(books, Transfer(books.issuance.id, limited.id, 1, "repay", id=reused)) == (
        "limit_exceeded"
    )
    assert refusal(books, Transfer(wallet.id, books.settlement.id, 10, "pay", id=reused)) == (
        "transfer_exists"
    )


def test_an_overflowing_credit_comes_before_a_reused_transfer_id(books):
    wallet = books.wallet()
    funding = books.fund(wallet, BIG)

    assert (
        refusal(books, Transfer(another_issuance(books).id, wallet.id, 1, "load", id=funding.id))
        == "amount_overflow"
    )


# Resolving a hold -----------------------------------------------------------------------------


def test_a_hold_on_an_account_out_of_reach_is_not_found_before_it_is_expired(books, clock):
    wallet, beyond = books.wallet(), platform_wallet(books)
    books.fund(wallet, 100)
    hold = Hold(wallet.id, beyond.id, 10, "auth", clock.now() + timedelta(minutes=5))
    books.post(hold, also_platform=True)
    clock.advance(timedelta(minutes=10))

    assert refusal(books, PostHold(hold.id)) == "account_not_found"
    assert refusal(books, PostHold(hold.id), also_platform=True) == "pending_transfer_expired"


def test_an_expired_hold_is_expired_before_the_amount_to_post_is_looked_at(books, clock):
    _, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(minutes=5))
    clock.advance(timedelta(minutes=5))

    assert refusal(books, PostHold(hold.id, 31)) == "pending_transfer_expired"


def test_an_expired_hold_is_expired_before_it_is_already_resolved(books, clock):
    _, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(minutes=5))
    books.post(VoidHold(hold.id))
    clock.advance(timedelta(minutes=5))

    assert refusal(books, VoidHold(hold.id)) == "pending_transfer_expired"


def test_posting_more_than_a_voided_hold_is_more_than_the_hold(books, clock):
    _, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(minutes=5))
    books.post(VoidHold(hold.id))

    assert refusal(books, PostHold(hold.id, 31)) == "pending_amount_exceeded"
    assert refusal(books, PostHold(hold.id, 30)) == "pending_transfer_already_resolved"


def test_expiring_a_resolved_hold_before_its_time_is_invalid_input(books, clock):
    _, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(minutes=5))
    books.post(VoidHold(hold.id))

    assert refusal(books, Expire(hold.id)) == "invalid_input"


def test_posting_more_than_the_hold_comes_before_a_reused_transfer_id(books, clock):
    _, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(minutes=5))

    assert refusal(books, PostHold(hold.id, 31, id=hold.id)) == "pending_amount_exceeded"
    assert refusal(books, PostHold(hold.id, 30, id=hold.id)) == "transfer_exists"


def test_a_second_resolution_with_a_reused_transfer_id_is_refused_as_existing(books, clock):
    # PostgreSQL inserts the resolution and its primary key is checked before the
    # unique index on pending_id; SQLite used to say pending_transfer_already_resolved.
    _, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(minutes=5))
    first = PostHold(hold.id)
    books.post(first)

    assert refusal(books, VoidHold(hold.id, id=first.id)) == "transfer_exists"
    assert refusal(books, VoidHold(hold.id)) == "pending_transfer_already_resolved"


def test_posting_a_hold_whose_counters_would_overflow_is_checked_after_everything_else(
    books, clock
):
    books.fund(books.wallet(), BIG)  # the issuance account's posted debits are now full
    wallet = books.wallet()
    hold = Hold(books.issuance.id, wallet.id, 1, "load", clock.now() + timedelta(minutes=5))
    books.post(hold)

    assert refusal(books, PostHold(hold.id, id=hold.id)) == "transfer_exists"
    assert refusal(books, PostHold(hold.id)) == "amount_overflow"
    books.post(VoidHold(hold.id))
    assert refusal(books, PostHold(hold.id)) == "pending_transfer_already_resolved"


# A reversal -----------------------------------------------------------------------------------


def test_a_reversal_beyond_the_original_comes_before_its_accounts_are_looked_up(books):
    wallet, beyond = books.wallet(), platform_wallet(books)
    books.fund(wallet, 100)
    original = Transfer(wallet.id, beyond.id, 10, "payment")
    books.post(original, also_platform=True)

    assert refusal(books, Reverse(original.id, 11)) == "reversal_exceeds_transfer"
    assert refusal(books, Reverse(original.id, 10)) == "account_not_found"


def test_a_reversal_beyond_the_original_comes_before_a_frozen_account_and_missing_money(books):
    wallet = books.wallet()
    funding = books.fund(wallet, 100)
    books.post(Transfer(wallet.id, books.settlement.id, 100, "payment"))
    freeze(books, wallet)

    assert refusal(books, Reverse(funding.id, 101)) == "reversal_exceeds_transfer"
    assert refusal(books, Reverse(funding.id)) == "account_frozen"
    thaw(books, wallet)
    assert refusal(books, Reverse(funding.id)) == "insufficient_funds"
