"""A gift card is a tender that plans: a sale paid with a card and a wallet is one entry.

The sale's use case is written out here, as a register's check will be: the
card is found by its number and PIN and the wallet's accounts are opened
before the unit of work; inside it the card's row is locked, the gift card and
the wallet each give their plan, and commit_plans posts both as one journal
entry beside the card's operation log row. Both databases.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from cagnotte import errors
from cagnotte.bootstrap import Services
from cagnotte.db.tables import journal_entries, transfers
from cagnotte.db.unit_of_work import UnitOfWork
from cagnotte.ledger import EntryResult
from cagnotte.programs.tenders import commit_plans
from cagnotte.programs.wallets import WalletService
from cagnotte.security.principals import Principal
from tests.e2e.api.conftest import enrol, top_up
from tests.e2e.api.test_wallets import wallet_balance
from tests.e2e.gift_cards.conftest import Card, balance

SALE = "S-1001"


def pay_sale(
    services: Services, merchant, card: Card, customer_id: str, *, from_card: int, from_wallet: int
) -> EntryResult:
    """Pay one sale: `from_card` with the gift card, `from_wallet` from the customer's wallet."""
    register = Principal(
        merchant_id=uuid.UUID(merchant.id),
        role="cashier",
        store_id=uuid.UUID(merchant.store_id),
        terminal_id=uuid.UUID(merchant.register_id),
    )
    gift_cards = services.gift_cards
    paying = gift_cards.payment_card(register, number=card.number, pin=card.pin)
    wallet = services.wallets.payment_accounts(
        register.merchant_id, uuid.UUID(customer_id), paying.program.asset_code
    )

    def work(unit: UnitOfWork) -> EntryResult:
        locked = gift_cards.tender.lock_card(unit, paying.card_id)
        card_plan = gift_cards.tender.plan_spend(
            unit,
            locked,
            paying.program,
            from_card,
            accounts=paying.accounts,
            actor=paying.actor,
            reference=SALE,
        )
        wallet_plan = WalletService.plan_payment(wallet, from_wallet, SALE)
        result = commit_plans(services.ledger, unit, [card_plan, wallet_plan], kind="sale_payment")
        assert result is not None
        gift_cards.tender.check_landed(card_plan, result)
        return result

    return services.units.run(register.merchant_id, "sale_payment", work)


def entry_count(services: Services) -> int:
    with services.database.read() as connection:
        return connection.execute(select(func.count()).select_from(journal_entries)).scalar_one()


def card_operations(client, merchant, card: Card) -> list[dict]:
    response = client.get(f"/v1/gift-cards/{card.id}/operations", headers=merchant.manager)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_gift_card_and_a_wallet_pay_one_sale_in_one_journal_entry(
    client, merchant, services, card
):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 5_000, asset="CAD").status_code == 201
    entries_before = entry_count(services)

    result = pay_sale(services, merchant, card, customer["id"], from_card=6_000, from_wallet=4_000)

    assert entry_count(services) == entries_before + 1
    assert sorted((t.code, t.amount, t.reference) for t in result.transfers) == [
        ("gift_card_spend", 6_000, SALE),
        ("wallet_payment", 4_000, SALE),
    ]
    with services.database.read() as connection:
        in_entry = connection.execute(
            select(func.count())
            .select_from(transfers)
            .where(transfers.c.entry_id == result.entry_id)
        ).scalar_one()
    assert in_entry == 2
    assert balance(client, merchant, card) == 10_000 - 6_000
    assert wallet_balance(client, merchant, customer["id"], asset="CAD") == 5_000 - 4_000
    (spend,) = [op for op in card_operations(client, merchant, card) if op["kind"] == "spend"]
    assert spend["amount_minor"] == 6_000
    assert spend["entry_id"] == str(result.entry_id)
    assert spend["balance_after_minor"] == 4_000
    assert spend["terminal_id"] == merchant.register_id


def test_when_the_wallet_has_too_little_nothing_of_the_sale_lands(client, merchant, services, card):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 1_000, asset="CAD").status_code == 201
    entries_before = entry_count(services)
    operations_before = card_operations(client, merchant, card)

    with pytest.raises(errors.InsufficientFunds):
        pay_sale(services, merchant, card, customer["id"], from_card=6_000, from_wallet=4_000)

    assert entry_count(services) == entries_before
    assert balance(client, merchant, card) == 10_000
    assert card_operations(client, merchant, card) == operations_before
    assert wallet_balance(client, merchant, customer["id"], asset="CAD") == 1_000
