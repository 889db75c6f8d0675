"""The outbox under faults: SMTP down then up, runners that die, runners in parallel.

Each mail is written in a transaction (as a use case does) and delivered by
`Outbox.deliver_due` (the job) through a fake mailer that can be taken down.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from cagnotte.clock import ManualClock
from cagnotte.db.engine import Database
from cagnotte.db.tables import PLATFORM_MERCHANT_ID
from cagnotte.mail import compose
from cagnotte.outbox import Delivered, MessageKind, MessageState, Outbox, PermanentFailure
from cagnotte.outbox.service import ATTEMPTS_MAX, CLAIM_LEASE, retry_delay
from cagnotte.outbox.tables import outbox_messages

KIND = "test_mail"


class FlakyMailer:
    """A mail server that is down while `down` is set; keeps what it accepted."""

    def __init__(self, pause: float = 0.0) -> None:
        self.down = False
        self.pause = pause
        self.accepted: list[EmailMessage] = []
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        if self.down:
            raise ConnectionRefusedError("SMTP server down")
        if self.pause:
            threading.Event().wait(self.pause)
        with self._lock:
            self.accepted.append(message)


@pytest.fixture
def mailer() -> FlakyMailer:
    return FlakyMailer()


@pytest.fixture
def failures() -> list[MessageState]:
    return []


@pytest.fixture
def outbox(database: Database, clock: ManualClock, mailer: FlakyMailer, failures) -> Outbox:
    outbox = Outbox(database, clock, mailer)
    outbox.register(
        MessageKind(KIND, on_failure=lambda _connection, state, _now: failures.append(state))
    )
    return outbox


def owe(outbox: Outbox, subject: str = "Your code", body: str = "Code: 123456") -> uuid.UUID:
    """Write one mail in a transaction of its own, as a use case would in its work's."""
    with outbox.database.transaction() as connection:
        return outbox.enqueue(
            connection,
            merchant_id=PLATFORM_MERCHANT_ID,
            kind=KIND,
            recipient="jana@example.com",
            now=outbox.clock.now(),
            mail=compose("shop@example.com", "jana@example.com", subject, body),
        )


def row(outbox: Outbox, message_id: uuid.UUID):
    with outbox.database.read() as connection:
        return connection.execute(
            select(outbox_messages).where(outbox_messages.c.id == message_id)
        ).one()


def test_a_mail_owed_while_smtp_is_down_arrives_once_when_it_is_back(outbox, mailer, clock):
    message_id = owe(outbox)
    mailer.down = True
    assert outbox.deliver_due() == Delivered(retried=1)
    first = row(outbox, message_id)
    assert (first.status, first.attempts) == ("pending", 1)
    assert "SMTP server down" in first.last_error and first.body is not None
    assert first.next_attempt_at == clock.now() + timedelta(minutes=1)
    # Not due again before its back-off, which doubles after each failure.
    assert outbox.deliver_due() == Delivered()
    clock.advance(timedelta(minutes=1))
    assert outbox.deliver_due() == Delivered(retried=1)
    assert row(outbox, message_id).next_attempt_at == clock.now() + timedelta(minutes=2)
    mailer.down = False
    clock.advance(timedelta(minutes=1))
    assert outbox.deliver_due() == Delivered()
    clock.advance(timedelta(minutes=1))
    assert outbox.deliver_due() == Delivered(sent=1)
    clock.advance(timedelta(hours=3))
    assert outbox.deliver_due() == Delivered()
    assert [message["Subject"] for message in mailer.accepted] == ["Your code"]
    sent = row(outbox, message_id)
    assert (sent.status, sent.attempts, sent.sent_at) == (
        "sent",
        3,
        clock.now() - timedelta(hours=3),
    )
    # The envelope stays for the record; the body (a secret) is gone.
    assert sent.body is None and sent.recipient == "jana@example.com"
    assert sent.title == "Your code" and sent.last_error is None


def test_a_mail_is_given_up_after_its_attempts_and_the_sender_is_told(
    outbox, mailer, clock, failures, caplog
):
    message_id = owe(outbox)
    mailer.down = True
    for attempt in range(1, ATTEMPTS_MAX):
        assert outbox.deliver_due() == Delivered(retried=1)
        clock.advance(retry_delay(attempt))
    with caplog.at_level(logging.ERROR, logger="cagnotte.outbox"):
        assert outbox.deliver_due() == Delivered(failed=1)
    failed = row(outbox, message_id)
    assert (failed.status, failed.attempts, failed.failed_at) == (
        "failed",
        ATTEMPTS_MAX,
        clock.now(),
    )
    assert failed.body is None and "SMTP server down" in failed.last_error
    assert [state.id for state in failures] == [message_id]
    assert failures[0].status == "failed" and failures[0].attempts == ATTEMPTS_MAX
    assert f"outbox message {message_id}" in caplog.text and "failed for good" in caplog.text
    # Nothing more is tried, even with the server back.
    mailer.down = False
    clock.advance(timedelta(days=1))
    assert outbox.deliver_due() == Delivered() and mailer.accepted == []


def test_the_retries_back_off_exponentially_up_to_an_hour():
    delays = [retry_delay(attempts) for attempts in range(1, ATTEMPTS_MAX)]
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60)]


def test_a_mail_of_work_rolled_back_is_never_sent(outbox, mailer):
    with pytest.raises(RuntimeError), outbox.database.transaction() as connection:
        outbox.enqueue(
            connection,
            merchant_id=PLATFORM_MERCHANT_ID,
            kind=KIND,
            recipient="jana@example.com",
            now=outbox.clock.now(),
            mail=compose("shop@example.com", "jana@example.com", "Never", "Rolled back"),
        )
        raise RuntimeError("the work failed after writing its mail")
    assert outbox.deliver_due() == Delivered() and mailer.accepted == []


def test_the_database_refuses_a_finished_mail_that_keeps_its_body(outbox):
    message_id = owe(outbox)
    with pytest.raises(IntegrityError), outbox.database.transaction() as connection:
        connection.execute(
            update(outbox_messages).where(outbox_messages.c.id == message_id).values(status="sent")
        )


def test_a_mail_its_kind_has_nothing_for_is_dropped_and_one_that_cannot_be_made_fails_at_once(
    outbox, mailer, failures
):
    def nothing(_connection, _message):
        return None

    def gone(_connection, _message):
        raise PermanentFailure("what it was to carry is gone")

    outbox.register(MessageKind("nothing_to_send", compose=nothing))
    outbox.register(MessageKind("gone", compose=gone, on_failure=outbox.kinds[KIND].on_failure))
    ids = {}
    for kind in ("nothing_to_send", "gone"):
        with outbox.database.transaction() as connection:
            ids[kind] = outbox.enqueue(
                connection,
                merchant_id=PLATFORM_MERCHANT_ID,
                kind=kind,
                recipient="jana@example.com",
                now=outbox.clock.now(),
                title=kind,
            )
    assert outbox.deliver_due() == Delivered(failed=1, dropped=1)
    assert mailer.accepted == []
    assert row(outbox, ids["nothing_to_send"]).status == "dropped"
    gone_row = row(outbox, ids["gone"])
    assert (gone_row.status, gone_row.attempts) == ("failed", 1)
    assert gone_row.last_error == "what it was to carry is gone"
    assert [state.id for state in failures] == [ids["gone"]]


def test_a_runner_that_dies_mid_send_leaves_its_claim_to_lapse(outbox, mailer, clock):
    message_id = owe(outbox)
    # A runner claims the mail, then its process dies before it records anything.
    (claimed,) = outbox._claim(10)
    assert claimed.id == message_id
    assert outbox.deliver_due() == Delivered()
    clock.advance(CLAIM_LEASE)
    assert outbox.deliver_due() == Delivered(sent=1)
    assert len(mailer.accepted) == 1
    # Had the first runner only been slow, its late outcome is not recorded over the other's.
    late = Delivered()
    outbox._finish(claimed, "sent", late)
    assert late == Delivered(lost_claims=1)
    assert row(outbox, message_id).attempts == 2


def test_parallel_job_runners_send_each_mail_exactly_once(database_url, clock):
    """Four runners (four worker processes: engines of their own) deliver 100 mails at once."""
    mailer = FlakyMailer(pause=0.005)
    runners = [Outbox(Database(database_url, pool_size=2), clock, mailer) for _ in range(4)]
    for runner in runners:
        runner.register(MessageKind(KIND))
    for number in range(100):
        owe(runners[0], subject=f"mail {number}")
    start = threading.Barrier(len(runners))
    done: list[Delivered] = [Delivered() for _ in runners]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            done[index] = runners[index].deliver_due()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(runners))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert errors == []
        sent = Counter(message["Subject"] for message in mailer.accepted)
        assert sent == Counter({f"mail {number}": 1 for number in range(100)})
        assert sum(result.sent for result in done) == 100
        assert sum(result.lost_claims for result in done) == 0
        # They did run side by side: more than one runner sent some.
        assert sum(1 for result in done if result.sent) > 1
        with runners[0].database.read() as connection:
            statuses = connection.execute(
                select(outbox_messages.c.status, outbox_messages.c.attempts)
            ).all()
        assert Counter(statuses) == Counter({("sent", 1): 100})
    finally:
        for runner in runners:
            runner.database.dispose()
