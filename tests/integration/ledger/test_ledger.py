"""The ledger's rules, one test each, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from cagnotte import errors
from cagnotte.clock import ManualClock
from cagnotte.db.engine import Database
from cagnotte.db.pages import PageRequest
from cagnotte.db.tables import (
    PLATFORM_MERCHANT_ID,
    account_balances,
    accounts,
    assets,
    journal_entries,
    lots,
    merchants,
    transfers,
)
from cagnotte.ledger import (
    Account,
    AccountSpec,
    Balance,
    Expire,
    Hold,
    Ledger,
    PostHold,
    Reverse,
    Transfer,
    VoidHold,
)
from cagnotte.money import AMOUNT_MINOR_MAX

MERCHANT_ID = uuid.UUID("00000000-0000-0000-0000-00000000000a")
OTHER_MERCHANT_ID = uuid.UUID("00000000-0000-0000-0000-00000000000b")


# Helpers -------------------------------------------------------------------------------


def add_merchant(database: Database, merchant_id: uuid.UUID, clock: ManualClock) -> None:
    with database.transaction() as connection:
        connection.execute(
            insert(merchants).values(
                id=merchant_id,
                name=f"Merchant {merchant_id}",
                status="active",
                created_at=clock.now(),
            )
        )


@pytest.fixture
def merchant_id(database: Database, clock: ManualClock) -> uuid.UUID:
    """A merchant with its own unit, `points`."""
    add_merchant(database, MERCHANT_ID, clock)
    with database.transaction() as connection:
        connection.execute(
            insert(assets).values(
                code="points",
                scale=0,
                name="Points",
                merchant_id=MERCHANT_ID,
                created_at=clock.now(),
            )
        )
    return MERCHANT_ID


@dataclass
class Books:
    """A merchant's usual accounts: an issuance account and a settlement account."""

    ledger: Ledger
    merchant_id: uuid.UUID
    issuance: Account
    settlement: Account

    def wallet(self, asset_code: str = "CZK", *, uses_lots: bool = False) -> Account:
        """A fresh customer wallet that may never go below zero."""
        return self.ledger.open_account(
            self.merchant_id,
            AccountSpec(
                asset_code,
                "customer",
                uuid.uuid4(),
                "wallet",
                debits_must_not_exceed_credits=True,
                uses_lots=uses_lots,
            ),
        )

    def fund(self, wallet: Account, amount: int, **transfer_fields) -> Transfer:
        """Credit the wallet from the issuance account."""
        transfer = Transfer(self.issuance.id, wallet.id, amount, "load", **transfer_fields)
        self.post(transfer)
        return transfer

    def wallet_with_hold(
        self, funds: int, amount: int, *, expires_at: datetime
    ) -> tuple[Account, Hold]:
        """A fresh wallet funded with `funds` and an open hold of `amount` to settlement."""
        wallet = self.wallet()
        self.fund(wallet, funds)
        hold = Hold(wallet.id, self.settlement.id, amount, "auth", expires_at)
        self.post(hold)
        return wallet, hold

    def post(self, *operations, **options):
        return self.ledger.post_entry(
            self.merchant_id, list(operations), kind=options.pop("kind", "test"), **options
        )


@pytest.fixture
def books(ledger: Ledger, merchant_id: uuid.UUID) -> Books:
    issuance = ledger.open_account(
        merchant_id, AccountSpec("CZK", "merchant", merchant_id, "issuance")
    )
    settlement = ledger.open_account(
        merchant_id, AccountSpec("CZK", "merchant", merchant_id, "merchant_settlement")
    )
    return Books(ledger, merchant_id, issuance, settlement)


@dataclass(frozen=True)
class Footprint:
    """Everything a refused entry must leave as it was."""

    transfers: int
    journal_entries: int
    lots: tuple
    balances: tuple


def footprint(database: Database) -> Footprint:
    with database.read() as connection:
        return Footprint(
            transfers=connection.execute(select(func.count()).select_from(transfers)).scalar_one(),
            journal_entries=connection.execute(
                select(func.count()).select_from(journal_entries)
            ).scalar_one(),
            lots=tuple(
                connection.execute(select(lots.c.id, lots.c.remaining).order_by(lots.c.id)).all()
            ),
            balances=tuple(
                connection.execute(
                    select(account_balances).order_by(
                        account_balances.c.account_id, account_balances.c.shard
                    )
                ).all()
            ),
        )


def lot_remainders(database: Database, account: Account) -> dict:
    """The remaining value of each of the account's lots, by expiry."""
    with database.read() as connection:
        rows = connection.execute(
            select(lots.c.expires_at, lots.c.remaining).where(lots.c.account_id == account.id)
        ).all()
    return {row.expires_at: row.remaining for row in rows}


def transfer_rows(database: Database, **where) -> list:
    query = select(transfers)
    for column, value in where.items():
        query = query.where(transfers.c[column] == value)
    with database.read() as connection:
        return connection.execute(query).all()


def breakage_account(ledger: Ledger, merchant_id: uuid.UUID, asset_code: str = "CZK") -> Account:
    return ledger.open_account(
        merchant_id, AccountSpec(asset_code, "merchant", merchant_id, "breakage")
    )


# Balance limits --------------------------------------------------------------------------


def test_a_debit_beyond_the_balance_is_refused_and_writes_nothing(books, database):
    wallet = books.wallet()
    books.fund(wallet, 100)
    before = footprint(database)

    with pytest.raises(errors.InsufficientFunds) as refused:
        books.post(Transfer(wallet.id, books.settlement.id, 101, "payment"))

    assert refused.value.code == "insufficient_funds"
    assert footprint(database) == before
    assert books.ledger.balance(wallet) == Balance(credits_posted=100)


def test_a_debit_of_exactly_the_balance_empties_the_wallet(books):
    wallet = books.wallet()
    books.fund(wallet, 100)

    result = books.post(Transfer(wallet.id, books.settlement.id, 100, "payment"))

    assert result.balances[wallet.id] == Balance(debits_posted=100, credits_posted=100)
    assert books.ledger.balance(wallet).credit_balance == 0
    assert books.ledger.balance(books.settlement).credit_balance == 100


def test_a_credit_beyond_the_debits_is_refused_on_an_account_limited_on_its_credit_side(
    books, database
):
    escrow = books.ledger.open_account(
        books.merchant_id,
        AccountSpec(
            "CZK",
            "campaign",
            uuid.uuid4(),
            "campaign_escrow",
            credits_must_not_exceed_debits=True,
        ),
    )
    books.post(Transfer(escrow.id, books.settlement.id, 50, "advance"))
    before = footprint(database)

    with pytest.raises(errors.LimitExceeded):
        books.post(Transfer(books.issuance.id, escrow.id, 51, "repay"))

    assert footprint(database) == before
    books.post(Transfer(books.issuance.id, escrow.id, 50, "repay"))
    assert books.ledger.balance(escrow) == Balance(debits_posted=50, credits_posted=50)


def test_a_pending_credit_counts_against_the_credit_limit(books):
    escrow = books.ledger.open_account(
        books.merchant_id,
        AccountSpec(
            "CZK",
            "campaign",
            uuid.uuid4(),
            "campaign_escrow",
            credits_must_not_exceed_debits=True,
        ),
    )
    books.post(Transfer(escrow.id, books.settlement.id, 50, "advance"))
    expires_at = books.ledger.clock.now() + timedelta(hours=1)
    books.post(Hold(books.issuance.id, escrow.id, 40, "repay", expires_at))

    with pytest.raises(errors.LimitExceeded):
        books.post(Transfer(books.issuance.id, escrow.id, 11, "repay"))

    assert books.ledger.balance(escrow) == Balance(debits_posted=50, credits_pending=40)


def test_an_account_without_a_limit_may_go_below_zero(books):
    wallet = books.wallet()

    books.fund(wallet, 250)

    assert books.ledger.balance(books.issuance).credit_balance == -250
    assert books.ledger.balance(wallet).credit_balance == 250


def test_a_transfer_between_accounts_of_different_assets_is_refused(books, database):
    czk_wallet, eur_wallet = books.wallet("CZK"), books.wallet("EUR")
    books.fund(czk_wallet, 100)
    before = footprint(database)

    with pytest.raises(errors.AssetMismatch):
        books.post(Transfer(czk_wallet.id, eur_wallet.id, 10, "exchange"))

    assert footprint(database) == before


def test_a_transfer_from_an_account_to_itself_is_refused(books, database):
    wallet = books.wallet()
    books.fund(wallet, 100)
    before = footprint(database)

    with pytest.raises(errors.SameAccount):
        books.post(Transfer(wallet.id, wallet.id, 10, "loop"))

    assert footprint(database) == before


def test_a_frozen_account_can_neither_be_debited_nor_credited_until_thawed(books, database):
    wallet = books.wallet()
    books.fund(wallet, 100)
    with database.transaction() as connection:
        books.ledger.set_frozen(connection, books.merchant_id, [wallet.id], True)
    before = footprint(database)

    with pytest.raises(errors.AccountFrozen):
        books.post(Transfer(wallet.id, books.settlement.id, 10, "payment"))
    with pytest.raises(errors.AccountFrozen):
        books.fund(wallet, 10)
    assert footprint(database) == before

    with database.transaction() as connection:
        books.ledger.set_frozen(connection, books.merchant_id, [wallet.id], False)
    books.post(Transfer(wallet.id, books.settlement.id, 10, "payment"))
    assert books.ledger.balance(wallet).credit_balance == 90


def test_an_unknown_account_is_not_found(books, database):
    wallet = books.wallet()
    books.fund(wallet, 100)
    before = footprint(database)

    with pytest.raises(errors.AccountNotFound):
        books.post(Transfer(wallet.id, uuid.uuid4(), 10, "payment"))
    with pytest.raises(errors.AccountNotFound):
        books.post(Transfer(uuid.uuid4(), wallet.id, 10, "payment"))

    assert footprint(database) == before


def test_an_account_of_another_merchant_is_not_found(books, database, clock):
    add_merchant(database, OTHER_MERCHANT_ID, clock)
    foreign_wallet = books.ledger.open_account(
        OTHER_MERCHANT_ID,
        AccountSpec("CZK", "customer", uuid.uuid4(), "wallet", debits_must_not_exceed_credits=True),
    )
    wallet = books.wallet()
    books.fund(wallet, 100)
    before = footprint(database)

    with pytest.raises(errors.AccountNotFound):
        books.post(Transfer(wallet.id, foreign_wallet.id, 10, "payment"))
    with pytest.raises(errors.AccountNotFound):
        books.post(Transfer(wallet.id, foreign_wallet.id, 10, "payment"), also_platform=True)

    assert footprint(database) == before


def test_a_platform_account_is_reached_only_when_the_entry_allows_the_platform(books):
    platform_wallet = books.ledger.open_account(
        PLATFORM_MERCHANT_ID,
        AccountSpec("CZK", "customer", uuid.uuid4(), "wallet", debits_must_not_exceed_credits=True),
    )
    wallet = books.wallet()
    books.fund(wallet, 100)

    with pytest.raises(errors.AccountNotFound):
        books.post(Transfer(wallet.id, platform_wallet.id, 10, "payment"))
    books.post(Transfer(wallet.id, platform_wallet.id, 10, "payment"), also_platform=True)

    assert books.ledger.balance(platform_wallet).credit_balance == 10


# Holds ------------------------------------------------------------------------------------


def test_a_hold_lowers_the_available_balance_but_not_the_posted_one(books, clock):
    wallet = books.wallet()
    books.fund(wallet, 100)

    result = books.post(
        Hold(wallet.id, books.settlement.id, 30, "authorisation", clock.now() + timedelta(hours=1))
    )

    balance = books.ledger.balance(wallet)
    assert result.balances[wallet.id] == balance
    assert (balance.credit_balance, balance.available, balance.debits_pending) == (100, 70, 30)
    assert books.ledger.balance(books.settlement) == Balance(credits_pending=30)
    assert result.transfers[0].kind == "pending"


def test_a_hold_counts_against_the_balance_limit(books, clock, database):
    wallet = books.wallet()
    books.fund(wallet, 100)
    books.post(Hold(wallet.id, books.settlement.id, 70, "auth", clock.now() + timedelta(hours=1)))
    before = footprint(database)

    with pytest.raises(errors.InsufficientFunds):
        books.post(Transfer(wallet.id, books.settlement.id, 31, "payment"))
    with pytest.raises(errors.InsufficientFunds):
        books.post(Hold(wallet.id, books.settlement.id, 31, "auth", clock.now() + timedelta(1)))

    assert footprint(database) == before


def test_posting_a_hold_in_full_moves_its_amount(books, clock):
    wallet, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(hours=1))

    result = books.post(PostHold(hold.id))

    assert result.transfers[0].kind == "post"
    assert result.transfers[0].amount == 30
    assert result.transfers[0].pending_id == hold.id
    assert books.ledger.balance(wallet) == Balance(credits_posted=100, debits_posted=30)
    assert books.ledger.balance(books.settlement) == Balance(credits_posted=30)


def test_posting_a_hold_in_part_moves_that_part_and_releases_the_rest(books, clock):
    wallet, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(hours=1))

    result = books.post(PostHold(hold.id, 12))

    assert result.transfers[0].amount == 12
    assert books.ledger.balance(wallet) == Balance(credits_posted=100, debits_posted=12)
    assert books.ledger.balance(wallet).available == 88
    assert books.ledger.balance(books.settlement) == Balance(credits_posted=12)


def test_posting_more_than_the_hold_is_refused(books, clock, database):
    wallet, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(hours=1))
    before = footprint(database)

    with pytest.raises(errors.PendingAmountExceeded):
        books.post(PostHold(hold.id, 31))

    assert footprint(database) == before


def test_voiding_a_hold_releases_it_and_moves_nothing(books, clock):
    wallet, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(hours=1))

    result = books.post(VoidHold(hold.id))

    assert result.transfers[0].kind == "void"
    assert books.ledger.balance(wallet) == Balance(credits_posted=100)
    assert books.ledger.balance(books.settlement) == Balance()


def test_posting_a_hold_at_or_after_its_expiry_is_refused(books, clock, database):
    wallet, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(minutes=5))
    clock.advance(timedelta(minutes=5))
    before = footprint(database)

    with pytest.raises(errors.PendingTransferExpired):
        books.post(PostHold(hold.id))
    with pytest.raises(errors.PendingTransferExpired):
        books.post(VoidHold(hold.id))

    assert footprint(database) == before
    assert books.ledger.balance(wallet).available == 70


def test_expiring_a_hold_before_its_time_is_refused(books, clock, database):
    wallet, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(minutes=5))
    before = footprint(database)

    with pytest.raises(errors.InvalidInput):
        books.post(Expire(hold.id))

    assert footprint(database) == before


def test_the_expiry_job_releases_lapsed_holds_and_a_second_run_changes_nothing(
    books, clock, database
):
    wallet = books.wallet()
    books.fund(wallet, 100)
    soon = Hold(wallet.id, books.settlement.id, 30, "auth", clock.now() + timedelta(minutes=5))
    later = Hold(wallet.id, books.settlement.id, 20, "auth", clock.now() + timedelta(hours=5))
    books.post(soon, later)
    clock.advance(timedelta(minutes=10))

    assert books.ledger.expire_holds() == 1
    after_first_run = footprint(database)
    assert books.ledger.expire_holds() == 0

    assert footprint(database) == after_first_run
    [expiry] = transfer_rows(database, pending_id=soon.id)
    assert (expiry.kind, expiry.amount) == ("expire", 30)
    assert transfer_rows(database, pending_id=later.id) == []
    assert books.ledger.balance(wallet) == Balance(credits_posted=100, debits_pending=20)
    assert books.ledger.balance(books.settlement) == Balance(credits_pending=20)


def test_the_expiry_job_skips_holds_already_resolved(books, clock):
    wallet, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(minutes=5))
    books.post(PostHold(hold.id, 10))
    clock.advance(timedelta(minutes=10))

    assert books.ledger.expire_holds() == 0
    assert books.ledger.balance(wallet) == Balance(credits_posted=100, debits_posted=10)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (PostHold, PostHold),
        (PostHold, VoidHold),
        (VoidHold, PostHold),
        (VoidHold, VoidHold),
    ],
)
def test_a_hold_cannot_be_resolved_twice(books, clock, database, first, second):
    wallet, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(minutes=5))
    books.post(first(hold.id))
    before = footprint(database)

    with pytest.raises(errors.PendingTransferAlreadyResolved):
        books.post(second(hold.id))

    assert footprint(database) == before


def test_an_expired_hold_cannot_be_posted_after_the_job_released_it(books, clock):
    wallet, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(minutes=5))
    clock.advance(timedelta(minutes=5))
    books.ledger.expire_holds()

    with pytest.raises(errors.PendingTransferAlreadyResolved):
        books.post(Expire(hold.id))
    with pytest.raises(errors.PendingTransferExpired):
        books.post(PostHold(hold.id))
    assert books.ledger.balance(wallet) == Balance(credits_posted=100)


def test_resolving_something_that_is_not_a_hold_is_refused(books):
    wallet = books.wallet()
    funding = books.fund(wallet, 100)

    with pytest.raises(errors.PendingTransferNotFound):
        books.post(PostHold(uuid.uuid4()))
    with pytest.raises(errors.PendingTransferNotFound):
        books.post(VoidHold(funding.id))


# Lots -------------------------------------------------------------------------------------


def test_a_credit_to_an_account_with_lots_records_a_lot_with_its_expiry(books, clock, database):
    points = books.wallet("points", uses_lots=True)
    issuance = books.ledger.open_account(
        books.merchant_id, AccountSpec("points", "merchant", books.merchant_id, "issuance")
    )
    expires_at = clock.now() + timedelta(days=30)

    transfer = Transfer(issuance.id, points.id, 40, "earn", lot_expires_at=expires_at)
    books.post(transfer)

    with database.read() as connection:
        [lot] = connection.execute(select(lots).where(lots.c.account_id == points.id)).all()
    assert (lot.amount, lot.remaining, lot.expires_at, lot.transfer_id) == (
        40,
        40,
        expires_at,
        transfer.id,
    )


def test_an_account_without_lots_keeps_no_lots(books, database):
    wallet = books.wallet()

    books.fund(wallet, 100, lot_expires_at=books.ledger.clock.now() + timedelta(days=1))

    assert lot_remainders(database, wallet) == {}


def test_spending_takes_the_soonest_expiring_lots_first(books, clock, database):
    wallet = books.wallet(uses_lots=True)
    in_ten_days, in_five_days = clock.now() + timedelta(days=10), clock.now() + timedelta(days=5)
    books.fund(wallet, 30, lot_expires_at=in_ten_days)
    books.fund(wallet, 50, lot_expires_at=in_five_days)
    books.fund(wallet, 40)

    books.post(Transfer(wallet.id, books.settlement.id, 60, "payment"))

    assert lot_remainders(database, wallet) == {in_five_days: 0, in_ten_days: 20, None: 40}
    books.post(Transfer(wallet.id, books.settlement.id, 30, "payment"))
    assert lot_remainders(database, wallet) == {in_five_days: 0, in_ten_days: 0, None: 30}


def test_a_posted_hold_takes_the_soonest_expiring_lots_and_a_hold_alone_takes_none(
    books, clock, database
):
    wallet = books.wallet(uses_lots=True)
    in_ten_days, in_five_days = clock.now() + timedelta(days=10), clock.now() + timedelta(days=5)
    books.fund(wallet, 30, lot_expires_at=in_ten_days)
    books.fund(wallet, 50, lot_expires_at=in_five_days)
    hold = Hold(wallet.id, books.settlement.id, 60, "auth", clock.now() + timedelta(hours=1))

    books.post(hold)
    assert lot_remainders(database, wallet) == {in_five_days: 50, in_ten_days: 30}

    books.post(PostHold(hold.id, 55))
    assert lot_remainders(database, wallet) == {in_five_days: 0, in_ten_days: 25}


def test_the_lot_expiry_job_moves_only_the_unspent_rest_to_the_merchant_breakage_account(
    books, clock, database
):
    wallet = books.wallet(uses_lots=True)
    in_five_days, in_ten_days = clock.now() + timedelta(days=5), clock.now() + timedelta(days=10)
    books.fund(wallet, 100, lot_expires_at=in_five_days)
    books.fund(wallet, 40, lot_expires_at=in_ten_days)
    books.fund(wallet, 25)
    books.post(Transfer(wallet.id, books.settlement.id, 30, "payment"))
    clock.advance(timedelta(days=6))

    assert books.ledger.expire_lots() == 1

    breakage = breakage_account(books.ledger, books.merchant_id)
    assert (breakage.owner_type, breakage.owner_id, breakage.purpose) == (
        "merchant",
        books.merchant_id,
        "breakage",
    )
    assert books.ledger.balance(breakage).credit_balance == 70
    assert books.ledger.balance(wallet).credit_balance == 65
    assert lot_remainders(database, wallet) == {in_five_days: 0, in_ten_days: 40, None: 25}
    [expiry] = transfer_rows(database, code="lot_expired")
    assert (expiry.debit_account_id, expiry.credit_account_id, expiry.amount) == (
        wallet.id,
        breakage.id,
        70,
    )


def test_the_lot_expiry_job_run_twice_moves_the_rest_once(books, clock, database):
    wallet = books.wallet(uses_lots=True)
    books.fund(wallet, 100, lot_expires_at=clock.now() + timedelta(days=5))
    clock.advance(timedelta(days=5))
    books.ledger.expire_lots()
    after_first_run = footprint(database)

    assert books.ledger.expire_lots() == 0

    assert footprint(database) == after_first_run
    breakage = breakage_account(books.ledger, books.merchant_id)
    assert books.ledger.balance(breakage).credit_balance == 100
    assert books.ledger.balance(wallet).credit_balance == 0


def test_the_lot_expiry_job_leaves_lots_that_have_not_expired(books, clock, database):
    wallet = books.wallet(uses_lots=True)
    expires_at = clock.now() + timedelta(days=5)
    books.fund(wallet, 100, lot_expires_at=expires_at)
    clock.advance(timedelta(days=4))
    before = footprint(database)

    assert books.ledger.expire_lots() == 0

    assert footprint(database) == before
    assert lot_remainders(database, wallet) == {expires_at: 100}


def test_the_lot_expiry_job_passes_over_a_frozen_account_until_it_is_thawed(books, clock, database):
    frozen_wallet, wallet = books.wallet(uses_lots=True), books.wallet(uses_lots=True)
    books.fund(frozen_wallet, 100, lot_expires_at=clock.now() + timedelta(days=5))
    books.fund(wallet, 40, lot_expires_at=clock.now() + timedelta(days=5))
    with database.transaction() as connection:
        books.ledger.set_frozen(connection, books.merchant_id, [frozen_wallet.id], True)
    clock.advance(timedelta(days=6))

    assert books.ledger.expire_lots() == 1

    breakage = breakage_account(books.ledger, books.merchant_id)
    assert books.ledger.balance(breakage).credit_balance == 40
    assert books.ledger.balance(frozen_wallet).credit_balance == 100
    with database.transaction() as connection:
        books.ledger.set_frozen(connection, books.merchant_id, [frozen_wallet.id], False)
    assert books.ledger.expire_lots() == 1
    assert books.ledger.balance(breakage).credit_balance == 140


def test_the_lot_expiry_job_does_not_take_value_reserved_by_a_hold(books, clock, database):
    wallet = books.wallet(uses_lots=True)
    books.fund(wallet, 100, lot_expires_at=clock.now() + timedelta(days=5))
    hold = Hold(wallet.id, books.settlement.id, 30, "auth", clock.now() + timedelta(days=30))
    books.post(hold)
    clock.advance(timedelta(days=6))

    books.ledger.expire_lots()

    breakage = breakage_account(books.ledger, books.merchant_id)
    assert books.ledger.balance(breakage).credit_balance == 70
    assert books.ledger.balance(wallet) == Balance(
        credits_posted=100, debits_posted=70, debits_pending=30
    )
    books.post(PostHold(hold.id))
    assert books.ledger.balance(wallet).credit_balance == 0
    assert books.ledger.balance(books.settlement).credit_balance == 30
    assert sum(lot_remainders(database, wallet).values()) == 0


def test_value_a_hold_reserved_from_an_expired_lot_expires_once_the_hold_is_voided(
    books, clock, database
):
    wallet = books.wallet(uses_lots=True)
    books.fund(wallet, 100, lot_expires_at=clock.now() + timedelta(days=5))
    hold = Hold(wallet.id, books.settlement.id, 30, "auth", clock.now() + timedelta(days=30))
    books.post(hold)
    clock.advance(timedelta(days=6))
    books.ledger.expire_lots()

    books.post(VoidHold(hold.id))
    books.ledger.expire_lots()

    breakage = breakage_account(books.ledger, books.merchant_id)
    assert books.ledger.balance(breakage).credit_balance == 100
    assert books.ledger.balance(wallet).credit_balance == 0
    assert sum(lot_remainders(database, wallet).values()) == 0


def test_a_hold_reserves_the_soonest_expiring_lots_from_the_lot_expiry_job(books, clock, database):
    wallet = books.wallet(uses_lots=True)
    expires_at = clock.now() + timedelta(days=5)
    books.fund(wallet, 100, lot_expires_at=expires_at)
    books.fund(wallet, 100)
    hold = Hold(wallet.id, books.settlement.id, 150, "auth", clock.now() + timedelta(days=30))
    books.post(hold)
    clock.advance(timedelta(days=6))

    books.ledger.expire_lots()

    # The hold, when posted, takes the expiring lot first: all of it is spoken for.
    breakage = breakage_account(books.ledger, books.merchant_id)
    assert books.ledger.balance(breakage).credit_balance == 0
    books.post(PostHold(hold.id))
    assert books.ledger.balance(wallet).credit_balance == 50
    assert lot_remainders(database, wallet) == {expires_at: 0, None: 50}


# Reversals --------------------------------------------------------------------------------


def test_a_reversal_in_full_moves_the_amount_back(books):
    wallet = books.wallet()
    books.fund(wallet, 100)
    payment = Transfer(wallet.id, books.settlement.id, 60, "payment", reference="check-1")
    books.post(payment)

    result = books.post(Reverse(payment.id))

    [reversal] = result.transfers
    assert (reversal.debit_account_id, reversal.credit_account_id) == (
        books.settlement.id,
        wallet.id,
    )
    assert (reversal.amount, reversal.reverses_id, reversal.code, reversal.reference) == (
        60,
        payment.id,
        "reversal",
        "check-1",
    )
    assert books.ledger.balance(wallet).credit_balance == 100
    assert books.ledger.balance(books.settlement).credit_balance == 0


def test_partial_reversals_add_up_to_the_original_and_no_further(books, database):
    wallet = books.wallet()
    books.fund(wallet, 100)
    payment = Transfer(wallet.id, books.settlement.id, 60, "payment")
    books.post(payment)

    books.post(Reverse(payment.id, 25))
    books.post(Reverse(payment.id, 30))
    before = footprint(database)
    with pytest.raises(errors.ReversalExceedsTransfer):
        books.post(Reverse(payment.id, 6))
    assert footprint(database) == before

    books.post(Reverse(payment.id))
    assert books.ledger.balance(wallet).credit_balance == 100
    with pytest.raises(errors.ReversalExceedsTransfer):
        books.post(Reverse(payment.id))
    reversals = transfer_rows(database, reverses_id=payment.id)
    assert sorted(row.amount for row in reversals) == [5, 25, 30]


def test_a_reversal_beyond_the_original_is_refused_and_writes_nothing(books, database):
    wallet = books.wallet()
    books.fund(wallet, 100)
    payment = Transfer(wallet.id, books.settlement.id, 60, "payment")
    books.post(payment)
    before = footprint(database)

    with pytest.raises(errors.ReversalExceedsTransfer):
        books.post(Reverse(payment.id, 61))

    assert footprint(database) == before


def test_a_pending_transfer_cannot_be_reversed(books, clock, database):
    wallet, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(hours=1))
    before = footprint(database)

    with pytest.raises(errors.TransferNotFound):
        books.post(Reverse(hold.id))

    assert footprint(database) == before


def test_a_posted_hold_can_be_reversed_up_to_the_posted_amount(books, clock):
    wallet, hold = books.wallet_with_hold(100, 30, expires_at=clock.now() + timedelta(hours=1))
    posting = PostHold(hold.id, 20)
    books.post(posting)

    with pytest.raises(errors.ReversalExceedsTransfer):
        books.post(Reverse(posting.id, 21))
    books.post(Reverse(posting.id))

    assert books.ledger.balance(wallet).credit_balance == 100


def test_a_reversal_the_credited_account_can_no_longer_cover_is_refused(books, database):
    wallet = books.wallet()
    funding = books.fund(wallet, 100)
    books.post(Transfer(wallet.id, books.settlement.id, 80, "payment"))
    before = footprint(database)

    with pytest.raises(errors.InsufficientFunds):
        books.post(Reverse(funding.id))

    assert footprint(database) == before
    books.post(Reverse(funding.id, 20))
    assert books.ledger.balance(wallet).credit_balance == 0


# Idempotency ------------------------------------------------------------------------------


def test_the_same_idempotency_key_and_request_replays_the_first_result(books, database):
    wallet = books.wallet()
    books.fund(wallet, 100)
    first = books.post(
        Transfer(wallet.id, books.settlement.id, 60, "payment"),
        idempotency_key="check-1",
        request_hash="hash-a",
    )
    after_first = footprint(database)

    # A retrying client builds the request again, with new transfer ids.
    again = books.post(
        Transfer(wallet.id, books.settlement.id, 60, "payment"),
        idempotency_key="check-1",
        request_hash="hash-a",
    )

    assert not first.replayed
    assert again.replayed
    assert again.entry_id == first.entry_id
    assert again.transfers == first.transfers
    assert again.balances == first.balances
    assert footprint(database) == after_first
    assert books.ledger.balance(wallet).credit_balance == 40


def test_the_same_idempotency_key_with_another_request_is_refused(books, database):
    wallet = books.wallet()
    books.fund(wallet, 100)
    books.post(
        Transfer(wallet.id, books.settlement.id, 60, "payment"),
        idempotency_key="check-1",
        request_hash="hash-a",
    )
    before = footprint(database)

    with pytest.raises(errors.IdempotencyKeyReused):
        books.post(
            Transfer(wallet.id, books.settlement.id, 10, "payment"),
            idempotency_key="check-1",
            request_hash="hash-b",
        )

    assert footprint(database) == before


def test_a_refused_request_does_not_use_up_its_idempotency_key(books):
    wallet = books.wallet()
    books.fund(wallet, 50)
    with pytest.raises(errors.InsufficientFunds):
        books.post(
            Transfer(wallet.id, books.settlement.id, 60, "payment"),
            idempotency_key="check-1",
            request_hash="hash-a",
        )
    books.fund(wallet, 50)

    result = books.post(
        Transfer(wallet.id, books.settlement.id, 60, "payment"),
        idempotency_key="check-1",
        request_hash="hash-a",
    )

    assert not result.replayed
    assert books.ledger.balance(wallet).credit_balance == 40


def test_an_idempotency_key_belongs_to_one_merchant(books, database, clock):
    add_merchant(database, OTHER_MERCHANT_ID, clock)
    other_issuance = books.ledger.open_account(
        OTHER_MERCHANT_ID, AccountSpec("CZK", "merchant", OTHER_MERCHANT_ID, "issuance")
    )
    other_wallet = books.ledger.open_account(
        OTHER_MERCHANT_ID, AccountSpec("CZK", "customer", uuid.uuid4(), "wallet")
    )
    wallet = books.wallet()
    books.post(
        Transfer(books.issuance.id, wallet.id, 10, "load"),
        idempotency_key="same",
        request_hash="h",
    )

    result = books.ledger.post_entry(
        OTHER_MERCHANT_ID,
        [Transfer(other_issuance.id, other_wallet.id, 10, "load")],
        kind="load",
        idempotency_key="same",
        request_hash="h",
    )

    assert not result.replayed
    assert books.ledger.balance(other_wallet).credit_balance == 10


def test_a_transfer_id_used_before_is_refused(books, database):
    wallet = books.wallet()
    funding = books.fund(wallet, 100)
    before = footprint(database)

    with pytest.raises(errors.TransferExists):
        books.post(Transfer(books.issuance.id, wallet.id, 100, "load", id=funding.id))

    assert footprint(database) == before


# Overflow ---------------------------------------------------------------------------------


def test_crediting_beyond_the_largest_counter_is_refused_and_writes_nothing(books, database):
    wallet = books.wallet()
    other_issuance = books.ledger.open_account(
        books.merchant_id, AccountSpec("CZK", "merchant", uuid.uuid4(), "issuance")
    )
    books.fund(wallet, AMOUNT_MINOR_MAX)
    before = footprint(database)

    with pytest.raises(errors.AmountOverflow) as refused:
        books.post(Transfer(other_issuance.id, wallet.id, 1, "load"))

    assert refused.value.code == "amount_overflow"
    assert footprint(database) == before
    assert books.ledger.balance(wallet).credits_posted == AMOUNT_MINOR_MAX


def test_debiting_beyond_the_largest_counter_is_refused_and_writes_nothing(books, database):
    books.fund(books.wallet(), AMOUNT_MINOR_MAX)
    second_wallet = books.wallet()
    before = footprint(database)

    with pytest.raises(errors.AmountOverflow):
        books.fund(second_wallet, 1)

    assert footprint(database) == before


def test_a_pending_credit_beyond_the_largest_counter_is_refused(books, database, clock):
    wallet = books.wallet()
    other_issuance = books.ledger.open_account(
        books.merchant_id, AccountSpec("CZK", "merchant", uuid.uuid4(), "issuance")
    )
    books.post(
        Hold(
            books.issuance.id, wallet.id, AMOUNT_MINOR_MAX, "load", clock.now() + timedelta(hours=1)
        )
    )
    before = footprint(database)

    with pytest.raises(errors.AmountOverflow):
        books.post(Hold(other_issuance.id, wallet.id, 1, "load", clock.now() + timedelta(hours=1)))

    assert footprint(database) == before


def test_a_debit_beyond_the_available_balance_is_insufficient_funds_even_near_the_counter_limit(
    books, database, clock
):
    wallet = books.wallet()
    half = 2**62
    books.fund(wallet, half)
    books.post(Hold(wallet.id, books.settlement.id, half, "auth", clock.now() + timedelta(1)))
    before = footprint(database)

    # debits_posted + debits_pending + amount would pass 2**63 - 1: the funds are
    # what is missing, not room in a counter.
    with pytest.raises(errors.InsufficientFunds):
        books.post(Transfer(wallet.id, books.settlement.id, half, "payment"))

    assert footprint(database) == before


# Sharded accounts ---------------------------------------------------------------------------


def test_a_sharded_account_sums_its_shards(books, clock, database):
    hot = books.ledger.open_account(
        books.merchant_id,
        AccountSpec("CZK", "merchant", uuid.uuid4(), "merchant_settlement", balance_shards=8),
    )
    wallet = books.wallet()
    books.fund(wallet, 10_000)
    amounts = [7 * index + 1 for index in range(40)]

    for amount in amounts:
        result = books.post(Transfer(wallet.id, hot.id, amount, "payment"))
        assert hot.id not in result.balances
    hold = Hold(hot.id, books.settlement.id, 500, "payout", clock.now() + timedelta(hours=1))
    books.post(hold)
    books.post(PostHold(hold.id, 300))
    books.post(Transfer(hot.id, books.settlement.id, 100, "payout"))

    with database.read() as connection:
        shards = connection.execute(
            select(account_balances.c.shard, account_balances.c.credits_posted).where(
                account_balances.c.account_id == hot.id
            )
        ).all()
    assert sorted(shard for shard, _ in shards) == list(range(8))
    assert sum(credits for _, credits in shards) == sum(amounts)
    assert books.ledger.balance(hot) == Balance(debits_posted=400, credits_posted=sum(amounts))
    assert books.ledger.balance(wallet).credit_balance == 10_000 - sum(amounts)


# History ------------------------------------------------------------------------------------


def read_all_history(ledger: Ledger, account: Account, limit: int) -> list:
    pages, cursor = [], None
    while True:
        found = ledger.history(account, PageRequest(cursor=cursor, limit=limit))
        page, cursor = found.items, found.next_cursor
        pages.append(page)
        if cursor is None:
            return [record for page in pages for record in page]
        assert len(page) == limit


def test_history_pages_newest_first_without_duplicates_or_gaps(books, clock):
    wallet = books.wallet()
    made = []
    for index in range(23):
        clock.advance(timedelta(seconds=1))
        made.append(books.fund(wallet, index + 1))
        # A few transfers share their moment, so the cursor must break ties.
        if index % 5 == 0:
            made.append(books.fund(wallet, 1000 + index))
    clock.advance(timedelta(seconds=1))
    payment = Transfer(wallet.id, books.settlement.id, 5, "payment")
    books.post(payment)
    made.append(payment)

    records = read_all_history(books.ledger, wallet, limit=7)

    assert len(records) == len(made) == len({record.id for record in records})
    assert {record.id for record in records} == {transfer.id for transfer in made}
    keys = [(record.created_at, record.id) for record in records]
    assert keys == sorted(keys, reverse=True)
    assert records[0].id == payment.id


def test_history_of_transfers_made_at_one_moment_still_pages_without_gaps(books):
    wallet = books.wallet()
    made = {books.fund(wallet, amount).id for amount in range(1, 16)}

    records = read_all_history(books.ledger, wallet, limit=4)

    assert [record.id for record in records] == sorted(made, reverse=True)


def test_history_of_an_exact_page_ends_without_a_cursor(books, clock):
    wallet = books.wallet()
    for amount in range(1, 5):
        clock.advance(timedelta(seconds=1))
        books.fund(wallet, amount)

    page = books.ledger.history(wallet, PageRequest(limit=4))

    assert [record.amount for record in page.items] == [4, 3, 2, 1]
    assert page.next_cursor is None


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%",
        # A naive moment (no offset) with a well-formed transfer id.
        base64.urlsafe_b64encode(
            b'["transfers","2026-01-05T09:00:00","36082f7a-91f8-46a3-b65f-f81a23231592"]'
        ).decode(),
        base64.urlsafe_b64encode(
            b'["transfers","2026-01-05T09:00:00+00:00","not-a-uuid"]'
        ).decode(),
        # Another list's cursor.
        base64.urlsafe_b64encode(
            b'["checks","2026-01-05T09:00:00+00:00","36082f7a-91f8-46a3-b65f-f81a23231592"]'
        ).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_an_invalid_history_cursor_is_refused(books, cursor):
    wallet = books.wallet()
    books.fund(wallet, 1)

    with pytest.raises(errors.InvalidCursor):
        books.ledger.history(wallet, PageRequest(cursor=cursor, limit=10))


# Journal entries are atomic -------------------------------------------------------------------


def test_an_entry_whose_second_transfer_fails_leaves_nothing_of_the_first(books, database):
    wallet, points = books.wallet(), books.wallet(uses_lots=True)
    books.fund(wallet, 100)
    before = footprint(database)
    first = Transfer(books.issuance.id, points.id, 50, "bonus")

    with pytest.raises(errors.InsufficientFunds):
        books.post(first, Transfer(wallet.id, books.settlement.id, 101, "payment"))

    assert footprint(database) == before
    assert transfer_rows(database, id=first.id) == []
    assert books.ledger.balance(points) == Balance()
    assert books.ledger.balance(books.issuance).credit_balance == -100


def test_an_entry_of_several_transfers_lands_whole(books, database):
    wallet = books.wallet()
    books.fund(wallet, 100)

    result = books.post(
        Transfer(wallet.id, books.settlement.id, 70, "payment"),
        Transfer(books.issuance.id, wallet.id, 5, "cashback"),
    )

    rows = transfer_rows(database, entry_id=result.entry_id)
    assert sorted(row.amount for row in rows) == [5, 70]
    assert result.balances[wallet.id].credit_balance == 35
    assert books.ledger.balance(wallet).credit_balance == 35


def test_a_refused_entry_inside_the_callers_transaction_leaves_that_transaction_usable(
    books, database
):
    wallet = books.wallet()
    books.fund(wallet, 100)

    with database.transaction() as connection:
        with pytest.raises(errors.InsufficientFunds):
            books.ledger.post_entry(
                books.merchant_id,
                [Transfer(wallet.id, books.settlement.id, 101, "payment")],
                kind="payment",
                connection=connection,
            )
        books.ledger.post_entry(
            books.merchant_id,
            [Transfer(wallet.id, books.settlement.id, 40, "payment")],
            kind="payment",
            connection=connection,
        )

    assert books.ledger.balance(wallet).credit_balance == 60


def test_an_entry_in_the_callers_transaction_is_undone_with_it(books, database):
    wallet = books.wallet()
    books.fund(wallet, 100)
    before = footprint(database)

    with pytest.raises(RuntimeError), database.transaction() as connection:
        books.ledger.post_entry(
            books.merchant_id,
            [Transfer(wallet.id, books.settlement.id, 40, "payment")],
            kind="payment",
            connection=connection,
        )
        raise RuntimeError("the caller changes its mind")

    assert footprint(database) == before


def test_an_opened_account_is_found_again_with_its_flags(books, database):
    owner = uuid.uuid4()
    spec = AccountSpec("CZK", "customer", owner, "wallet", debits_must_not_exceed_credits=True)

    first = books.ledger.open_account(books.merchant_id, spec)
    fresh_ledger = Ledger(database, books.ledger.clock)
    again = fresh_ledger.open_account(books.merchant_id, spec)

    assert again == first
    assert again.debits_must_not_exceed_credits and not again.uses_lots
    with database.read() as connection:
        assert (
            connection.execute(
                select(func.count()).select_from(accounts).where(accounts.c.owner_id == owner)
            ).scalar_one()
            == 1
        )
