"""E-mail campaigns to a segment: a template, a preview, a test send, a rate-limited send.

A campaign is a subject and a text body, both Jinja2 templates rendered in a
sandbox (a merchant's template may read the fields it is given, nothing
else): `first_name`, `last_name`, `merchant`, `balances` (each program's name
and the member's balance in its units), and `unsubscribe_url`. Every mail
ends with its unsubscribe link and carries the one-click headers (RFC 8058).

Sending happens in the background and survives restarts without sending
anyone twice:

1. `send` fixes the recipients in one transaction: the segment's members now,
   who consent to marketing e-mail and have an address (the others are not
   written down at all: nothing goes to them);
2. the `campaigns` job takes due recipients a batch at a time — at most
   `rate_per_hour` since the send began (a burst of RATE_BURST first) — and
   for each, in one transaction, checks the consent again (one who withdrew
   in the meantime is marked `unsubscribed` and gets nothing), renders the
   mail, writes it to the outbox and marks the recipient `queued` with the
   message's id. Both land or neither: a crash loses nothing and doubles
   nothing, and the next run goes on where this one stopped;
3. the outbox delivers (with its retries); a recipient's status is then its
   message's: `sent` or `failed`.

The report counts recipients by status.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Connection, String, Uuid, func, insert, literal, select, update

from cagnotte import errors
from cagnotte.clock import Clock
from cagnotte.crm.consents import Consents
from cagnotte.crm.segments import Segments
from cagnotte.crm.tables import campaign_recipients, campaigns
from cagnotte.crm.templates import render
from cagnotte.db.engine import Database
from cagnotte.db.tables import memberships, merchants
from cagnotte.db.types import UTCDateTime
from cagnotte.ledger import Ledger
from cagnotte.outbox import MessageKind, Outbox
from cagnotte.outbox.tables import outbox_messages
from cagnotte.programs.loyalty.admin import LoyaltyPrograms, member_account_among
from cagnotte.security.principals import Principal

CAMPAIGN_MAIL = "campaign_mail"
RATE_BURST = 50
BATCH_MAX = 200


class Campaigns:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        ledger: Ledger,
        outbox: Outbox,
        segments: Segments,
        consents: Consents,
        loyalty: LoyaltyPrograms,
        *,
        mail_from: str,
        public_url: str,
    ) -> None:
        self.database = database
        self.clock = clock
        self.ledger = ledger
        self.outbox = outbox
        self.segments = segments
        self.consents = consents
        self.loyalty = loyalty
        self.mail_from = mail_from
        self.public_url = public_url.rstrip("/")
        outbox.register(MessageKind(CAMPAIGN_MAIL))

    # Drafts -------------------------------------------------------------------------------

    def create(
        self,
        caller: Principal,
        *,
        name: str,
        segment_id: uuid.UUID,
        subject: str,
        body: str,
        rate_per_hour: int,
    ) -> dict[str, Any]:
        caller.require("manager")
        self.segments.get(caller, segment_id)  # not_found when not the merchant's
        self._check_templates(caller.merchant_id, subject, body)
        now = self.clock.now()
        campaign_id = uuid.uuid4()
        with self.database.transaction() as connection:
            connection.execute(
                insert(campaigns).values(
                    merchant_id=caller.merchant_id,
                    id=campaign_id,
                    name=name,
                    segment_id=segment_id,
                    subject=subject,
                    body=body,
                    rate_per_hour=rate_per_hour,
                    status="draft",
                    created_at=now,
                )
            )
            return self._report(connection, caller.merchant_id, campaign_id)

    def get(self, caller: Principal, campaign_id: uuid.UUID) -> dict[str, Any]:
        caller.require("manager")
        with self.database.read() as connection:
            return self._report(connection, caller.merchant_id, campaign_id)

    def preview(
        self, caller: Principal, campaign_id: uuid.UUID, membership_id: uuid.UUID
    ) -> tuple[str, str]:
        """The subject and body one member would get (nothing is sent)."""
        caller.require("manager")
        self.consents.prepare_links()
        with self.database.read() as connection:
            campaign = self._campaign(connection, caller.merchant_id, campaign_id)
            member = self._member(connection, caller.merchant_id, membership_id)
            subject, body, _token = self._member_mail(connection, campaign, member)
            return subject, body

    def test_send(
        self, caller: Principal, campaign_id: uuid.UUID, membership_id: uuid.UUID, email: str
    ) -> uuid.UUID:
        """One mail as this member would get it, to the merchant's own address."""
        caller.require("manager")
        self.consents.prepare_links()
        with self.database.transaction() as connection:
            campaign = self._campaign(connection, caller.merchant_id, campaign_id)
            member = self._member(connection, caller.merchant_id, membership_id)
            subject, body, _token = self._member_mail(connection, campaign, member)
            return self.outbox.enqueue(
                connection,
                merchant_id=caller.merchant_id,
                kind=CAMPAIGN_MAIL,
                recipient=email,
                now=self.clock.now(),
                mail=self._mail(email, f"[test] {subject}", body, None),
                reference_id=campaign_id,
            )

    def send(self, caller: Principal, campaign_id: uuid.UUID) -> dict[str, Any]:
        """Fix the recipients (consenting members of the segment with an address), and go."""
        caller.require("manager")
        now = self.clock.now()
        with self.database.transaction() as connection:
            campaign = self._campaign(connection, caller.merchant_id, campaign_id, lock=True)
            if campaign["status"] != "draft":
                raise errors.Conflict(f"The campaign is {campaign['status']} already.")
            segment = self.segments.get(caller, campaign["segment_id"])
            members = (
                self.segments.members_select(caller.merchant_id, segment["definition"])
                .add_columns(
                    literal(caller.merchant_id, Uuid).label("merchant_id"),
                    literal(campaign_id, Uuid).label("campaign_id"),
                    literal("pending", String).label("status"),
                    literal(now, UTCDateTime()).label("updated_at"),
                )
                .where(
                    memberships.c.consent_marketing_email.is_(True),
                    memberships.c.email.isnot(None),
                )
            )
            connection.execute(
                insert(campaign_recipients).from_select(
                    ["membership_id", "merchant_id", "campaign_id", "status", "updated_at"],
                    members,
                )
            )
            connection.execute(
                update(campaigns)
                .where(campaigns.c.merchant_id == caller.merchant_id, campaigns.c.id == campaign_id)
                .values(status="sending", started_at=now)
            )
            return self._report(connection, caller.merchant_id, campaign_id)

    # The job ------------------------------------------------------------------------------

    def send_due(self) -> int:
        """Queue what the sending campaigns' rates allow now; returns how many were queued."""
        now = self.clock.now()
        self.consents.prepare_links()
        with self.database.read() as connection:
            sending = (
                connection.execute(select(campaigns).where(campaigns.c.status == "sending"))
                .mappings()
                .all()
            )
        queued = 0
        for campaign in sending:
            queued += self._send_batch(dict(campaign), now)
        return queued

    def _send_batch(self, campaign: dict[str, Any], now: datetime) -> int:
        merchant_id, campaign_id = campaign["merchant_id"], campaign["id"]
        elapsed = (now - campaign["started_at"]).total_seconds()
        allowed = RATE_BURST + int(campaign["rate_per_hour"] * elapsed / 3600)
        with self.database.transaction() as connection:
            # The campaign's row is locked: two job runners take turns on it.
            self._campaign(connection, merchant_id, campaign_id, lock=True)
            done = connection.execute(
                select(func.count()).where(
                    campaign_recipients.c.merchant_id == merchant_id,
                    campaign_recipients.c.campaign_id == campaign_id,
                    campaign_recipients.c.status != "pending",
                )
            ).scalar_one()
            room = min(BATCH_MAX, allowed - done)
            if room <= 0:
                return 0
            due = (
                connection.execute(
                    select(campaign_recipients.c.membership_id)
                    .where(
                        campaign_recipients.c.merchant_id == merchant_id,
                        campaign_recipients.c.campaign_id == campaign_id,
                        campaign_recipients.c.status == "pending",
                    )
                    .order_by(campaign_recipients.c.membership_id)
                    .limit(room)
                )
                .scalars()
                .all()
            )
            queued = 0
            merchant_name = _merchant_name(connection, merchant_id)
            for membership_id in due:
                member = self._member(connection, merchant_id, membership_id)
                changes: dict[str, Any] = {"updated_at": now}
                if not member["consent_marketing_email"] or not member["email"]:
                    changes["status"] = "unsubscribed"
                else:
                    token = self.consents.unsubscribe_token(merchant_id, membership_id)
                    subject, body = self._render(connection, campaign, member, merchant_name, token)
                    changes["outbox_id"] = self.outbox.enqueue(
                        connection,
                        merchant_id=merchant_id,
                        kind=CAMPAIGN_MAIL,
                        recipient=member["email"],
                        now=now,
                        mail=self._mail(member["email"], subject, body, token),
                        reference_id=campaign_id,
                    )
                    changes["status"] = "queued"
                    queued += 1
                connection.execute(
                    update(campaign_recipients)
                    .where(
                        campaign_recipients.c.merchant_id == merchant_id,
                        campaign_recipients.c.campaign_id == campaign_id,
                        campaign_recipients.c.membership_id == membership_id,
                    )
                    .values(**changes)
                )
            if len(due) < room:  # nobody left waiting: the campaign is sent
                connection.execute(
                    update(campaigns)
                    .where(campaigns.c.merchant_id == merchant_id, campaigns.c.id == campaign_id)
                    .values(status="sent", finished_at=now)
                )
            return queued

    # Pieces -------------------------------------------------------------------------------

    def _render(
        self,
        connection: Connection,
        campaign: dict[str, Any],
        member: dict[str, Any],
        merchant_name: str,
        token: str,
        extra: dict[str, Any] | None = None,
    ) -> tuple[str, str]:
        """The member's subject and body; `token` is their unsubscribe link's, `extra`
        more fields for the templates."""
        context = {
            "first_name": member["first_name"] or "",
            "last_name": member["last_name"] or "",
            "merchant": merchant_name,
            "balances": self._balances(connection, campaign["merchant_id"], member["id"]),
            "unsubscribe_url": self._unsubscribe_url(token),
            **(extra or {}),
        }
        subject = render(campaign["subject"], context).strip().replace("\n", " ")
        body = render(campaign["body"], context).rstrip()
        if context["unsubscribe_url"] not in body:
            body += f"\n\n--\nUnsubscribe: {context['unsubscribe_url']}\n"
        return subject, body

    def compose(
        self,
        connection: Connection,
        templates: dict[str, Any],
        member: dict[str, Any],
        merchant_name: str,
        extra: dict[str, Any],
    ) -> EmailMessage:
        """A member's marketing mail of other templates than a campaign's (`templates`:
        `merchant_id`, `subject`, `body`), rendered as a campaign's are, with `extra`
        fields, its unsubscribe link and the one-click headers."""
        token = self.consents.unsubscribe_token(templates["merchant_id"], member["id"])
        subject, body = self._render(connection, templates, member, merchant_name, token, extra)
        return self._mail(member["email"], subject, body, token)

    def _member_mail(
        self, connection: Connection, campaign: dict[str, Any], member: dict[str, Any]
    ) -> tuple[str, str, str]:
        """A member's subject, body and unsubscribe token (a preview or a test)."""
        token = self.consents.unsubscribe_token(campaign["merchant_id"], member["id"])
        name = _merchant_name(connection, campaign["merchant_id"])
        return (*self._render(connection, campaign, member, name, token), token)

    def _balances(
        self, connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID
    ) -> dict[str, int]:
        held = self.ledger.find_accounts(merchant_id, "membership", membership_id)
        balances = {}
        for program in self.loyalty.programs_for_checks(merchant_id):
            account = member_account_among(held, program, membership_id)
            balances[program.name] = (
                self.ledger.balance(account, connection).credit_balance if account else 0
            )
        return balances

    def _unsubscribe_url(self, token: str) -> str:
        return f"{self.public_url}/u/{token}"

    def _mail(self, to: str, subject: str, body: str, token: str | None) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.mail_from
        mail["To"] = to
        mail["Subject"] = subject
        if token is not None:
            mail["List-Unsubscribe"] = f"<{self.public_url}/v1/unsubscribe/{token}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail.set_content(body)
        return mail

    def _check_templates(self, merchant_id: uuid.UUID, subject: str, body: str) -> None:
        """Render both once with sample fields: a mistake is told now, not at send."""
        sample = {
            "first_name": "Jana",
            "last_name": "Nováková",
            "merchant": "Café",
            "balances": {p.name: 0 for p in self.loyalty.programs_for_checks(merchant_id)},
            "unsubscribe_url": "https://example.invalid/u/sample",
        }
        render(subject, sample)
        render(body, sample)

    def _campaign(
        self,
        connection: Connection,
        merchant_id: uuid.UUID,
        campaign_id: uuid.UUID,
        *,
        lock: bool = False,
    ) -> dict[str, Any]:
        query = select(campaigns).where(
            campaigns.c.merchant_id == merchant_id, campaigns.c.id == campaign_id
        )
        row = connection.execute(query.with_for_update() if lock else query).mappings().first()
        if row is None:
            raise errors.NotFound("No such campaign.")
        return dict(row)

    def _member(
        self, connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID
    ) -> dict[str, Any]:
        row = (
            connection.execute(
                select(memberships).where(
                    memberships.c.merchant_id == merchant_id, memberships.c.id == membership_id
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise errors.NotFound("No such customer.")
        return dict(row)

    def _report(
        self, connection: Connection, merchant_id: uuid.UUID, campaign_id: uuid.UUID
    ) -> dict[str, Any]:
        campaign = self._campaign(connection, merchant_id, campaign_id)
        counts = {"pending": 0, "queued": 0, "sent": 0, "failed": 0, "unsubscribed": 0}
        for status, delivery, count in connection.execute(
            select(campaign_recipients.c.status, outbox_messages.c.status, func.count())
            .select_from(
                campaign_recipients.outerjoin(
                    outbox_messages,
                    (outbox_messages.c.merchant_id == campaign_recipients.c.merchant_id)
                    & (outbox_messages.c.id == campaign_recipients.c.outbox_id),
                )
            )
            .where(
                campaign_recipients.c.merchant_id == merchant_id,
                campaign_recipients.c.campaign_id == campaign_id,
            )
            .group_by(campaign_recipients.c.status, outbox_messages.c.status)
        ):
            if status == "queued":  # what became of its mail
                status = {"sent": "sent", "failed": "failed", "dropped": "failed"}.get(
                    delivery, "queued"
                )
            counts[status] += int(count)
        return {**campaign, "recipients": counts}


def _merchant_name(connection: Connection, merchant_id: uuid.UUID) -> str:
    return connection.execute(
        select(merchants.c.name).where(merchants.c.id == merchant_id)
    ).scalar_one()
