"""Consent to marketing, per channel, with its history (GDPR, CNIL; the Bloctel rule).

Each change is an event: the channel (`email`, `sms`, `phone`), given or
withdrawn, when, from where (`register`, `customer_page`, `import`,
`back_office`, `api`, `unsubscribe_link`) and the version of the text the
customer agreed to. The membership's flags hold the current state, so that a
segment or a campaign filters on them with an index; the events are the proof.

Phone canvassing is off unless the customer asked to be called back: the
`phone` channel starts withdrawn and only the customer's own request (the
customer page, or a register or back office recording it) gives it.

Every marketing mail carries a one-click unsubscribe link (RFC 8058): a token
signed with a platform key (HMAC-SHA256) naming the membership and the
channel. It does not expire: a mail read a year later still unsubscribes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from cagnotte import errors
from cagnotte.clock import Clock
from cagnotte.crm.tables import consent_events
from cagnotte.db.engine import Database
from cagnotte.db.tables import memberships
from cagnotte.security.platform_keys import platform_key
from cagnotte.security.principals import Principal

CHANNELS = {
    "email": "consent_marketing_email",
    "sms": "consent_marketing_sms",
    "phone": "consent_phone_callback",
}
SOURCES = ("register", "customer_page", "import", "back_office", "api", "unsubscribe_link")
_PREFIX = "cgu1"


def caller_source(caller: Principal) -> str:
    """Where a merchant-side change came from: a register, the back office, or the API."""
    if caller.terminal_id is not None:
        return "register"
    if caller.staff_id is not None:
        return "back_office"
    return "api"


def record_consents(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    changes: dict[str, bool],
    *,
    source: str,
    text_version: str | None,
    now: datetime,
) -> None:
    """Set the membership's flags and keep an event for each channel that changed."""
    assert source in SOURCES and set(changes) <= set(CHANNELS), (source, changes)
    if not changes:
        return
    current = connection.execute(
        select(*(memberships.c[CHANNELS[channel]] for channel in changes)).where(
            memberships.c.merchant_id == merchant_id, memberships.c.id == membership_id
        )
    ).one()
    changed = {
        channel: granted
        for (channel, granted), before in zip(changes.items(), current, strict=True)
        if bool(before) != granted
    }
    if not changed:
        return
    connection.execute(
        update(memberships)
        .where(memberships.c.merchant_id == merchant_id, memberships.c.id == membership_id)
        .values({CHANNELS[channel]: granted for channel, granted in changed.items()})
    )
    connection.execute(
        insert(consent_events),
        [
            {
                "merchant_id": merchant_id,
                "id": uuid.uuid4(),
                "membership_id": membership_id,
                "channel": channel,
                "granted": granted,
                "source": source,
                "text_version": text_version,
                "created_at": now,
            }
            for channel, granted in changed.items()
        ],
    )


class Consents:
    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock

    def change(
        self,
        caller: Principal,
        membership_id: uuid.UUID,
        changes: dict[str, bool],
        *,
        source: str | None,
        text_version: str | None,
    ) -> dict[str, Any]:
        """A merchant records the member's choice (at the register, in the back office)."""
        caller.require("cashier")
        source = source or caller_source(caller)
        if source in ("customer_page", "unsubscribe_link"):
            raise errors.InvalidInput("That source is the customer's own; say where it was given.")
        with self.database.transaction() as connection:
            _require_member(connection, caller.merchant_id, membership_id)
            record_consents(
                connection,
                caller.merchant_id,
                membership_id,
                changes,
                source=source,
                text_version=text_version,
                now=self.clock.now(),
            )
            return _standing(connection, caller.merchant_id, membership_id)

    def of_member(self, caller: Principal, membership_id: uuid.UUID) -> dict[str, Any]:
        caller.require("cashier")
        with self.database.read() as connection:
            _require_member(connection, caller.merchant_id, membership_id)
            return _standing(connection, caller.merchant_id, membership_id)

    def change_own(
        self,
        customer_id: uuid.UUID,
        merchant_id: uuid.UUID,
        changes: dict[str, bool],
        text_version: str | None,
    ) -> dict[str, Any]:
        """The customer's own choice, from the customer page (withdrawal at any time)."""
        with self.database.transaction() as connection:
            membership_id = connection.execute(
                select(memberships.c.id).where(
                    memberships.c.merchant_id == merchant_id,
                    memberships.c.customer_id == customer_id,
                )
            ).scalar()
            if membership_id is None:
                raise errors.NotFound("No such membership.")
            record_consents(
                connection,
                merchant_id,
                membership_id,
                changes,
                source="customer_page",
                text_version=text_version,
                now=self.clock.now(),
            )
            return _standing(connection, merchant_id, membership_id)

    # One-click unsubscribe --------------------------------------------------------------

    def unsubscribe_token(
        self, merchant_id: uuid.UUID, membership_id: uuid.UUID, channel: str = "email"
    ) -> str:
        """The token of a marketing mail's unsubscribe link."""
        payload = merchant_id.bytes + membership_id.bytes + list(CHANNELS).index(channel).to_bytes()
        signature = hmac.new(self._key(), payload, hashlib.sha256).digest()[:16]
        return f"{_PREFIX}.{base64.urlsafe_b64encode(payload + signature).decode().rstrip('=')}"

    def unsubscribe(self, token: str) -> dict[str, Any]:
        """Withdraw the consent a link names (unsubscribe_link_invalid when forged)."""
        merchant_id, membership_id, channel = self.read_unsubscribe_token(token)
        with self.database.transaction() as connection:
            _require_member(connection, merchant_id, membership_id)
            record_consents(
                connection,
                merchant_id,
                membership_id,
                {channel: False},
                source="unsubscribe_link",
                text_version=None,
                now=self.clock.now(),
            )
        return {"merchant_id": merchant_id, "channel": channel, "granted": False}

    def prepare_links(self) -> None:
        """Make sure the links' key exists (it is made, once, in a transaction of its own:
        call this before a transaction that writes links)."""
        self._key()

    def read_unsubscribe_token(self, token: str) -> tuple[uuid.UUID, uuid.UUID, str]:
        """The merchant, member and channel a link names (unsubscribe_link_invalid if not)."""
        prefix, _, body = token.partition(".")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (ValueError, UnicodeEncodeError):
            raise errors.UnsubscribeLinkInvalid() from None
        if prefix != _PREFIX or len(raw) != 49 or raw[32] >= len(CHANNELS):
            raise errors.UnsubscribeLinkInvalid()
        payload, signature = raw[:33], raw[33:]
        expected = hmac.new(self._key(), payload, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(signature, expected):
            raise errors.UnsubscribeLinkInvalid()
        return (
            uuid.UUID(bytes=payload[:16]),
            uuid.UUID(bytes=payload[16:32]),
            list(CHANNELS)[payload[32]],
        )

    def _key(self) -> bytes:
        return platform_key(self.database, self.clock, "unsubscribe_links")


def _require_member(connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID):
    found = connection.execute(
        select(memberships.c.id).where(
            memberships.c.merchant_id == merchant_id, memberships.c.id == membership_id
        )
    ).first()
    if found is None:
        raise errors.NotFound("No such customer.")


def _standing(
    connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID
) -> dict[str, Any]:
    """Each channel's current state with its latest event, and the whole history."""
    history = [
        dict(row)
        for row in connection.execute(
            select(
                consent_events.c.channel,
                consent_events.c.granted,
                consent_events.c.source,
                consent_events.c.text_version,
                consent_events.c.created_at,
            )
            .where(
                consent_events.c.merchant_id == merchant_id,
                consent_events.c.membership_id == membership_id,
            )
            # Changes of one request share their time: then by channel.
            .order_by(consent_events.c.created_at, consent_events.c.channel)
        ).mappings()
    ]
    flags = connection.execute(
        select(*(memberships.c[column] for column in CHANNELS.values())).where(
            memberships.c.merchant_id == merchant_id, memberships.c.id == membership_id
        )
    ).one()
    current = {}
    for channel, granted in zip(CHANNELS, flags, strict=True):
        latest = next((e for e in reversed(history) if e["channel"] == channel), None)
        current[channel] = {
            "granted": bool(granted),
            "since": latest["created_at"] if latest else None,
            "source": latest["source"] if latest else None,
            "text_version": latest["text_version"] if latest else None,
        }
    return {"current": current, "history": history}
