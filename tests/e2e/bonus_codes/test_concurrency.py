"""PostgreSQL: the same code redeemed in parallel is credited exactly once."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from cagnotte import errors
from cagnotte.db.tables import transfers
from tests.e2e.bonus_codes.conftest import CAPTCHA_ANSWER, sign_in_customer


def test_parallel_redemptions_of_one_code_credit_exactly_once(
    postgres_url, client, mailer, merchant, funded_campaign, services
):
    _campaign, codes = funded_campaign
    customer_ids = []
    for n in range(8):
        headers = sign_in_customer(
            client, mailer, merchant, f"racer{n}@example.com", f"+42060444444{n}"
        )
        customer_ids.append(
            services.auth.customer_for_token(
                headers["Authorization"].removeprefix("Bearer ")
            ).customer_id
        )
    captchas = [
        services.captchas.issue(customer_id, f"10.0.0.{index}").id
        for index, customer_id in enumerate(customer_ids)
    ]
    barrier = threading.Barrier(len(customer_ids))

    def attempt(index: int) -> str:
        barrier.wait()
        try:
            services.bonus_codes.redeem(
                customer_ids[index],
                code=codes[0],
                captcha_id=captchas[index],
                captcha_answer=CAPTCHA_ANSWER,
                client_address=f"10.0.0.{index}",
            )
            return "credited"
        except errors.DomainError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=len(customer_ids)) as pool:
        outcomes = list(pool.map(attempt, range(len(customer_ids))))
    assert outcomes.count("credited") == 1
    assert set(outcomes) == {"credited", "code_invalid"}
    with services.database.read() as connection:
        credited = connection.execute(
            select(func.count()).select_from(transfers).where(transfers.c.code == "bonus_code")
        ).scalar()
    assert credited == 1
    balances = [
        sum(
            services.ledger.balance(account).credit_balance
            for account in services.ledger.find_accounts(uuid.UUID(int=0), "customer", customer_id)
        )
        for customer_id in customer_ids
    ]
    assert sorted(balances) == [0] * 7 + [20_000]


def test_parallel_wrong_codes_lock_the_customer_without_an_error(
    postgres_url, client, mailer, merchant, funded_campaign, services
):
    headers = sign_in_customer(client, mailer, merchant, "guesser@example.com", "+420605555555")
    customer_id = services.auth.customer_for_token(
        headers["Authorization"].removeprefix("Bearer ")
    ).customer_id

    def attempt(index: int, barrier: threading.Barrier | None = None) -> str:
        captcha_id = services.captchas.issue(customer_id, f"10.0.1.{index}").id
        if barrier is not None:
            barrier.wait()
        try:
            services.bonus_codes.redeem(
                customer_id,
                code="WRONGCODE2",
                captcha_id=captcha_id,
                captcha_answer=CAPTCHA_ANSWER,
                client_address=f"10.0.1.{index}",
            )
            return "credited"
        except errors.DomainError as error:
            return error.code

    assert [attempt(index) for index in range(4)] == ["code_invalid"] * 4
    # The fifth and later wrong codes arrive together: each may be the one that
    # locks, and the lock is written once whoever comes second.
    barrier = threading.Barrier(8)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda index: attempt(index, barrier), range(4, 12)))
    assert "code_invalid" in outcomes and set(outcomes) <= {"code_invalid", "locked_out"}
    assert services.bonus_codes.lock_state(customer_id) is not None
