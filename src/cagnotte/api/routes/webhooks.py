"""Webhook endpoints: where a merchant's systems are told what happened, and the log."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from cagnotte.api.deps import Caller, ServicesDep
from cagnotte.api.pagination import PageDep
from cagnotte.api.problems import PROBLEM_RESPONSES
from cagnotte.api.schemas.pages import Page
from cagnotte.api.schemas.webhooks import (
    WebhookDeliveryOut,
    WebhookEndpointChange,
    WebhookEndpointCreate,
    WebhookEndpointOut,
    WebhookEndpointWithSecretOut,
)

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_webhook_endpoint(
    body: WebhookEndpointCreate, caller: Caller, services: ServicesDep
) -> WebhookEndpointWithSecretOut:
    """A manager registers an endpoint; its signing secret is in this answer only."""
    endpoint, secret = services.webhooks.create_endpoint(
        caller, url=body.url, events=body.events, description=body.description
    )
    return WebhookEndpointWithSecretOut.with_secret(endpoint, secret)


@router.get("")
def list_webhook_endpoints(
    caller: Caller, services: ServicesDep, page: PageDep
) -> Page[WebhookEndpointOut]:
    """The merchant's endpoints, oldest first."""
    return Page.of(services.webhooks.list_endpoints(caller, page), WebhookEndpointOut.of)


@router.get("/{endpoint_id}")
def get_webhook_endpoint(
    endpoint_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> WebhookEndpointOut:
    return WebhookEndpointOut.of(services.webhooks.get_endpoint(caller, endpoint_id))


@router.patch("/{endpoint_id}")
def update_webhook_endpoint(
    endpoint_id: uuid.UUID, body: WebhookEndpointChange, caller: Caller, services: ServicesDep
) -> WebhookEndpointOut:
    """Change the URL, the events, the description, or `active: false` to pause it."""
    return WebhookEndpointOut.of(
        services.webhooks.update_endpoint(caller, endpoint_id, body.changes())
    )


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook_endpoint(
    endpoint_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> Response:
    """Remove an endpoint: its pending deliveries are dropped, its log is kept."""
    services.webhooks.delete_endpoint(caller, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{endpoint_id}/secret")
def rotate_webhook_secret(
    endpoint_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> WebhookEndpointWithSecretOut:
    """A new signing secret, in this answer only; the old one stops signing at once."""
    endpoint, secret = services.webhooks.rotate_secret(caller, endpoint_id)
    return WebhookEndpointWithSecretOut.with_secret(endpoint, secret)


@router.get("/{endpoint_id}/deliveries")
def list_webhook_deliveries(
    endpoint_id: uuid.UUID, caller: Caller, services: ServicesDep, page: PageDep
) -> Page[WebhookDeliveryOut]:
    """The deliveries to this endpoint, newest first, each with its attempts."""
    found = services.webhooks.list_deliveries(caller, endpoint_id, page)
    return Page.of(found, WebhookDeliveryOut.of)


@router.post("/{endpoint_id}/deliveries/{delivery_id}/resend", status_code=status.HTTP_201_CREATED)
def resend_webhook_delivery(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> WebhookDeliveryOut:
    """Deliver the event again: a new delivery, with the same `webhook-id`."""
    return WebhookDeliveryOut.of(services.webhooks.resend(caller, endpoint_id, delivery_id))
