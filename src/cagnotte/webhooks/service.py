"""Webhooks: a merchant's systems told what happened, without polling.

A merchant (owner or manager) registers endpoints: a URL, the event types it
wants (or "*") and a signing secret, shown once when the endpoint is made or
its secret rotated. The secret is kept as it is, not hashed (the job must sign
with it) and not sealed: sealing needs a platform key that lives apart from the
database, which the settings do not have yet; until they do, whoever reads the
database can forge this merchant's webhooks, and so can rotate the secret.

A value-moving use case calls `emit` with its own connection, inside its unit
of work: one `webhook_events` row, and one outbox message of kind "webhook" per
active endpoint that wants the event — written with the work, so a work that
rolls back tells nobody, and a process that dies after the commit strands
nothing. The outbox's job delivers them (claim with SKIP LOCKED, back-off,
give-up: outbox/service.py): `WebhookService.compose` builds the request in a
read-only transaction, `WebhookService.send` POSTs it with httpx outside any
write transaction, logs the attempt in `webhook_attempts`, and raises on
anything but a 2xx so the outbox tries again later. Every delivery of an event
— its retries and its manual re-sends — carries the event's id as
`webhook-id`; the body is rebuilt from the event row, byte for byte the same.

SSRF: only http(s) URLs; in production only https, and never to a loopback,
private, link-local or reserved address (checked when the endpoint is saved,
and again before every POST, since a name may resolve elsewhere later).

Errors: forbidden, not_found, invalid_input, webhook_url_invalid,
webhook_event_unknown, webhook_endpoint_inactive.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, RowMapping, Select, delete, insert, select, update

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.pages import FIRST_PAGE, Order, Page, PageRequest, fetch_page
from cagnotte.outbox import ClaimedMessage, MessageKind, Outbox, PermanentFailure
from cagnotte.outbox.tables import outbox_messages
from cagnotte.security.principals import Principal
from cagnotte.webhooks import signing
from cagnotte.webhooks.tables import webhook_attempts, webhook_endpoints, webhook_events

log = logging.getLogger("cagnotte.webhooks")

KIND = "webhook"
CONFIGURING_ROLE = "manager"
# Every event type a merchant may subscribe to ("*" is all of them).
EVENT_TYPES = (
    "wallet.payment",
    "wallet.top_up",
    "wallet.refund",
    "gift_card.operation",
    "check.committed",
    "check.refunded",
    "bonus_code.redeemed",
    "campaign.funded",
    "campaign.settled",
    "alert.raised",
)
ALL_EVENTS = "*"
URL_LENGTH_MAX = 2000
# A receiver that does not answer within this is retried later: the job must go on.
DELIVERY_TIMEOUT_SECONDS = 10.0
ERROR_LENGTH_MAX = 500
# How long a process trusts its knowledge of whether a merchant has endpoints
# (the wallet's one-statement payment skips the event when it has none).
SUBSCRIBED_CACHE_SECONDS = 1.0


def emit(
    connection: Connection,
    merchant_id: uuid.UUID,
    event_type: str,
    data: Mapping[str, Any],
    *,
    now: datetime,
) -> uuid.UUID | None:
    """Write an event and its deliveries in the caller's transaction; its id, or None.

    Nothing is written when no active endpoint of the merchant wants the event.
    `data` must be JSON (ids and amounts as the API shows them), never a secret.
    """
    assert event_type in EVENT_TYPES, f"{event_type} is not an event type"
    endpoints = [
        row
        for row in connection.execute(
            select(webhook_endpoints.c.id, webhook_endpoints.c.url, webhook_endpoints.c.events)
            .where(webhook_endpoints.c.merchant_id == merchant_id, webhook_endpoints.c.active)
            .order_by(webhook_endpoints.c.id)
        ).mappings()
        if ALL_EVENTS in row["events"] or event_type in row["events"]
    ]
    if not endpoints:
        return None
    event_id = uuid.uuid4()
    connection.execute(
        insert(webhook_events).values(
            merchant_id=merchant_id, id=event_id, type=event_type, data=dict(data), created_at=now
        )
    )
    for endpoint in endpoints:
        _enqueue_delivery(connection, merchant_id, endpoint["id"], endpoint["url"], event_id, now)
    return event_id


def _enqueue_delivery(
    connection: Connection,
    merchant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    url: str,
    event_id: uuid.UUID,
    now: datetime,
) -> uuid.UUID:
    """One outbox message: the delivery of one event to one endpoint.

    Written straight into the outbox's table (rather than through
    `Outbox.enqueue`) so that any use case can emit with its connection alone;
    the kind is registered by `WebhookService.register`.
    """
    message_id = uuid.uuid4()
    connection.execute(
        insert(outbox_messages).values(
            merchant_id=merchant_id,
            id=message_id,
            kind=KIND,
            reference_id=endpoint_id,
            recipient=url[:500],
            title=None,
            payload={"event_id": str(event_id), "endpoint_id": str(endpoint_id)},
            body=None,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return message_id


def _delivery_query(merchant_id: uuid.UUID, endpoint_id: uuid.UUID) -> Select[Any]:
    """The deliveries to an endpoint: its messages in the outbox."""
    return select(outbox_messages).where(
        outbox_messages.c.merchant_id == merchant_id,
        outbox_messages.c.kind == KIND,
        outbox_messages.c.reference_id == endpoint_id,
    )


def event_body(event: RowMapping) -> bytes:
    """The JSON an event is delivered as: the same bytes on every delivery of it."""
    document = {
        "id": str(event["id"]),
        "type": event["type"],
        "timestamp": event["created_at"].isoformat(),
        "data": event["data"],
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A merchant's webhook endpoint, without its secret."""

    id: uuid.UUID
    url: str
    events: tuple[str, ...]
    active: bool
    description: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: RowMapping) -> Endpoint:
        return cls(
            id=row["id"],
            url=row["url"],
            events=tuple(row["events"]),
            active=row["active"],
            description=row["description"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP attempt of a delivery, as the log keeps it."""

    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    attempted_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """The delivery of one event to one endpoint: where it stands and its attempts."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: tuple[Attempt, ...]
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What the job POSTs for one claimed delivery."""

    merchant_id: uuid.UUID
    message_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    attempt: int
    url: str
    headers: Mapping[str, str]
    body: bytes


class WebhookService:
    """Endpoints configured by managers; deliveries composed and sent for the outbox."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        development: bool,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.database = database
        self.clock = clock
        self.development = development
        self._transport = transport
        self._subscribed: dict[uuid.UUID, tuple[bool, float]] = {}
        self._subscribed_lock = threading.Lock()

    def register(self, outbox: Outbox) -> None:
        """Tell the outbox how a webhook delivery is composed and sent."""
        outbox.register(MessageKind(KIND, compose=self.compose, send=self.send))

    # Endpoints -------------------------------------------------------------------

    def create_endpoint(
        self,
        caller: Principal,
        *,
        url: str,
        events: Sequence[str],
        description: str | None = None,
    ) -> tuple[Endpoint, str]:
        """A new active endpoint and its signing secret (shown this once)."""
        caller.require(CONFIGURING_ROLE)
        self._check_url(url)
        wanted = _checked_events(events)
        secret = signing.new_secret()
        now = self.clock.now()
        endpoint_id = uuid.uuid4()
        with self.database.transaction() as connection:
            connection.execute(
                insert(webhook_endpoints).values(
                    merchant_id=caller.merchant_id,
                    id=endpoint_id,
                    url=url,
                    events=list(wanted),
                    secret=secret,
                    active=True,
                    description=description,
                    created_at=now,
                    updated_at=now,
                )
            )
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "webhook_endpoint.created",
                endpoint_id,
                {"url": url, "events": list(wanted)},
                now,
            )
            endpoint = self._endpoint(connection, caller.merchant_id, endpoint_id)
        self._forget(caller.merchant_id)
        return endpoint, secret

    def list_endpoints(self, caller: Principal, page: PageRequest = FIRST_PAGE) -> Page[Endpoint]:
        """The merchant's endpoints, oldest first."""
        caller.require(CONFIGURING_ROLE)
        query = select(webhook_endpoints).where(
            webhook_endpoints.c.merchant_id == caller.merchant_id
        )
        order = Order("webhook_endpoints", (webhook_endpoints.c.created_at, webhook_endpoints.c.id))
        with self.database.read() as connection:
            return fetch_page(connection, query, order, page).map(Endpoint.of)

    def get_endpoint(self, caller: Principal, endpoint_id: uuid.UUID) -> Endpoint:
        caller.require(CONFIGURING_ROLE)
        with self.database.read() as connection:
            return self._endpoint(connection, caller.merchant_id, endpoint_id)

    def update_endpoint(
        self, caller: Principal, endpoint_id: uuid.UUID, changes: Mapping[str, Any]
    ) -> Endpoint:
        """Change the URL, the events, the description or whether it is active."""
        caller.require(CONFIGURING_ROLE)
        values = dict(changes)
        assert set(values) <= {"url", "events", "active", "description"}
        if "url" in values:
            self._check_url(values["url"])
        if "events" in values:
            values["events"] = list(_checked_events(values["events"]))
        now = self.clock.now()
        with self.database.transaction() as connection:
            self._change(connection, caller.merchant_id, endpoint_id, updated_at=now, **values)
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "webhook_endpoint.updated",
                endpoint_id,
                {name: value for name, value in values.items()},
                now,
            )
            endpoint = self._endpoint(connection, caller.merchant_id, endpoint_id)
        self._forget(caller.merchant_id)
        return endpoint

    def rotate_secret(self, caller: Principal, endpoint_id: uuid.UUID) -> tuple[Endpoint, str]:
        """A new signing secret; deliveries sent from now on are signed with it."""
        caller.require(CONFIGURING_ROLE)
        secret = signing.new_secret()
        now = self.clock.now()
        with self.database.transaction() as connection:
            self._change(connection, caller.merchant_id, endpoint_id, secret=secret, updated_at=now)
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "webhook_endpoint.secret_rotated",
                endpoint_id,
                {},
                now,
            )
            endpoint = self._endpoint(connection, caller.merchant_id, endpoint_id)
        return endpoint, secret

    def delete_endpoint(self, caller: Principal, endpoint_id: uuid.UUID) -> None:
        """Remove an endpoint; its pending deliveries are dropped, its log is kept."""
        caller.require(CONFIGURING_ROLE)
        now = self.clock.now()
        with self.database.transaction() as connection:
            deleted = connection.execute(
                delete(webhook_endpoints).where(
                    webhook_endpoints.c.merchant_id == caller.merchant_id,
                    webhook_endpoints.c.id == endpoint_id,
                )
            ).rowcount
            if deleted != 1:
                raise errors.NotFound("No such webhook endpoint.")
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "webhook_endpoint.deleted",
                endpoint_id,
                {},
                now,
            )
        self._forget(caller.merchant_id)

    def subscribed(self, merchant_id: uuid.UUID) -> bool:
        """Whether the merchant has an active endpoint, as known a moment ago.

        The wallet's one-statement payment asks this to know whether it must
        take the unit of work that writes the event: an endpoint made in
        another process is seen within SUBSCRIBED_CACHE_SECONDS.
        """
        moment = time.monotonic()
        with self._subscribed_lock:
            known = self._subscribed.get(merchant_id)
        if known is not None and moment - known[1] < SUBSCRIBED_CACHE_SECONDS:
            return known[0]
        with self.database.read() as connection:
            found = (
                connection.execute(
                    select(webhook_endpoints.c.id)
                    .where(
                        webhook_endpoints.c.merchant_id == merchant_id, webhook_endpoints.c.active
                    )
                    .limit(1)
                ).first()
                is not None
            )
        with self._subscribed_lock:
            self._subscribed[merchant_id] = (found, moment)
        return found

    def _forget(self, merchant_id: uuid.UUID) -> None:
        with self._subscribed_lock:
            self._subscribed.pop(merchant_id, None)

    # Deliveries ------------------------------------------------------------------

    def list_deliveries(
        self, caller: Principal, endpoint_id: uuid.UUID, page: PageRequest = FIRST_PAGE
    ) -> Page[Delivery]:
        """The deliveries to one endpoint, newest first, with their attempts."""
        caller.require(CONFIGURING_ROLE)
        order = Order(
            "webhook_deliveries",
            (outbox_messages.c.created_at, outbox_messages.c.id),
            descending=True,
        )
        with self.database.read() as connection:
            self._endpoint(connection, caller.merchant_id, endpoint_id)
            query = _delivery_query(caller.merchant_id, endpoint_id)
            found = fetch_page(connection, query, order, page)
            views = self._delivery_views(connection, caller.merchant_id, endpoint_id, found.items)
        return Page(views, found.next_cursor)

    def resend(self, caller: Principal, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> Delivery:
        """Deliver a delivery's event again (a new delivery with the same `webhook-id`)."""
        caller.require(CONFIGURING_ROLE)
        now = self.clock.now()
        with self.database.transaction() as connection:
            endpoint = self._endpoint(connection, caller.merchant_id, endpoint_id)
            if not endpoint.active:
                raise errors.WebhookEndpointInactive()
            earlier = self._delivery(connection, caller.merchant_id, endpoint_id, delivery_id)
            if not earlier:
                raise errors.NotFound("No such delivery.")
            message_id = _enqueue_delivery(
                connection, caller.merchant_id, endpoint_id, endpoint.url, earlier[0].event_id, now
            )
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "webhook.resent",
                earlier[0].event_id,
                {"endpoint_id": str(endpoint_id), "delivery_id": str(message_id)},
                now,
            )
            (resent,) = self._delivery(connection, caller.merchant_id, endpoint_id, message_id)
            return resent

    def _delivery(
        self,
        connection: Connection,
        merchant_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        message_id: uuid.UUID,
    ) -> list[Delivery]:
        """The delivery to an endpoint with this id, if it is one."""
        query = _delivery_query(merchant_id, endpoint_id).where(outbox_messages.c.id == message_id)
        messages = connection.execute(query).mappings().all()
        return self._delivery_views(connection, merchant_id, endpoint_id, messages)

    def _delivery_views(
        self,
        connection: Connection,
        merchant_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        messages: Sequence[RowMapping],
    ) -> list[Delivery]:
        """Deliveries as shown: each message with its event's type and its attempts."""
        event_ids = {uuid.UUID(row["payload"]["event_id"]) for row in messages}
        types = dict(
            connection.execute(
                select(webhook_events.c.id, webhook_events.c.type).where(
                    webhook_events.c.merchant_id == merchant_id,
                    webhook_events.c.id.in_(event_ids),
                )
            ).all()
        )
        attempts: dict[uuid.UUID, list[Attempt]] = {}
        if messages:
            rows = connection.execute(
                select(webhook_attempts)
                .where(
                    webhook_attempts.c.merchant_id == merchant_id,
                    webhook_attempts.c.message_id.in_([row["id"] for row in messages]),
                )
                .order_by(webhook_attempts.c.attempt, webhook_attempts.c.attempted_at)
            ).mappings()
            for row in rows:
                attempts.setdefault(row["message_id"], []).append(
                    Attempt(
                        attempt=row["attempt"],
                        status_code=row["status_code"],
                        error=row["error"],
                        duration_ms=row["duration_ms"],
                        attempted_at=row["attempted_at"],
                    )
                )
        return [
            Delivery(
                id=row["id"],
                endpoint_id=endpoint_id,
                event_id=uuid.UUID(row["payload"]["event_id"]),
                event_type=types[uuid.UUID(row["payload"]["event_id"])],
                status="delivered" if row["status"] == "sent" else row["status"],
                attempts=tuple(attempts.get(row["id"], ())),
                next_attempt_at=row["next_attempt_at"] if row["status"] == "pending" else None,
                last_error=row["last_error"],
                created_at=row["created_at"],
                delivered_at=row["sent_at"],
                failed_at=row["failed_at"],
            )
            for row in messages
        ]

    # The job: composing and sending ------------------------------------------------

    def compose(self, connection: Connection, message: ClaimedMessage) -> WebhookRequest | None:
        """The signed request of a claimed delivery; None (dropped) if its endpoint is gone."""
        assert message.payload is not None and message.reference_id is not None
        endpoint = (
            connection.execute(
                select(webhook_endpoints).where(
                    webhook_endpoints.c.merchant_id == message.merchant_id,
                    webhook_endpoints.c.id == message.reference_id,
                )
            )
            .mappings()
            .first()
        )
        if endpoint is None or not endpoint["active"]:
            return None
        event_id = uuid.UUID(message.payload["event_id"])
        event = (
            connection.execute(
                select(webhook_events).where(
                    webhook_events.c.merchant_id == message.merchant_id,
                    webhook_events.c.id == event_id,
                )
            )
            .mappings()
            .first()
        )
        if event is None:
            raise PermanentFailure("the event is gone")
        body = event_body(event)
        timestamp = int(self.clock.now().timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": "Cagnotte-Webhooks/1",
            "webhook-id": str(event_id),
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signing.sign(endpoint["secret"], str(event_id), timestamp, body),
        }
        return WebhookRequest(
            merchant_id=message.merchant_id,
            message_id=message.id,
            endpoint_id=endpoint["id"],
            event_id=event_id,
            attempt=message.attempts,
            url=endpoint["url"],
            headers=headers,
            body=body,
        )

    def send(self, request: WebhookRequest) -> None:
        """POST one delivery and log the attempt; raise unless the receiver answered 2xx."""
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            if not self.development:
                # The name may have been pointed inward since the endpoint was saved.
                self._check_url(request.url)
            with httpx.Client(
                timeout=DELIVERY_TIMEOUT_SECONDS,
                follow_redirects=False,
                transport=self._transport,
            ) as client:
                response = client.post(request.url, content=request.body, headers=request.headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except errors.WebhookUrlInvalid as refused:
            error = refused.message
            self._log_attempt(request, status_code, error, started)
            raise PermanentFailure(error) from None
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"
        self._log_attempt(request, status_code, error, started)
        if error is not None:
            raise WebhookNotDelivered(error)

    def _log_attempt(
        self, request: WebhookRequest, status_code: int | None, error: str | None, started: float
    ) -> None:
        with self.database.transaction() as connection:
            connection.execute(
                insert(webhook_attempts).values(
                    merchant_id=request.merchant_id,
                    id=uuid.uuid4(),
                    message_id=request.message_id,
                    endpoint_id=request.endpoint_id,
                    event_id=request.event_id,
                    attempt=request.attempt,
                    status_code=status_code,
                    error=error[:ERROR_LENGTH_MAX] if error else None,
                    duration_ms=int((time.monotonic() - started) * 1000),
                    attempted_at=self.clock.now(),
                )
            )

    # Helpers ---------------------------------------------------------------------

    @staticmethod
    def _endpoint(
        connection: Connection, merchant_id: uuid.UUID, endpoint_id: uuid.UUID
    ) -> Endpoint:
        row = (
            connection.execute(
                select(webhook_endpoints).where(
                    webhook_endpoints.c.merchant_id == merchant_id,
                    webhook_endpoints.c.id == endpoint_id,
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise errors.NotFound("No such webhook endpoint.")
        return Endpoint.of(row)

    @staticmethod
    def _change(
        connection: Connection, merchant_id: uuid.UUID, endpoint_id: uuid.UUID, **values: Any
    ) -> None:
        changed = connection.execute(
            update(webhook_endpoints)
            .where(
                webhook_endpoints.c.merchant_id == merchant_id,
                webhook_endpoints.c.id == endpoint_id,
            )
            .values(**values)
        ).rowcount
        if changed != 1:
            raise errors.NotFound("No such webhook endpoint.")

    def _check_url(self, url: str) -> None:
        """Refuse what webhooks may not be sent to (SSRF): see the module's docstring."""
        if len(url) > URL_LENGTH_MAX:
            raise errors.WebhookUrlInvalid("The URL is too long.")
        try:
            parts = urlsplit(url)
            host = parts.hostname
            port = parts.port
        except ValueError:
            raise errors.WebhookUrlInvalid("The URL cannot be read.") from None
        allowed = ("http", "https") if self.development else ("https",)
        if parts.scheme not in allowed or not host or parts.username or parts.password:
            raise errors.WebhookUrlInvalid(
                "The URL must be https" + (" (or http)" if self.development else "") + "."
            )
        if self.development:
            return
        try:
            addresses = {
                info[4][0]
                for info in socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
            }
        except (socket.gaierror, UnicodeError):
            raise errors.WebhookUrlInvalid("The URL's host cannot be found.") from None
        for address in addresses:
            if not ipaddress.ip_address(address.split("%")[0]).is_global:
                raise errors.WebhookUrlInvalid("The URL's host is not a public address.")


class WebhookNotDelivered(Exception):
    """The receiver did not answer 2xx (or at all): the outbox tries again later."""


def _checked_events(events: Sequence[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(events))
    if not wanted:
        raise errors.InvalidInput('Name at least one event type, or "*".')
    for event_type in wanted:
        if event_type != ALL_EVENTS and event_type not in EVENT_TYPES:
            raise errors.WebhookEventUnknown(f"No such event type: {event_type}.")
    return (ALL_EVENTS,) if ALL_EVENTS in wanted else wanted
