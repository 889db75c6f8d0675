"""E-mail campaigns to a segment: draft, preview, test send, send, report."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from cagnotte.api.deps import Caller, ServicesDep
from cagnotte.api.schemas.base import Email, Strict, example
from cagnotte.crm.templates import TEMPLATE_LENGTH_MAX

router = APIRouter(prefix="/v1", tags=["campaigns"])


@example(
    {
        "name": "June news",
        "segment_id": "0b7c8d2e-4f1a-4b3c-9d5e-6f7a8b9c0d1e",
        "subject": "{{ first_name }}, your June at {{ merchant }}",
        "body": "Hello {{ first_name }},\nYou have {{ balances['Café points'] }} points.",
    }
)
class CampaignIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    segment_id: uuid.UUID
    subject: str = Field(min_length=1, max_length=500, description="A Jinja2 template.")
    body: str = Field(
        min_length=1,
        max_length=TEMPLATE_LENGTH_MAX,
        description="A Jinja2 template of the text: first_name, last_name, merchant, "
        "balances (by program name) and unsubscribe_url (added at the end if not used).",
    )
    rate_per_hour: int = Field(1_000, ge=1, le=100_000, description="Mails queued per hour.")


class RecipientsOut(BaseModel):
    pending: int = Field(description="Not yet queued.")
    queued: int = Field(description="Written to the outbox, not yet delivered.")
    sent: int
    failed: int
    unsubscribed: int = Field(description="Withdrew their consent before their turn.")


class CampaignOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    segment_id: uuid.UUID
    subject: str
    body: str
    rate_per_hour: int
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    recipients: RecipientsOut


class PreviewOut(BaseModel):
    subject: str
    body: str


@example({"customer_id": "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "email": "me@cafe.example"})
class TestSendIn(Strict):
    customer_id: uuid.UUID = Field(description="Whose mail it is (their fields and balances).")
    email: Email = Field(description="Where the test goes (the merchant's own address).")


class TestSendOut(BaseModel):
    message_id: uuid.UUID


@router.post("/campaigns", status_code=status.HTTP_201_CREATED)
def create_campaign(body: CampaignIn, caller: Caller, services: ServicesDep) -> CampaignOut:
    return CampaignOut(
        **services.campaigns.create(
            caller,
            name=body.name,
            segment_id=body.segment_id,
            subject=body.subject,
            body=body.body,
            rate_per_hour=body.rate_per_hour,
        )
    )


@router.get("/campaigns/{campaign_id}")
def get_campaign(campaign_id: uuid.UUID, caller: Caller, services: ServicesDep) -> CampaignOut:
    """The campaign and its report: recipients by status."""
    return CampaignOut(**services.campaigns.get(caller, campaign_id))


@router.get("/campaigns/{campaign_id}/preview")
def preview_campaign(
    campaign_id: uuid.UUID, customer_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> PreviewOut:
    """The mail one member would get; nothing is sent."""
    subject, body = services.campaigns.preview(caller, campaign_id, customer_id)
    return PreviewOut(subject=subject, body=body)


@router.post("/campaigns/{campaign_id}/test-sends", status_code=status.HTTP_202_ACCEPTED)
def test_send_campaign(
    campaign_id: uuid.UUID, body: TestSendIn, caller: Caller, services: ServicesDep
) -> TestSendOut:
    """One mail as this member would get it, to the given address (through the outbox)."""
    return TestSendOut(
        message_id=services.campaigns.test_send(
            caller, campaign_id, body.customer_id, str(body.email)
        )
    )


@router.post("/campaigns/{campaign_id}/send")
def send_campaign(campaign_id: uuid.UUID, caller: Caller, services: ServicesDep) -> CampaignOut:
    """Send: the segment's consenting members with an address now are its recipients; the
    jobs queue their mails at the campaign's rate, each once, across restarts."""
    return CampaignOut(**services.campaigns.send(caller, campaign_id))
