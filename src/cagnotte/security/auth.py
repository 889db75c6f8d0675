"""Signing in: customers with a one-time code by e-mail, staff with a password.

Attempts are counted by the attempt limiter (security/attempts.py), per
e-mail address whether or not it names anybody: an attempt is reserved before
the secret is checked, so parallel guesses check at most the policy's number.
A staff password is checked with argon2 with no transaction open (on SQLite no
write lock is held meanwhile); the outcome and the session are then one short
write transaction. A customer whose platform account the operator has blocked
signs in no more, and the sessions they hold stop working (customer_blocked).

A customer's code is mailed through the outbox, and asking for one does the
same work whether or not the address is a customer's: a code is drawn and
its hash kept, a mail is written to the outbox, one transaction commits. The
job, not the request, looks the address up and drops the mail of an unknown
one, so neither the answer nor its timing says which addresses are known.

Errors: one_time_code_invalid, locked_out, sign_in_failed, unauthenticated,
customer_blocked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from cagnotte import errors, i18n
from cagnotte.clock import Clock
from cagnotte.db import lookups
from cagnotte.db.engine import Database
from cagnotte.db.lookups import LookupKind
from cagnotte.db.tables import (
    PLATFORM_MERCHANT_ID,
    customers,
    memberships,
    merchants,
    one_time_codes,
    sessions,
    staff,
)
from cagnotte.mail import compose
from cagnotte.outbox import ClaimedMessage, MessageKind, Outbox
from cagnotte.security.attempts import AttemptLimiter, AttemptPolicy, AttemptRefused, subject_key
from cagnotte.security.passwords import verify_password
from cagnotte.security.principals import PLATFORM_ACCOUNT_BLOCKED, CustomerPrincipal, Principal
from cagnotte.security.secrets_ import new_token, random_digits, same_hash, token_hash

ONE_TIME_CODE_LENGTH = 6
ONE_TIME_CODE_LIFETIME = timedelta(minutes=10)
ONE_TIME_CODE_ATTEMPTS_MAX = 5
# Longer than a code lives, so that every code there was when the lock began has
# expired when it ends: the guesses that follow need a new code.
ONE_TIME_CODE_LOCKOUT = timedelta(minutes=15)
# At most this many codes per e-mail address in the window below, against mail bombing.
ONE_TIME_CODES_PER_WINDOW_MAX = 5
ONE_TIME_CODE_WINDOW = timedelta(hours=1)
CUSTOMER_SESSION_LIFETIME = timedelta(hours=2)
STAFF_SESSION_LIFETIME = timedelta(hours=10)
STAFF_FAILED_SIGN_INS_MAX = 5
# Failures older than this no longer count (before the limiter they counted forever).
STAFF_FAILED_SIGN_INS_WINDOW = timedelta(days=1)
STAFF_LOCKOUT_DURATION = timedelta(minutes=30)
SIGN_IN_CODE_MAIL = "customer_sign_in_code"

# The attempt limiter's scopes and policies (security/attempts.py); the subject of
# each is the e-mail address, kept as subject_key(email).
STAFF_SIGN_IN_SCOPE = "staff_sign_in"
STAFF_SIGN_IN_POLICY = AttemptPolicy(
    attempts=STAFF_FAILED_SIGN_INS_MAX,
    window=STAFF_FAILED_SIGN_INS_WINDOW,
    lock=STAFF_LOCKOUT_DURATION,
)
ONE_TIME_CODE_SCOPE = "customer_sign_in_code"
ONE_TIME_CODE_POLICY = AttemptPolicy(
    attempts=ONE_TIME_CODE_ATTEMPTS_MAX, window=ONE_TIME_CODE_LIFETIME, lock=ONE_TIME_CODE_LOCKOUT
)
# How long a sign-in waits for parallel ones still checking theirs (argon2 takes
# a fraction of a second) before it is refused: then it names the real lock.
SIGN_IN_SETTLE = timedelta(seconds=5)
# Codes sent: counted, never failed, so the window alone limits them.
ONE_TIME_CODE_MAIL_SCOPE = "customer_sign_in_code_mail"
ONE_TIME_CODE_MAIL_POLICY = AttemptPolicy(
    attempts=ONE_TIME_CODES_PER_WINDOW_MAX, window=ONE_TIME_CODE_WINDOW, lock=ONE_TIME_CODE_WINDOW
)


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    expires_at: datetime


class AuthService:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        outbox: Outbox,
        mail_from: str,
        *,
        attempts: AttemptLimiter | None = None,
    ) -> None:
        self.database = database
        self.clock = clock
        self.outbox = outbox
        self.mail_from = mail_from
        self.attempts = attempts or AttemptLimiter(database, clock)
        outbox.register(MessageKind(SIGN_IN_CODE_MAIL, compose=_mail_if_known))

    # Customers -----------------------------------------------------------------

    def send_customer_code(self, email: str, locale: str = i18n.DEFAULT_LOCALE) -> None:
        """Mail a one-time code if this e-mail names a customer; the same work either way.

        The code's end is written for `locale` (the browser's, when a page asks),
        in the platform's zone: a customer belongs to no one merchant.
        """
        email = email.strip().lower()
        now = self.clock.now()
        with self.database.transaction() as connection:
            # Counted in the statement that changes the count (parallel requests all
            # count), for every address alike, known or not.
            try:
                self.attempts.reserve(
                    ONE_TIME_CODE_MAIL_SCOPE,
                    subject_key(email),
                    ONE_TIME_CODE_MAIL_POLICY,
                    connection=connection,
                )
            except AttemptRefused:
                return
            code = random_digits(ONE_TIME_CODE_LENGTH)
            connection.execute(
                insert(one_time_codes).values(
                    id=uuid.uuid4(),
                    email=email,
                    code_hash=token_hash(f"{email}:{code}"),
                    attempts=0,
                    expires_at=now + ONE_TIME_CODE_LIFETIME,
                    created_at=now,
                )
            )
            # Whether the address is a customer's is for the job to find out
            # (`_mail_if_known`): the request does not branch on it.
            self.outbox.enqueue(
                connection,
                merchant_id=PLATFORM_MERCHANT_ID,
                kind=SIGN_IN_CODE_MAIL,
                recipient=email,
                now=now,
                mail=compose(
                    self.mail_from,
                    email,
                    "Your Cagnotte sign-in code",
                    f"Your sign-in code is {code}.\n\nIt is valid for "
                    f"{int(ONE_TIME_CODE_LIFETIME.total_seconds() // 60)} minutes, until "
                    f"{_written(locale).moment(now + ONE_TIME_CODE_LIFETIME)}. If you did "
                    "not ask for it, ignore this message.\n",
                ),
            )

    def verify_customer_code(self, email: str, code: str) -> Session:
        """Exchange a fresh one-time code for a session token.

        The newest code of the e-mail is the one that counts. Its single use is
        the UPDATE that marks it used: two right answers at once open one session.
        """
        email = email.strip().lower()
        try:
            attempt = self.attempts.reserve(
                ONE_TIME_CODE_SCOPE, subject_key(email), ONE_TIME_CODE_POLICY, settle=SIGN_IN_SETTLE
            )
        except AttemptRefused:
            raise errors.OneTimeCodeInvalid() from None
        now = self.clock.now()
        with self.database.read() as connection:
            row = connection.execute(
                select(one_time_codes.c.id, one_time_codes.c.code_hash)
                .where(
                    one_time_codes.c.email == email,
                    one_time_codes.c.used_at.is_(None),
                    one_time_codes.c.expires_at > now,
                )
                .order_by(one_time_codes.c.created_at.desc())
                .limit(1)
            ).first()
        if row is not None and same_hash(row.code_hash, token_hash(f"{email}:{code.strip()}")):
            with self.database.transaction() as connection:
                used = connection.execute(
                    update(one_time_codes)
                    .where(one_time_codes.c.id == row.id, one_time_codes.c.used_at.is_(None))
                    .values(used_at=now)
                    .returning(one_time_codes.c.id)
                ).first()
                if used is not None:
                    self.attempts.succeeded(attempt, connection=connection)
                    customer_id = self._customer_for_email(connection, email)
                    return self._open_session(
                        connection, "customer", customer_id, None, CUSTOMER_SESSION_LIFETIME
                    )
        self.attempts.failed(attempt)
        raise errors.OneTimeCodeInvalid()

    def _customer_for_email(self, connection: Any, email: str) -> uuid.UUID:
        row = connection.execute(
            select(customers.c.id, customers.c.status).where(customers.c.email == email)
        ).first()
        if row is not None:
            _require_active(row.status)
            return row.id
        row = connection.execute(
            select(memberships.c.customer_id).where(memberships.c.email == email).limit(1)
        ).first()
        if row is None:
            raise errors.OneTimeCodeInvalid()
        _require_active(
            connection.execute(
                select(customers.c.status).where(customers.c.id == row.customer_id)
            ).scalar_one()
        )
        # The customer proved this e-mail: it becomes their identity's address.
        connection.execute(
            update(customers)
            .where(customers.c.id == row.customer_id, customers.c.email.is_(None))
            .values(email=email)
        )
        return row.customer_id

    def customer_for_token(self, token: str) -> CustomerPrincipal:
        """The signed-in customer; customer_blocked once their platform account is blocked.

        The account's status is read with the session, on every request: a
        block takes effect on the sessions already open, whenever they began.
        """
        with self.database.read() as connection:
            row = connection.execute(
                select(sessions.c.subject_id, sessions.c.expires_at, customers.c.status)
                .join(customers, customers.c.id == sessions.c.subject_id)
                .where(sessions.c.token_hash == token_hash(token), sessions.c.kind == "customer")
            ).first()
        if row is None or row.expires_at <= self.clock.now():
            raise errors.Unauthenticated()
        _require_active(row.status)
        return CustomerPrincipal(customer_id=row.subject_id)

    # Staff ---------------------------------------------------------------------

    def staff_sign_in(self, email: str, password: str) -> Session:
        """A password sign-in; too many failures lock the e-mail for a while.

        An e-mail that names nobody is counted and locked the same way, and
        costs the same argon2 check, so the answers do not tell who exists.
        """
        email = email.strip().lower()
        with self.database.read() as connection:
            row = _active_staff(connection, email)
        try:
            attempt = self.attempts.reserve(
                STAFF_SIGN_IN_SCOPE, subject_key(email), STAFF_SIGN_IN_POLICY, settle=SIGN_IN_SETTLE
            )
        except AttemptRefused as refused:
            raise errors.LockedOut(locked_until=refused.until.isoformat()) from None
        password_hash = row.password_hash if row is not None else None
        if not verify_password(password_hash, password) or row is None:
            self.attempts.failed(attempt)
            raise errors.SignInFailed()
        with self.database.transaction() as connection:
            self.attempts.succeeded(attempt, connection=connection)
            return self._open_session(
                connection, "staff", row.id, row.merchant_id, STAFF_SESSION_LIFETIME
            )

    def staff_for_token(self, token: str) -> Principal:
        row = self._session(token, "staff")
        with self.database.read() as connection:
            member = connection.execute(
                select(staff.c.role, staff.c.active, merchants.c.status)
                .join(merchants, merchants.c.id == staff.c.merchant_id)
                .where(staff.c.merchant_id == row.merchant_id, staff.c.id == row.subject_id)
            ).first()
        # A suspended merchant's staff are shut out like its API keys.
        if member is None or not member.active or member.status != "active":
            raise errors.Unauthenticated()
        return Principal(merchant_id=row.merchant_id, role=member.role, staff_id=row.subject_id)

    # Sessions ------------------------------------------------------------------

    def sign_out(self, token: str) -> None:
        with self.database.transaction() as connection:
            connection.execute(delete(sessions).where(sessions.c.token_hash == token_hash(token)))

    def _open_session(
        self,
        connection: Any,
        kind: str,
        subject_id: uuid.UUID,
        merchant_id: uuid.UUID | None,
        lifetime: timedelta,
    ) -> Session:
        token = new_token("cgs")
        expires_at = self.clock.now() + lifetime
        connection.execute(
            insert(sessions).values(
                token_hash=token_hash(token),
                kind=kind,
                subject_id=subject_id,
                merchant_id=merchant_id,
                expires_at=expires_at,
                created_at=self.clock.now(),
            )
        )
        return Session(token=token, expires_at=expires_at)

    def _session(self, token: str, kind: str) -> Any:
        with self.database.read() as connection:
            row = connection.execute(
                select(sessions).where(sessions.c.token_hash == token_hash(token))
            ).first()
        if row is None or row.kind != kind or row.expires_at <= self.clock.now():
            raise errors.Unauthenticated()
        return row


def _written(locale: str) -> i18n.LocaleFormat:
    """How the platform's own mail writes moments for this locale (its zone: the platform's)."""
    return i18n.LocaleFormat(locale, i18n.PLATFORM_LOCALE.time_zone)


def _require_active(platform_status: str) -> None:
    """A customer signs in, and stays signed in, only while their platform account is active."""
    if platform_status != "active":
        raise errors.CustomerBlocked(PLATFORM_ACCOUNT_BLOCKED)


def _active_staff(connection: Any, email: str) -> Any:
    """The active staff member who signs in with this e-mail, if any."""
    found = lookups.find(connection, LookupKind.STAFF_EMAIL, email)
    if found is None:
        return None
    return connection.execute(
        select(staff.c.merchant_id, staff.c.id, staff.c.password_hash).where(
            staff.c.merchant_id == found[0], staff.c.id == found[1], staff.c.active.is_(True)
        )
    ).first()


def _address_known(connection: Connection, email: str) -> bool:
    """Whether a customer, or a membership at some merchant, has this e-mail address."""
    return (
        connection.execute(select(customers.c.id).where(customers.c.email == email)).first()
        or connection.execute(
            select(memberships.c.customer_id).where(memberships.c.email == email).limit(1)
        ).first()
    ) is not None


def _mail_if_known(connection: Connection, message: ClaimedMessage) -> EmailMessage | None:
    """The job's side of a sign-in code: sent to a known address, dropped for another."""
    return message.stored_mail() if _address_known(connection, message.recipient) else None
