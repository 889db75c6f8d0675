"""Sign-in lockouts that parallel requests cannot get around, and argon2 outside the write lock.

Staff passwords and customer sign-in codes count their attempts with the
attempt limiter (security/attempts.py): an attempt is reserved before the
secret is checked, so a burst of parallel guesses checks at most the policy's
number of them, whatever the interleaving. The bursts go through a real
uvicorn server on PostgreSQL (tests/e2e/api/concurrency.py).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import Counter
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from cagnotte.db.tables import one_time_codes, sessions
from cagnotte.security import auth
from tests.e2e.api.concurrency import all_at_once
from tests.e2e.api.conftest import enrol
from tests.e2e.web.conftest import STAFF_PASSWORD, add_staff, csrf_of, sign_in_staff

CASHIER = "eva@cafe-bleu.example"
CUSTOMER = "jana@example.com"
_CODE = re.compile(r"code is (\d{6})")


class Counting:
    """Wraps a function and counts its calls (from any thread)."""

    def __init__(self, function):
        self.function = function
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        with self._lock:
            self.calls += 1
        return self.function(*args, **kwargs)


# Staff --------------------------------------------------------------------------------


def _sign_in_form(server: str) -> tuple[str, str]:
    """The pre-session cookie and the CSRF token of the staff sign-in form."""
    page = httpx.get(f"{server}/back-office/sign-in")
    return page.cookies["cagnotte_sign_in_csrf"], csrf_of(page.text)


def _staff_burst(server: str, email: str, password: str, count: int) -> list[httpx.Response]:
    cookie, token = _sign_in_form(server)

    def sign_in(http: httpx.Client) -> httpx.Response:
        return http.post(
            f"{server}/back-office/sign-in",
            data={"email": email, "password": password, "csrf_token": token},
            headers={"Cookie": f"cagnotte_sign_in_csrf={cookie}"},
        )

    return all_at_once(count, sign_in)


def test_parallel_wrong_passwords_check_at_most_five_and_then_the_right_one_is_locked_out(
    server_url, client, merchant, monkeypatch
):
    add_staff(client, merchant, CASHIER)
    checks = Counting(auth.verify_password)
    monkeypatch.setattr(auth, "verify_password", checks)
    first = _staff_burst(server_url, CASHIER, "not the password", 20)
    statuses = Counter(response.status_code for response in first)
    assert checks.calls <= auth.STAFF_FAILED_SIGN_INS_MAX, statuses
    assert statuses == {400: checks.calls, 423: 20 - checks.calls}, statuses
    second = _staff_burst(server_url, CASHIER, "not the password either", 40)
    assert Counter(response.status_code for response in second) == {423: 40}
    assert checks.calls <= auth.STAFF_FAILED_SIGN_INS_MAX
    right = _staff_burst(server_url, CASHIER, STAFF_PASSWORD, 1)[0]
    assert right.status_code == 423 and "locked until" in right.text
    assert "cagnotte_staff_session" not in right.cookies


def test_an_unknown_email_gets_the_same_answers_and_the_same_lock_as_a_known_one(
    client, merchant, clock
):
    add_staff(client, merchant, CASHIER)
    known = [sign_in_staff(client, CASHIER, "not the password") for _ in range(6)]
    unknown = [sign_in_staff(client, "nobody@cafe-bleu.example", "not it") for _ in range(6)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [400] * 5 + [423]
    assert "locked until 5 Jan 2026, 09:30 UTC" in known[-1].text
    assert "locked until 5 Jan 2026, 09:30 UTC" in unknown[-1].text
    clock.advance(auth.STAFF_LOCKOUT_DURATION)
    assert sign_in_staff(client, CASHIER).url.path == "/back-office"


def test_a_right_password_starts_the_count_again(client, merchant):
    add_staff(client, merchant, CASHIER)
    for _ in range(4):
        assert sign_in_staff(client, CASHIER, "not the password").status_code == 400
    assert sign_in_staff(client, CASHIER).url.path == "/back-office"
    for _ in range(4):
        assert sign_in_staff(client, CASHIER, "not the password").status_code == 400
    assert sign_in_staff(client, CASHIER).url.path == "/back-office"


def test_the_staff_list_shows_a_locked_account_as_locked(client, merchant, clock):
    add_staff(client, merchant, CASHIER)
    for _ in range(5):
        sign_in_staff(client, CASHIER, "not the password")
    (member,) = [
        s
        for s in client.get("/v1/staff", headers=merchant.owner).json()["items"]
        if s["email"] == CASHIER
    ]
    locked_until = datetime.fromisoformat(member["locked_until"])
    assert locked_until == clock.now() + auth.STAFF_LOCKOUT_DURATION


@pytest.fixture
def write_lock_probe(database_url):
    """A function that tells whether another connection holds SQLite's write lock now."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's one write lock")
    path = database_url.removeprefix("sqlite:///")

    def write_lock_is_held() -> bool:
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            assert "locked" in str(error), error
            return True
        finally:
            probe.close()
        return False

    return write_lock_is_held


def test_on_sqlite_argon2_runs_with_no_write_transaction_open(
    client, merchant, write_lock_probe, monkeypatch
):
    add_staff(client, merchant, CASHIER)
    held: list[bool] = []

    def verify_password(password_hash, password):
        held.append(write_lock_probe())
        return original(password_hash, password)

    original = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", verify_password)
    assert sign_in_staff(client, CASHIER, "not the password").status_code == 400
    assert sign_in_staff(client, "nobody@cafe-bleu.example", "not it").status_code == 400
    assert sign_in_staff(client, CASHIER).url.path == "/back-office"
    assert held == [False, False, False]


# Customers ----------------------------------------------------------------------------


def _request_code(http, base: str, email: str = CUSTOMER) -> httpx.Response:
    return http.post(f"{base}/v1/customer-sign-in/codes", json={"email": email})


def _try_code(http, base: str, code: str, email: str = CUSTOMER) -> httpx.Response:
    return http.post(f"{base}/v1/customer-sign-in/sessions", json={"email": email, "code": code})


def _newest_code(mailer, email: str = CUSTOMER) -> str:
    message = next(m for m in reversed(mailer.sent) if m["To"] == email)
    return _CODE.search(message.get_content()).group(1)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_sixty_parallel_wrong_codes_check_at_most_five(
    server_url, client, merchant, mailer, clock, monkeypatch
):
    enrol(client, merchant, email=CUSTOMER)
    assert _request_code(client, "").status_code == 202
    code = _newest_code(mailer)
    checks = Counting(auth.same_hash)
    monkeypatch.setattr(auth, "same_hash", checks)
    responses = all_at_once(60, lambda http: _try_code(http, server_url, _wrong(code)))
    assert Counter(r.status_code for r in responses) == {401: 60}
    assert {r.json()["code"] for r in responses} == {"one_time_code_invalid"}
    assert checks.calls <= auth.ONE_TIME_CODE_ATTEMPTS_MAX
    # The right code is refused too while the e-mail is locked …
    assert _try_code(client, "", code).status_code == 401
    # … and once the lock is over, that code has expired: a new one opens a session.
    clock.advance(auth.ONE_TIME_CODE_LOCKOUT)
    assert _try_code(client, "", code).status_code == 401
    assert _request_code(client, "").status_code == 202
    assert _try_code(client, "", _newest_code(mailer)).status_code == 201


def test_a_right_code_sent_twenty_times_at_once_opens_one_session(
    server_url, client, merchant, mailer, services
):
    enrol(client, merchant, email=CUSTOMER)
    assert _request_code(client, "").status_code == 202
    code = _newest_code(mailer)
    responses = all_at_once(20, lambda http: _try_code(http, server_url, code))
    assert Counter(r.status_code for r in responses) == {201: 1, 401: 19}
    with services.database.read() as connection:
        opened = connection.execute(
            select(func.count()).select_from(sessions).where(sessions.c.kind == "customer")
        ).scalar_one()
    assert opened == 1


def test_wrong_codes_are_counted_per_email_across_new_codes(client, merchant, mailer):
    enrol(client, merchant, email=CUSTOMER)
    for _ in range(auth.ONE_TIME_CODE_ATTEMPTS_MAX):
        assert _request_code(client, "").status_code == 202
        assert _try_code(client, "", _wrong(_newest_code(mailer))).status_code == 401
    # A fresh code does not buy fresh guesses.
    assert _request_code(client, "").status_code == 202
    assert _try_code(client, "", _newest_code(mailer)).status_code == 401


def test_twenty_parallel_code_requests_mail_at_most_five_codes(
    server_url, client, merchant, mailer, services
):
    enrol(client, merchant, email=CUSTOMER)
    responses = all_at_once(20, lambda http: _request_code(http, server_url))
    assert Counter(r.status_code for r in responses) == {202: 20}
    with services.database.read() as connection:
        codes = connection.execute(
            select(func.count())
            .select_from(one_time_codes)
            .where(one_time_codes.c.email == CUSTOMER)
        ).scalar_one()
    assert codes == auth.ONE_TIME_CODES_PER_WINDOW_MAX
    assert len([m for m in mailer.sent if m["To"] == CUSTOMER]) == codes


def test_a_sixth_code_within_the_hour_is_not_sent_and_the_next_hour_it_is(
    client, merchant, mailer, clock
):
    enrol(client, merchant, email=CUSTOMER)
    for _ in range(6):
        assert _request_code(client, "").status_code == 202
    assert len(mailer.sent) == auth.ONE_TIME_CODES_PER_WINDOW_MAX
    clock.advance(timedelta(hours=1))
    assert _request_code(client, "").status_code == 202
    assert len(mailer.sent) == auth.ONE_TIME_CODES_PER_WINDOW_MAX + 1
