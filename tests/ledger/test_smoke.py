import uuid
from datetime import timedelta

import pytest

from cagnotte import errors
from cagnotte.db.tables import PLATFORM_MERCHANT_ID
from cagnotte.ledger import AccountSpec, Hold, PostHold, Reverse, Transfer


def test_smoke(ledger, clock):
    m = PLATFORM_MERCHANT_ID
    src = ledger.open_account(m, AccountSpec("CZK", "merchant", m, "issuance"))
    dst = ledger.open_account(
        m, AccountSpec("CZK", "customer", uuid.uuid4(), "wallet", debits_must_not_exceed_credits=True)
    )
    hot = ledger.open_account(m, AccountSpec("CZK", "merchant", m, "settlement", balance_shards=8))
    r = ledger.post_entry(m, [Transfer(src.id, dst.id, 100, "load")], kind="load")
    assert r.balances[dst.id].credit_balance == 100
    with pytest.raises(errors.InsufficientFunds):
        ledger.post_entry(m, [Transfer(dst.id, hot.id, 101, "pay")], kind="pay")
    r = ledger.post_entry(m, [Transfer(dst.id, hot.id, 60, "pay")], kind="pay", idempotency_key="k", request_hash="h")
    r2 = ledger.post_entry(m, [Transfer(dst.id, hot.id, 60, "pay")], kind="pay", idempotency_key="k", request_hash="h")
    assert r2.replayed and r2.entry_id == r.entry_id
    with pytest.raises(errors.IdempotencyKeyReused):
        ledger.post_entry(m, [Transfer(dst.id, hot.id, 60, "pay")], kind="pay", idempotency_key="k", request_hash="x")
    assert ledger.balance(hot).credits_posted == 60
    h = ledger.post_entry(m, [Hold(dst.id, hot.id, 30, "auth", clock.now() + timedelta(minutes=5))], kind="hold")
    assert h.balances[dst.id].available == 10
    ledger.post_entry(m, [PostHold(h.transfers[0].id, 20)], kind="post")
    assert ledger.balance(dst).credit_balance == 20
    with pytest.raises(errors.PendingTransferAlreadyResolved):
        ledger.post_entry(m, [PostHold(h.transfers[0].id, 5)], kind="post")
    ledger.post_entry(m, [Reverse(r.transfers[0].id, 10)], kind="refund")
    assert ledger.balance(dst).credit_balance == 30
    with pytest.raises(errors.ReversalExceedsTransfer):
        ledger.post_entry(m, [Reverse(r.transfers[0].id, 51)], kind="refund")
    page, cursor = ledger.history(dst, limit=2)
    assert len(page) == 2 and cursor
    page2, cursor2 = ledger.history(dst, cursor=cursor, limit=10)
    assert len(page2) == 3 and cursor2 is None
