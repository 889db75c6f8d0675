"""Request and response bodies of the webhook endpoint routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from cagnotte.api.schemas.base import Strict, example
from cagnotte.webhooks.service import (
    ALL_EVENTS,
    EVENT_TYPES,
    URL_LENGTH_MAX,
    Attempt,
    Delivery,
    Endpoint,
)

WebhookUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=URL_LENGTH_MAX)
]
EventType = Annotated[
    str,
    StringConstraints(max_length=60),
    Field(description=f'One of {", ".join(EVENT_TYPES)}, or "{ALL_EVENTS}" for every one.'),
]
Events = Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES) + 1)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


@example(
    {
        "url": "https://pos.example/cagnotte/webhooks",
        "events": ["wallet.payment", "check.committed"],
        "description": "Back office",
    }
)
class WebhookEndpointCreate(Strict):
    url: WebhookUrl
    events: Events
    description: Description | None = None


@example({"events": ["*"], "active": True})
class WebhookEndpointChange(Strict):
    url: WebhookUrl | None = None
    events: Events | None = None
    active: Annotated[bool, Field(strict=True)] | None = None
    description: Description | None = None

    def changes(self) -> dict[str, Any]:
        """The fields sent (null leaves a field as it is, but for the description)."""
        sent = self.model_dump(exclude_unset=True)
        return {
            name: value
            for name, value in sent.items()
            if value is not None or name == "description"
        }


class WebhookEndpointOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    active: bool
    description: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: Endpoint) -> WebhookEndpointOut:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            events=list(endpoint.events),
            active=endpoint.active,
            description=endpoint.description,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class WebhookEndpointWithSecretOut(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (Standard Webhooks, `whsec_…`), shown only this once."
    )

    @classmethod
    def with_secret(cls, endpoint: Endpoint, secret: str) -> WebhookEndpointWithSecretOut:
        return cls(**WebhookEndpointOut.of(endpoint).model_dump(), secret=secret)


class WebhookAttemptOut(BaseModel):
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    attempted_at: datetime

    @classmethod
    def of(cls, attempt: Attempt) -> WebhookAttemptOut:
        return cls(
            attempt=attempt.attempt,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
            attempted_at=attempt.attempted_at,
        )


class WebhookDeliveryOut(BaseModel):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID = Field(description="The `webhook-id` header of every delivery of it.")
    event_type: str
    status: str = Field(description="pending, delivered, failed or dropped.")
    attempts: list[WebhookAttemptOut]
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> WebhookDeliveryOut:
        return cls(
            id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=[WebhookAttemptOut.of(attempt) for attempt in delivery.attempts],
            next_attempt_at=delivery.next_attempt_at,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            delivered_at=delivery.delivered_at,
            failed_at=delivery.failed_at,
        )
