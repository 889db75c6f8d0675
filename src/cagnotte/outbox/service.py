"""The transactional outbox: mail written with the work it tells about, sent by the jobs.

A use case that owes someone a mail (an e-card's number and PIN, a campaign's
codes, a sign-in code, an alert) does not send it: it calls `Outbox.enqueue`
with its own connection, so the message is written in the same transaction as
the work — both land, or neither. No request waits for SMTP, and a process that
dies after the commit strands nothing: the message waits in `outbox_messages`.

The job (`Outbox.deliver_due`, from `jobs.run_due_jobs`) delivers what is due:

1. it **claims** a few due messages in one short transaction — an
   `UPDATE … WHERE (merchant_id, id) IN (SELECT … FOR UPDATE SKIP LOCKED)
   RETURNING`, which counts the attempt, marks the rows with a claim id and
   moves their next attempt past a lease. Two job runners (two worker
   processes) therefore never take the same message: the second skips the
   rows the first holds, and once the first commits they are no longer due.
   On SQLite, one writer at a time gives the same;
2. it composes and sends each message **outside any write transaction**;
3. it records the outcome under its claim, in another short transaction:
   sent (the body is wiped, the envelope kept), or tried again later after an
   exponential back-off, or — after ATTEMPTS_MAX attempts, or at once for a
   message no retry can help (`PermanentFailure`) — failed (the body is wiped
   too). A message's kind then tells its sender (an audit entry for a
   merchant's e-card or codes; a log line always).

A runner that dies mid-send leaves its claim to lapse: after CLAIM_LEASE the
message is due again and is sent once more. That is the one case of a mail
sent twice, and it cannot be told apart from a send that never happened.

What a body may hold is a secret (a card's PIN, a sign-in code), so the body
lives only while the message is pending: a CHECK constraint refuses a sent,
failed or dropped message that still has one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, tuple_, update

from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.pages import FIRST_PAGE, Order, Page, PageRequest, fetch_page
from cagnotte.mail import Mailer
from cagnotte.outbox.tables import outbox_messages

log = logging.getLogger("cagnotte.outbox")

# A message is given up after this many attempts (about two hours with the delays below).
ATTEMPTS_MAX = 8
# The wait after the first failed attempt, doubled after each further one, up to the most.
RETRY_DELAY_FIRST = timedelta(minutes=1)
RETRY_DELAY_MAX = timedelta(hours=1)
# How long a claimed message is left to its runner before another may take it:
# far longer than a batch of sends can take (SMTP gives up on a server after 30 s).
CLAIM_LEASE = timedelta(minutes=10)
CLAIM_BATCH = 10
# At most this many messages per run of the job, so that a run ends.
MESSAGES_PER_RUN_MAX = 1_000
# A list of messages (a campaign's or an e-card's mails): newest first.
MESSAGE_ORDER = Order(
    "messages", (outbox_messages.c.created_at, outbox_messages.c.id), descending=True
)
LAST_ERROR_LENGTH_MAX = 500


class PermanentFailure(Exception):
    """A message that no further attempt can deliver (what it was to carry is gone)."""


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """A due message a runner has claimed: what it needs to compose and send it."""

    merchant_id: uuid.UUID
    id: uuid.UUID
    kind: str
    reference_id: uuid.UUID | None
    recipient: str
    payload: Mapping[str, Any] | None
    body: bytes | None
    attempts: int
    claim_id: uuid.UUID

    def stored_mail(self) -> EmailMessage:
        """The mail as the use case wrote it."""
        assert self.body is not None, f"a {self.kind} message without a body"
        message = message_from_bytes(self.body, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass(frozen=True, slots=True)
class MessageState:
    """What became of one message: its envelope and its state, never its body."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    kind: str
    reference_id: uuid.UUID | None
    recipient: str
    title: str | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, row: RowMapping) -> MessageState:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        if row["status"] != "pending":
            values["next_attempt_at"] = None
        return cls(**values)


# What the job sends for a claimed message: a mail (or, for a kind with a sender
# of its own, what that sender takes), or None to drop it unsent. It reads in its
# own read-only transaction; it raises PermanentFailure when the message can never
# be composed.
Composer = Callable[[Connection, ClaimedMessage], Any]
# How a kind's composed message leaves, outside any transaction (a webhook's POST);
# it raises to have the message tried again. Without one, the mailer sends it.
Sender = Callable[[Any], None]
# What a kind does when its message finally fails, in the transaction that marks it.
FailureNotice = Callable[[Connection, MessageState, datetime], None]


def stored_mail(_connection: Connection, message: ClaimedMessage) -> EmailMessage:
    """The composer of most kinds: the mail as it was written."""
    return message.stored_mail()


@dataclass(frozen=True, slots=True)
class MessageKind:
    """A kind of message: how the job composes it, and whom it tells when it fails."""

    name: str
    compose: Composer = stored_mail
    on_failure: FailureNotice | None = None
    send: Sender | None = None


@dataclass(slots=True)
class Delivered:
    """What one run of the job did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    # Outcomes whose claim had lapsed and been taken by another runner.
    lost_claims: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.dropped + self.lost_claims


def retry_delay(attempts: int) -> timedelta:
    """The wait before the next attempt after `attempts` failed ones: doubling, capped."""
    assert attempts >= 1
    return min(RETRY_DELAY_FIRST * 2 ** (attempts - 1), RETRY_DELAY_MAX)


@dataclass
class Outbox:
    """Messages written in the work's transaction and delivered by the jobs, with retries."""

    database: Database
    clock: Clock
    mailer: Mailer
    attempts_max: int = ATTEMPTS_MAX
    kinds: dict[str, MessageKind] = field(default_factory=dict)

    def register(self, kind: MessageKind) -> None:
        """Say how a kind is delivered (each package registers its own at start-up)."""
        assert kind.name not in self.kinds, f"{kind.name} is registered already"
        self.kinds[kind.name] = kind

    # Writing, in the caller's transaction ------------------------------------------

    def enqueue(
        self,
        connection: Connection,
        *,
        merchant_id: uuid.UUID,
        kind: str,
        recipient: str,
        now: datetime,
        mail: EmailMessage | None = None,
        title: str | None = None,
        reference_id: uuid.UUID | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> uuid.UUID:
        """Write a message in the caller's transaction; the job sends it once it commits.

        `mail` is stored as it is and sent as it is; without one, the kind's
        composer makes the mail at delivery (from `payload` and the database).
        """
        assert kind in self.kinds, f"{kind} is not a registered kind of message"
        message_id = uuid.uuid4()
        connection.execute(
            insert(outbox_messages).values(
                merchant_id=merchant_id,
                id=message_id,
                kind=kind,
                reference_id=reference_id,
                recipient=recipient,
                title=title if title is not None else (mail["Subject"] if mail else None),
                payload=dict(payload) if payload is not None else None,
                body=mail.as_bytes() if mail is not None else None,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        return message_id

    # Reading ---------------------------------------------------------------------

    def messages_about(
        self,
        merchant_id: uuid.UUID,
        kind: str,
        reference_id: uuid.UUID,
        page: PageRequest = FIRST_PAGE,
    ) -> Page[MessageState]:
        """The messages of one kind about one object of a merchant, newest first."""
        query = select(outbox_messages).where(
            outbox_messages.c.merchant_id == merchant_id,
            outbox_messages.c.kind == kind,
            outbox_messages.c.reference_id == reference_id,
        )
        with self.database.read() as connection:
            return fetch_page(connection, query, MESSAGE_ORDER, page).map(MessageState.of)

    # Delivering (the job) ------------------------------------------------------------

    def deliver_due(self, *, limit: int = MESSAGES_PER_RUN_MAX) -> Delivered:
        """Send what is due, a few claimed at a time, until nothing is due or `limit`."""
        done = Delivered()
        while done.handled < limit:
            claimed = self._claim(min(CLAIM_BATCH, limit - done.handled))
            if not claimed:
                break
            for message in claimed:
                self._deliver(message, done)
        return done

    def _claim(self, count: int) -> list[ClaimedMessage]:
        """Take up to `count` due messages for this runner, counting an attempt of each."""
        now = self.clock.now()
        claim_id = uuid.uuid4()
        table = outbox_messages
        with self.database.transaction() as connection:
            due = (
                select(table.c.merchant_id, table.c.id)
                .where(table.c.status == "pending", table.c.next_attempt_at <= now)
                .order_by(table.c.next_attempt_at, table.c.id)
                .limit(count)
            )
            if self.database.is_postgresql:
                # Rows another runner is claiming now are skipped, not waited for.
                due = due.with_for_update(skip_locked=True)
            rows = connection.execute(
                update(table)
                .where(tuple_(table.c.merchant_id, table.c.id).in_(due))
                .values(
                    attempts=table.c.attempts + 1,
                    claim_id=claim_id,
                    next_attempt_at=now + CLAIM_LEASE,
                )
                .returning(
                    table.c.merchant_id,
                    table.c.id,
                    table.c.kind,
                    table.c.reference_id,
                    table.c.recipient,
                    table.c.payload,
                    table.c.body,
                    table.c.attempts,
                    table.c.claim_id,
                )
            ).mappings()
            return [ClaimedMessage(**row) for row in rows]

    def _deliver(self, message: ClaimedMessage, done: Delivered) -> None:
        kind = self.kinds.get(message.kind)
        if kind is None:
            # Written by a newer version of the code than this runner's: leave it to that one.
            log.warning("outbox message %s of unknown kind %s left", message.id, message.kind)
            self._retry_later(message, f"unknown kind {message.kind}", done, give_up=False)
            return
        try:
            with self.database.read() as connection:
                mail = kind.compose(connection, message)
            if mail is not None:
                (kind.send or self.mailer.send)(mail)
        except PermanentFailure as error:
            self._retry_later(message, str(error) or "cannot be delivered", done, give_up=True)
            return
        except Exception as error:  # SMTP down, refused, timed out: tried again later
            # The error's class only: an SMTP refusal's text names the recipient.
            log.warning(
                "outbox message %s (%s), attempt %d, failed: %s",
                message.id,
                message.kind,
                message.attempts,
                type(error).__name__,
            )
            self._retry_later(message, _error_text(error), done, give_up=False)
            return
        self._finish(message, "sent" if mail is not None else "dropped", done)

    def _finish(self, message: ClaimedMessage, status: str, done: Delivered) -> None:
        now = self.clock.now()
        with self.database.transaction() as connection:
            recorded = self._record(
                connection,
                message,
                status=status,
                body=None,
                last_error=None,
                sent_at=now if status == "sent" else None,
            )
        if not recorded:
            done.lost_claims += 1
        elif status == "sent":
            done.sent += 1
        else:
            done.dropped += 1

    def _retry_later(
        self, message: ClaimedMessage, error: str, done: Delivered, *, give_up: bool
    ) -> None:
        """Try again after the back-off; or, with no attempt left, mark it failed and tell."""
        now = self.clock.now()
        failed = give_up or message.attempts >= self.attempts_max
        with self.database.transaction() as connection:
            if failed:
                recorded = self._record(
                    connection, message, status="failed", body=None, last_error=error, failed_at=now
                )
                if recorded:
                    self._tell_failure(connection, message, now)
            else:
                recorded = self._record(
                    connection,
                    message,
                    next_attempt_at=now + retry_delay(message.attempts),
                    last_error=error,
                )
        if not recorded:
            done.lost_claims += 1
        elif failed:
            done.failed += 1
        else:
            done.retried += 1

    @staticmethod
    def _record(connection: Connection, message: ClaimedMessage, **values: Any) -> bool:
        """Write an outcome under this runner's claim; False if the claim was lost meanwhile."""
        if "last_error" in values and values["last_error"] is not None:
            values["last_error"] = values["last_error"][:LAST_ERROR_LENGTH_MAX]
        result = connection.execute(
            update(outbox_messages)
            .where(
                outbox_messages.c.merchant_id == message.merchant_id,
                outbox_messages.c.id == message.id,
                outbox_messages.c.claim_id == message.claim_id,
                outbox_messages.c.status == "pending",
            )
            .values(claim_id=None, **values)
        )
        return result.rowcount == 1

    def _tell_failure(self, connection: Connection, message: ClaimedMessage, now: datetime) -> None:
        row = (
            connection.execute(
                select(outbox_messages).where(
                    outbox_messages.c.merchant_id == message.merchant_id,
                    outbox_messages.c.id == message.id,
                )
            )
            .mappings()
            .one()
        )
        state = MessageState.of(row)
        log.error(
            "outbox message %s (%s, about %s, merchant %s) failed for good after %d attempts: %s",
            state.id,
            state.kind,
            state.reference_id,
            state.merchant_id,
            state.attempts,
            # Its class: the whole text (kept in last_error) may name the recipient.
            (state.last_error or "").partition(":")[0],
        )
        kind = self.kinds.get(message.kind)
        if kind is not None and kind.on_failure is not None:
            kind.on_failure(connection, state, now)


def _error_text(error: Exception) -> str:
    text = f"{type(error).__name__}: {error}"
    return text[:LAST_ERROR_LENGTH_MAX]
