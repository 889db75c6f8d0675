"""PostgreSQL, through a real HTTP server: wrong codes sent at once cannot get around the limits.

Every attempt is reserved (security/attempts.py) before the code is looked up,
so a burst of wrong codes evaluates no more of them than the customer's policy
(5 a day) or the client address's (20 an hour) allows, whatever the
interleaving; the rest are refused without looking, and nothing answers 5xx.
How many codes were looked up is read from the attempts' log (bonus_attempts),
which records each evaluated wrong code.
"""

from __future__ import annotations

import queue
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select

from cagnotte.programs.bonus_codes.tables import bonus_attempts
from cagnotte.security import captcha as captcha_module
from tests.e2e.api.concurrency import all_at_once
from tests.e2e.bonus_codes.conftest import CAPTCHA_ANSWER, sign_in_customer

WRONG_CODE = "WRONGCODE2"
# The client address of every request to the test server.
SERVER_CLIENT_ADDRESS = "127.0.0.1"

# The captchas are issued by the test, not through the route: one address for all.
TEST_ADDRESS = "192.0.2.1"


@pytest.fixture(autouse=True)
def _captcha_quotas_out_of_the_way(monkeypatch):
    """These tests count wrong codes, not captchas: more captchas than a customer's hour."""
    monkeypatch.setattr(captcha_module, "CAPTCHAS_PER_CUSTOMER_MAX", 1_000)
    monkeypatch.setattr(captcha_module, "CAPTCHAS_PER_ADDRESS_MAX", 1_000)


def customer_id_of(services, headers) -> uuid.UUID:
    token = headers["Authorization"].removeprefix("Bearer ")
    return services.auth.customer_for_token(token).customer_id


def wrong_codes_evaluated(services, **where) -> int:
    conditions = [bonus_attempts.c.outcome == "wrong"]
    conditions += [bonus_attempts.c[column] == value for column, value in where.items()]
    with services.database.read() as connection:
        return connection.execute(
            select(func.count()).select_from(bonus_attempts).where(*conditions)
        ).scalar_one()


def redeem_over_http(server_url, services, headers, code) -> httpx.Response:
    captcha_id = services.captchas.issue(customer_id_of(services, headers), TEST_ADDRESS).id
    return httpx.post(
        f"{server_url}/v1/me/bonus-redemptions",
        json={"code": code, "captcha_id": str(captcha_id), "captcha_answer": CAPTCHA_ANSWER},
        headers=headers,
        timeout=60,
    )


def guesses(server_url, attempts: queue.Queue):
    """A request that takes the next (headers, captcha) pair and sends a wrong code with it."""

    def guess(http: httpx.Client) -> httpx.Response:
        headers, captcha_id = attempts.get_nowait()
        return http.post(
            f"{server_url}/v1/me/bonus-redemptions",
            json={"code": WRONG_CODE, "captcha_id": captcha_id, "captcha_answer": CAPTCHA_ANSWER},
            headers=headers,
        )

    return guess


def test_twenty_five_wrong_codes_at_once_evaluate_five_and_then_the_right_code_is_locked_out(
    server_url, client, mailer, merchant, funded_campaign, services
):
    _campaign, codes = funded_campaign
    headers = sign_in_customer(client, mailer, merchant, "guesser@example.com", "+420605555555")
    customer_id = customer_id_of(services, headers)
    attempts: queue.Queue = queue.Queue()
    for _ in range(25):
        attempts.put((headers, str(services.captchas.issue(customer_id, TEST_ADDRESS).id)))

    responses = all_at_once(25, guesses(server_url, attempts))

    assert all(r.status_code < 500 for r in responses), [
        r.text for r in responses if r.status_code >= 500
    ]
    outcomes = Counter(r.json()["code"] for r in responses)
    assert outcomes == {"code_invalid": 5, "locked_out": 20}, outcomes
    assert wrong_codes_evaluated(services, customer_id=customer_id) == 5
    right = redeem_over_http(server_url, services, headers, codes[0])
    assert right.status_code == 423 and right.json()["code"] == "locked_out"
    assert services.bonus_codes.lock_state(customer_id) is not None
    accounts = client.get("/v1/me/accounts", headers=headers).json()["items"]
    assert all(a["balance"]["balance_minor"] == 0 for a in accounts if a["asset_code"] == "CZK")


def test_wrong_codes_at_once_from_one_address_for_many_customers_stop_at_the_address_limit(
    server_url, client, mailer, merchant, funded_campaign, services
):
    _campaign, codes = funded_campaign
    attempts: queue.Queue = queue.Queue()
    for n in range(30):
        headers = sign_in_customer(
            client, mailer, merchant, f"walker{n}@example.com", f"+4206077770{n:02d}"
        )
        attempts.put(
            (
                headers,
                str(services.captchas.issue(customer_id_of(services, headers), TEST_ADDRESS).id),
            )
        )

    responses = all_at_once(30, guesses(server_url, attempts))

    assert all(r.status_code < 500 for r in responses), [
        r.text for r in responses if r.status_code >= 500
    ]
    outcomes = Counter(r.json()["code"] for r in responses)
    assert outcomes == {"code_invalid": 20, "too_many_attempts": 10}, outcomes
    assert wrong_codes_evaluated(services, client_address=SERVER_CLIENT_ADDRESS) == 20
    fresh = sign_in_customer(client, mailer, merchant, "walker99@example.com", "+420607777999")
    refused = redeem_over_http(server_url, services, fresh, codes[0])
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_attempts"
