"""On PostgreSQL, concurrent spends on one card never take more than it holds."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.e2e.gift_cards.conftest import balance, spend


def test_concurrent_spends_on_one_card_never_overspend(postgres_url, client, merchant, card):
    # The card holds 10,000: at most 13 spends of 750 can land, whatever the interleaving.
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: spend(client, merchant, card, 750), range(20)))
    landed = [r for r in results if r.status_code == 201]
    refused = [r for r in results if r.status_code != 201]
    assert len(landed) == 13
    assert {r.json()["code"] for r in refused} == {"insufficient_funds"}
    assert balance(client, merchant, card) == 10_000 - 13 * 750
    balances_after = sorted(r.json()["balance_after_minor"] for r in landed)
    assert balances_after == sorted(10_000 - 750 * n for n in range(1, 14))
