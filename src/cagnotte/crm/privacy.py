"""Personal data (GDPR, CNIL): export everything held on a customer, and erase it.

Export: a membership's profile and consents, its accounts with their balances
and transfers, its recorded checks with their lines, and the gift cards
registered to it, as JSON. The merchant exports one of its members on request;
a signed-in customer exports every membership of theirs.

Erasure keeps the books and forgets the person:
- the membership keeps its id, which its ledger accounts, transfers, lots and
  checks go on naming (a pseudonym), and loses its phone, names, e-mail, birth
  date, address and marketing consents (`erased_at` says when);
- the platform identity (customers) is erased too when no other merchant's
  membership still uses it: its phone is cleared and its e-mail replaced by a
  pseudonym that names nobody (a row needs one or the other), so neither the
  phone nor the e-mail finds it any more; its pending sign-in codes and its sessions go;
- balances, history and statistics stay exactly as they were: nothing of the
  ledger is written;
- an audit entry records who erased which membership, with no personal data;
- the record of the information notice given at enrolment (`notice_given_at`,
  `notice_version`) stays: it proves a duty of ours, it says nothing of the person.

Erasing twice is harmless: the second time finds nothing left to erase.
Inactive members (no check and no change for `retention_years`) are erased by
the retention job when the setting is given.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.checkout.tables import check_lines, checks
from cagnotte.clock import Clock
from cagnotte.crm.tables import information_notices
from cagnotte.db.engine import Database
from cagnotte.db.tables import customers, memberships, one_time_codes, sessions, transfers
from cagnotte.ledger import Ledger
from cagnotte.programs.gift_cards.tables import gift_cards
from cagnotte.security.principals import Principal

PERSONAL_FIELDS = ("phone", "first_name", "last_name", "email", "birth_date", "address")
# The most transfers and checks an export holds per membership (the newest).
EXPORT_ROWS_MAX = 10_000
# Erased by the retention job per run, at most (the next run goes on).
RETENTION_BATCH = 500


def pseudonymous_email(customer_id: uuid.UUID) -> str:
    """An address that names nobody (RFC 2606's .invalid), unique per identity."""
    return f"erased-{customer_id.hex}@erased.invalid"


class PersonalData:
    def __init__(self, database: Database, clock: Clock, ledger: Ledger) -> None:
        self.database = database
        self.clock = clock
        self.ledger = ledger

    # Export ---------------------------------------------------------------------------

    def export_membership(self, caller: Principal, membership_id: uuid.UUID) -> dict[str, Any]:
        caller.require("manager")
        with self.database.read() as connection:
            return self._export(connection, caller.merchant_id, membership_id)

    def export_customer(self, customer_id: uuid.UUID) -> dict[str, Any]:
        """Everything held on a signed-in customer: the identity and every membership."""
        with self.database.read() as connection:
            identity = (
                connection.execute(
                    select(
                        customers.c.id, customers.c.phone, customers.c.email, customers.c.created_at
                    ).where(customers.c.id == customer_id)
                )
                .mappings()
                .one()
            )
            owned = connection.execute(
                select(memberships.c.merchant_id, memberships.c.id).where(
                    memberships.c.customer_id == customer_id
                )
            ).all()
            return {
                "identity": dict(identity),
                "memberships": [self._export(connection, row.merchant_id, row.id) for row in owned],
            }

    def _export(
        self, connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID
    ) -> dict[str, Any]:
        membership = (
            connection.execute(
                select(memberships).where(
                    memberships.c.merchant_id == merchant_id, memberships.c.id == membership_id
                )
            )
            .mappings()
            .first()
        )
        if membership is None:
            raise errors.NotFound("No such customer.")
        profile = {k: v for k, v in dict(membership).items() if k != "search_name"}
        notice = connection.execute(
            select(information_notices.c.text).where(
                information_notices.c.merchant_id == merchant_id,
                information_notices.c.version == membership["notice_version"],
            )
        ).scalar()
        held = self.ledger.find_accounts(merchant_id, "membership", membership_id)
        account_views = []
        for account in held:
            balance = self.ledger.balance(account, connection)
            moves = connection.execute(
                select(
                    transfers.c.id,
                    transfers.c.created_at,
                    transfers.c.code,
                    transfers.c.kind,
                    transfers.c.amount,
                    transfers.c.debit_account_id,
                    transfers.c.credit_account_id,
                )
                .where(
                    transfers.c.merchant_id == merchant_id,
                    or_(
                        transfers.c.debit_account_id == account.id,
                        transfers.c.credit_account_id == account.id,
                    ),
                )
                .order_by(transfers.c.created_at.desc(), transfers.c.id)
                .limit(EXPORT_ROWS_MAX)
            ).mappings()
            account_views.append(
                {
                    "id": account.id,
                    "asset_code": account.asset_code,
                    "purpose": account.purpose,
                    "credit_balance": balance.credit_balance,
                    "available": balance.available,
                    "transfers": [
                        {
                            "id": m["id"],
                            "at": m["created_at"],
                            "code": m["code"],
                            "kind": m["kind"],
                            # From the customer's side: + came in, − went out.
                            "amount": m["amount"]
                            if m["credit_account_id"] == account.id
                            else -m["amount"],
                        }
                        for m in moves
                    ],
                }
            )
        recorded = [
            dict(row)
            for row in connection.execute(
                select(checks)
                .where(checks.c.merchant_id == merchant_id, checks.c.membership_id == membership_id)
                .order_by(checks.c.occurred_at.desc())
                .limit(EXPORT_ROWS_MAX)
            ).mappings()
        ]
        lines: dict[uuid.UUID, list[dict[str, Any]]] = {}
        if recorded:
            for row in connection.execute(
                select(check_lines).where(
                    check_lines.c.merchant_id == merchant_id,
                    check_lines.c.check_id.in_([c["id"] for c in recorded]),
                )
            ).mappings():
                lines.setdefault(row["check_id"], []).append(
                    {k: v for k, v in dict(row).items() if k not in ("merchant_id", "check_id")}
                )
        cards = connection.execute(
            select(gift_cards.c.id, gift_cards.c.number_last4, gift_cards.c.state).where(
                gift_cards.c.merchant_id == merchant_id,
                gift_cards.c.membership_id == membership_id,
            )
        ).mappings()
        return {
            "merchant_id": merchant_id,
            "membership": profile,
            "accounts": account_views,
            "checks": [{**check, "lines": lines.get(check["id"], [])} for check in recorded],
            "gift_cards": [dict(card) for card in cards],
            # The information notice given at enrolment, as it was worded then.
            "notice": None
            if notice is None
            else {
                "version": membership["notice_version"],
                "given_at": membership["notice_given_at"],
                "text": notice,
            },
        }

    # Erasure --------------------------------------------------------------------------

    def erase_membership(self, caller: Principal, membership_id: uuid.UUID) -> datetime:
        """The merchant erases one of its members (on request); returns when it was done."""
        caller.require("manager")
        with self.database.transaction() as connection:
            return self._erase(connection, caller.merchant_id, membership_id, caller.actor)

    def erase_customer(self, customer_id: uuid.UUID) -> datetime:
        """A signed-in customer erases themselves: every membership, and the identity."""
        with self.database.transaction() as connection:
            owned = connection.execute(
                select(memberships.c.merchant_id, memberships.c.id).where(
                    memberships.c.customer_id == customer_id
                )
            ).all()
            now = self.clock.now()
            for row in owned:
                self._erase(connection, row.merchant_id, row.id, f"customer:{customer_id}")
            self._erase_identity(connection, customer_id, now)
            return now

    def erase_inactive(self, retention_years: int) -> int:
        """The retention job: members with no check and no change for N years, erased."""
        before = self.clock.now() - timedelta(days=round(365.25 * retention_years))
        last_check = (
            select(func.max(checks.c.occurred_at))
            .where(
                checks.c.merchant_id == memberships.c.merchant_id,
                checks.c.membership_id == memberships.c.id,
            )
            .scalar_subquery()
        )
        with self.database.read() as connection:
            idle = connection.execute(
                select(memberships.c.merchant_id, memberships.c.id)
                .where(
                    memberships.c.erased_at.is_(None),
                    memberships.c.updated_at < before,
                    func.coalesce(last_check, memberships.c.created_at) < before,
                )
                .limit(RETENTION_BATCH)
            ).all()
        for row in idle:
            with self.database.transaction() as connection:
                self._erase(connection, row.merchant_id, row.id, "retention")
        return len(idle)

    def _erase(
        self, connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID, actor: str
    ) -> datetime:
        now = self.clock.now()
        row = connection.execute(
            select(memberships.c.customer_id, memberships.c.erased_at)
            .where(memberships.c.merchant_id == merchant_id, memberships.c.id == membership_id)
            .with_for_update()
        ).first()
        if row is None:
            raise errors.NotFound("No such customer.")
        if row.erased_at is not None:
            return row.erased_at
        # `notice_given_at` and `notice_version` stay: they record that we told the
        # member how their data are processed (our duty), not anything about them.
        connection.execute(
            update(memberships)
            .where(memberships.c.merchant_id == merchant_id, memberships.c.id == membership_id)
            .values(
                **dict.fromkeys(PERSONAL_FIELDS),
                search_name="",
                consent_marketing_email=False,
                consent_marketing_sms=False,
                erased_at=now,
                updated_at=now,
            )
        )
        still_used = connection.execute(
            select(func.count()).where(
                memberships.c.customer_id == row.customer_id, memberships.c.erased_at.is_(None)
            )
        ).scalar_one()
        if not still_used:
            self._erase_identity(connection, row.customer_id, now)
        record_audit(connection, merchant_id, actor, "customer.erased", membership_id, {}, now)
        return now

    def _erase_identity(
        self, connection: Connection, customer_id: uuid.UUID, now: datetime
    ) -> None:
        identity = connection.execute(
            select(customers.c.email, customers.c.erased_at)
            .where(customers.c.id == customer_id)
            .with_for_update()
        ).first()
        if identity is None or identity.erased_at is not None:
            return
        if identity.email:
            connection.execute(
                delete(one_time_codes).where(one_time_codes.c.email == identity.email)
            )
        # Signed out everywhere: nobody is signed in as a person who is no more.
        connection.execute(
            delete(sessions).where(
                sessions.c.kind == "customer", sessions.c.subject_id == customer_id
            )
        )
        connection.execute(
            update(customers)
            .where(customers.c.id == customer_id)
            .values(phone=None, email=pseudonymous_email(customer_id), erased_at=now)
        )
