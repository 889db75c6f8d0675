"""Customers: enrolment, profiles, status."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from cagnotte.api.schemas.base import Email, Strict, example, without_default

PersonName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


class Profile(Strict):
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    email: Email | None = None
    birth_date: date | None = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None
    consent_marketing_email: bool | None = None
    consent_marketing_sms: bool | None = None


@example({"last_name": "Dvořák", "consent_marketing_email": True})
class ProfileChange(Profile):
    """A PATCH: only the fields sent change; null clears a text field, not a consent."""

    consent_marketing_email: bool = Field(default=None, json_schema_extra=without_default)
    consent_marketing_sms: bool = Field(default=None, json_schema_extra=without_default)


@example(
    {
        "phone": "+420601123456",
        "first_name": "Jana",
        "email": "jana@example.com",
        "accept_terms": True,
    }
)
class CustomerEnrol(Profile):
    phone: Annotated[str, StringConstraints(min_length=3, max_length=32)] | None = Field(
        default=None, description="Any common notation; stored in E.164."
    )
    accept_terms: bool = False


class CustomerOut(BaseModel):
    id: uuid.UUID = Field(description="The membership id: this customer, at this merchant.")
    merchant_id: uuid.UUID
    status: Literal["active", "blocked"]
    phone: str | None
    email: str | None
    first_name: str | None
    last_name: str | None
    birth_date: date | None
    address: str | None
    consent_marketing_email: bool
    consent_marketing_sms: bool
    consent_terms_at: datetime | None
    last_visit_at: datetime | None
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None = Field(
        None, description="When the member's personal data were erased (then all null)."
    )
    notice_given_at: datetime | None = Field(
        None, description="When the information notice was given, at enrolment."
    )
    notice_version: int | None = Field(
        None, description="Which version of the merchant's notice was given then."
    )

    @classmethod
    def of(cls, membership: dict) -> CustomerOut:
        return cls(
            **{key: membership.get(key) for key in cls.model_fields if key != "id"},
            id=membership["id"],
        )


class NoticeOut(BaseModel):
    """A version of the merchant's information notice: how personal data are processed,
    the program's terms."""

    version: int
    text: str
    is_default: bool = Field(
        description="The platform's notice built from the merchant's name (none was set)."
    )
    created_at: datetime


class EnrolledCustomerOut(CustomerOut):
    notice: NoticeOut | None = Field(
        None,
        description="The notice the cashier must give the new member now (recorded as "
        "given: `notice_version`, `notice_given_at`); null for one enrolled already.",
    )

    @classmethod
    def of(cls, membership: dict) -> EnrolledCustomerOut:
        notice = membership.get("notice")
        return cls(
            **CustomerOut.of(membership).model_dump(),
            notice=NoticeOut(**{k: notice[k] for k in NoticeOut.model_fields}) if notice else None,
        )


@example({"status": "blocked"})
class CustomerStatusChange(Strict):
    status: Literal["active", "blocked"]


class PlatformAccountOut(BaseModel):
    """A customer's platform account: one identity across merchants, the operator's."""

    id: uuid.UUID = Field(description="The customer's identity (`customer_id` in /v1/me).")
    phone: str | None
    email: str | None
    status: Literal["active", "blocked"]
    created_at: datetime


@example({"status": "blocked", "reason": "Reported stolen phone"})
class PlatformStatusChange(Strict):
    status: Literal["active", "blocked"]
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)
    ] = Field(description="Why: kept in the audit trail with who decided.")


class SpendingOut(BaseModel):
    currency: str
    visits: int = Field(description="Checks not wholly refunded.")
    last_visit_at: datetime | None
    total_spent_minor: int = Field(description="Gross − discounts − refunded.")
    refunded_minor: int
    average_basket_minor: int = Field(description="Total spent / visits, rounded half up.")


class ExpiringOut(BaseModel):
    units: int
    expires_at: datetime


class ProgramStandingOut(BaseModel):
    program_id: uuid.UUID
    name: str
    kind: str
    status: str
    asset_code: str
    balance_units: int
    pending_units: int = Field(description="Earned, not yet spendable.")
    stamps_on_card: int | None
    card_size: int | None
    expiring: list[ExpiringOut] = Field(description="The soonest expiring lots.")
    rewards_received: int
    rewards_value_minor: int


class WalletOut(BaseModel):
    asset_code: str
    available_minor: int


ConsentSource = Literal["register", "import", "back_office", "api"]


@example({"email": True, "sms": False, "text_version": "2026-09"})
class ConsentChange(Strict):
    """The member's choice per channel (a channel left out does not change)."""

    email: bool | None = Field(None, description="Marketing e-mails.")
    sms: bool | None = Field(None, description="Marketing text messages.")
    phone: bool | None = Field(
        None, description="Calls: only when the customer asked to be called back."
    )
    source: ConsentSource | None = Field(
        None, description="Where it was given; by default the caller's (register, back office)."
    )
    text_version: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        None, description="The version of the text the customer agreed to."
    )

    def changes(self) -> dict[str, bool]:
        return {
            channel: value
            for channel, value in (("email", self.email), ("sms", self.sms), ("phone", self.phone))
            if value is not None
        }


class ChannelConsentOut(BaseModel):
    granted: bool
    since: datetime | None
    source: str | None
    text_version: str | None


class ConsentEventOut(BaseModel):
    channel: Literal["email", "sms", "phone"]
    granted: bool
    source: str
    text_version: str | None
    created_at: datetime


class ConsentsOut(BaseModel):
    current: dict[Literal["email", "sms", "phone"], ChannelConsentOut]
    history: list[ConsentEventOut]
