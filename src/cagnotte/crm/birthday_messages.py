"""The birthday message: one e-mail on a member's birthday, once a year (issue 11 §3).

A merchant turns it on in its settings (`PATCH /v1/merchants/{id}`,
`birthday_message`: `enabled`, `subject`, `body`). The templates are Jinja2 in
the campaigns' sandbox and are rendered as a campaign's are (crm/campaigns.py),
with one field more: `reward`, the birthday reward the loyalty rules credited
that day, written out ("100 POINTS (Café points)"; several joined by "and"; empty
when there is none), and `rewards`, the same as a list of `program`, `units`,
`text`. A merchant that writes no template gets `DEFAULT_SUBJECT` and
`DEFAULT_BODY`.

- The day is the merchant's local day, and a 29 February birthday is 28
  February in other years: the birthday job's own test (checkout/birthdays.py
  `born_on`).
- Who: active members (neither they nor their platform account blocked), not
  erased, who consent to marketing e-mail and have an address. Checked when the
  members are listed and again in the transaction that writes the mail.
- Once a year: the row (merchant, membership, year) of `birthday_messages` is
  claimed (`INSERT … ON CONFLICT DO NOTHING`) in the transaction that writes the
  mail to the outbox. A rerun, or a second runner at the same moment, claims
  nothing and writes nothing; a crash before the commit leaves neither.
- The reward: the `birthday_messages` job runs after the `birthdays` job and,
  under that job's lock, credits what is still due before it writes a message
  (jobs.py), so a message never goes before the reward it tells. It reads the
  reward from what the birthday job posted (`loyalty_birthday_credits`). A
  credit that could not be posted (the job logs it and retries) is not waited
  for: the message says what was credited.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, select
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from cagnotte import errors
from cagnotte.checkout.birthdays import born_on
from cagnotte.checkout.tables import loyalty_birthday_credits
from cagnotte.clock import Clock
from cagnotte.crm.campaigns import Campaigns
from cagnotte.crm.consents import Consents
from cagnotte.crm.tables import birthday_messages
from cagnotte.db.engine import Database
from cagnotte.db.tables import assets, customers, memberships, merchants
from cagnotte.i18n import LocaleFormat, MerchantLocale
from cagnotte.outbox import MessageKind, Outbox
from cagnotte.programs.loyalty.tables import loyalty_programs

log = logging.getLogger("cagnotte.crm.birthday_messages")

BIRTHDAY_MAIL = "birthday_mail"
# Members listed per query (the next batch starts after the last one's id).
BIRTHDAY_MESSAGE_BATCH_MAX = 500
DEFAULT_SUBJECT = "Happy birthday{% if first_name %}, {{ first_name }}{% endif %}!"
DEFAULT_BODY = """{% if first_name %}Dear {{ first_name }},{% else %}Hello,{% endif %}

Everyone at {{ merchant }} wishes you a very happy birthday!
{% if reward %}
To celebrate, we have added {{ reward }} to your account.
{% endif %}
See you soon,
{{ merchant }}
"""


class BirthdayMessages:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        outbox: Outbox,
        campaigns: Campaigns,
        consents: Consents,
    ) -> None:
        self.database = database
        self.clock = clock
        self.outbox = outbox
        self.campaigns = campaigns
        self.consents = consents
        outbox.register(MessageKind(BIRTHDAY_MAIL))

    def send_due(self) -> int:
        """Write today's birthday messages not written yet (the job); how many were."""
        now = self.clock.now()
        self.consents.prepare_links()  # the links' key, made outside the transactions
        with self.database.read() as connection:
            senders = (
                connection.execute(
                    select(merchants).where(
                        merchants.c.birthday_message_enabled.is_(True),
                        merchants.c.status == "active",
                    )
                )
                .mappings()
                .all()
            )
        queued = 0
        for merchant in senders:
            place = MerchantLocale(merchant["country"], merchant["locale"], merchant["time_zone"])
            today = place.local_date(now)
            after: uuid.UUID | None = None
            while True:
                due = self._members_due(merchant["id"], today, after)
                for membership_id in due:
                    queued += self._send(dict(merchant), place.format, membership_id, today, now)
                if len(due) < BIRTHDAY_MESSAGE_BATCH_MAX:
                    break
                after = due[-1]
        return queued

    def _members_due(
        self, merchant_id: uuid.UUID, today: date, after: uuid.UUID | None
    ) -> list[uuid.UUID]:
        """The merchant's members to wish a happy birthday today, not written to this year."""
        query = (
            _eligible(merchant_id, today)
            .where(~_sent_this_year(today.year))
            .order_by(memberships.c.id)
            .limit(BIRTHDAY_MESSAGE_BATCH_MAX)
        )
        if after is not None:
            query = query.where(memberships.c.id > after)
        with self.database.read() as connection:
            return list(connection.execute(query).scalars())

    def _send(
        self,
        merchant: dict[str, Any],
        written: LocaleFormat,
        membership_id: uuid.UUID,
        today: date,
        now: datetime,
    ) -> int:
        """One member's message: the year's row and the outbox mail, one transaction."""
        try:
            with self.database.transaction() as connection:
                member = (
                    connection.execute(
                        select(memberships).where(
                            memberships.c.id.in_(
                                _eligible(merchant["id"], today).where(
                                    memberships.c.id == membership_id
                                )
                            ),
                            memberships.c.merchant_id == merchant["id"],
                        )
                    )
                    .mappings()
                    .first()
                )
                if member is None:
                    return 0  # withdrew, was blocked or erased meanwhile
                if not _claim(connection, merchant["id"], membership_id, today.year, now):
                    return 0  # written this year already (a rerun, another runner)
                rewards = _rewards(connection, merchant["id"], membership_id, today.year, written)
                mail = self.campaigns.compose(
                    connection,
                    {
                        "merchant_id": merchant["id"],
                        "subject": merchant["birthday_message_subject"] or DEFAULT_SUBJECT,
                        "body": merchant["birthday_message_body"] or DEFAULT_BODY,
                    },
                    dict(member),
                    merchant["name"],
                    {"reward": " and ".join(r["text"] for r in rewards), "rewards": rewards},
                )
                outbox_id = self.outbox.enqueue(
                    connection,
                    merchant_id=merchant["id"],
                    kind=BIRTHDAY_MAIL,
                    recipient=member["email"],
                    now=now,
                    mail=mail,
                    reference_id=membership_id,
                )
                connection.execute(
                    birthday_messages.update()
                    .where(
                        birthday_messages.c.merchant_id == merchant["id"],
                        birthday_messages.c.membership_id == membership_id,
                        birthday_messages.c.year == today.year,
                    )
                    .values(outbox_id=outbox_id)
                )
                return 1
        except errors.DomainError as error:
            # A template that no longer renders (a program renamed under it): nothing
            # is written, and the next run tries again.
            log.warning("a birthday message waits: %s (%s)", error.code, membership_id)
            return 0


def _eligible(merchant_id: uuid.UUID, today: date):
    """The ids of the merchant's members born today whom a marketing mail may reach."""
    return (
        select(memberships.c.id)
        .join(customers, customers.c.id == memberships.c.customer_id)
        .where(
            memberships.c.merchant_id == merchant_id,
            memberships.c.status == "active",
            customers.c.status == "active",
            memberships.c.erased_at.is_(None),
            memberships.c.consent_marketing_email.is_(True),
            memberships.c.email.is_not(None),
            memberships.c.birth_date.is_not(None),
            born_on(memberships.c.birth_date, today),
        )
    )


def _sent_this_year(year: int):
    return exists().where(
        birthday_messages.c.merchant_id == memberships.c.merchant_id,
        birthday_messages.c.membership_id == memberships.c.id,
        birthday_messages.c.year == year,
    )


def _claim(
    connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID, year: int, now
) -> bool:
    """Claim the member's message of `year`; False when it is someone else's already.

    On PostgreSQL a second claim at the same moment waits for the first one's
    transaction and then finds its row: one of them writes the mail."""
    insert_ = (
        pg_dialect.insert if connection.dialect.name == "postgresql" else sqlite_dialect.insert
    )
    claimed = connection.execute(
        insert_(birthday_messages)
        .values(
            merchant_id=merchant_id,
            membership_id=membership_id,
            year=year,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(birthday_messages.c.year)
    ).first()
    return claimed is not None


def _rewards(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    year: int,
    written: LocaleFormat,
) -> list[dict[str, Any]]:
    """What the birthday job credited the member this year, program by program."""
    rows = connection.execute(
        select(
            loyalty_programs.c.name,
            loyalty_birthday_credits.c.units,
            loyalty_programs.c.asset_code,
            assets.c.scale,
        )
        .select_from(
            loyalty_birthday_credits.join(
                loyalty_programs,
                and_(
                    loyalty_programs.c.merchant_id == loyalty_birthday_credits.c.merchant_id,
                    loyalty_programs.c.id == loyalty_birthday_credits.c.program_id,
                ),
            ).join(assets, assets.c.code == loyalty_programs.c.asset_code)
        )
        .where(
            loyalty_birthday_credits.c.merchant_id == merchant_id,
            loyalty_birthday_credits.c.membership_id == membership_id,
            loyalty_birthday_credits.c.year == year,
            loyalty_birthday_credits.c.units > 0,
        )
        .order_by(loyalty_programs.c.name)
    ).all()
    return [
        {
            "program": row.name,
            "units": int(row.units),
            "text": f"{written.money(int(row.units), row.asset_code, row.scale)} ({row.name})",
        }
        for row in rows
    ]
