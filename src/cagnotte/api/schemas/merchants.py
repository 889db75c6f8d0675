"""Merchants, their assets, stores, terminals, staff and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from cagnotte.api.schemas.base import (
    AssetCode,
    Email,
    Name,
    Strict,
    example,
    without_default,
)
from cagnotte.crm.notices import NOTICE_LENGTH_MAX, NOTICE_LENGTH_MIN
from cagnotte.crm.templates import TEMPLATE_LENGTH_MAX

Country = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=2),
    Field(
        description="ISO 3166-1 alpha-2: the region the merchant's customers' phones are "
        "read in (`514 555 0100` is +15145550100 in CA).",
        examples=["CA"],
    ),
]
LocaleName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=35),
    Field(
        description="A BCP 47 / Babel locale (`fr_CA` or `fr-CA`): how mails and pages "
        "write money and dates.",
        examples=["fr_CA"],
    ),
]
TimeZoneName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(
        description="An IANA time zone: when the merchant's day and month begin, for "
        "daily and monthly caps, cards' daily limits and reports.",
        examples=["America/Montreal"],
    ),
]


@example(
    {
        "name": "Café Bleu",
        "head_office_email": "office@cafe-bleu.example",
        "country": "CA",
        "locale": "fr_CA",
        "time_zone": "America/Montreal",
    }
)
class MerchantCreate(Strict):
    """A new merchant. Left out: the locale and zone follow the country; no country, CZ."""

    name: Name
    head_office_email: Email | None = None
    country: Country | None = None
    locale: LocaleName | None = None
    time_zone: TimeZoneName | None = None


NoticeText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=NOTICE_LENGTH_MIN, max_length=NOTICE_LENGTH_MAX
    ),
    Field(
        description="The information notice a cashier gives at enrolment: how personal data "
        "are processed, the program's terms. A new text is its next version; every version "
        "is kept (GET /v1/merchants/{id}/notices).",
        examples=["Café Bleu keeps your phone number and purchases to run its loyalty program…"],
    ),
]
MessageTemplate = Annotated[str, StringConstraints(min_length=1, max_length=TEMPLATE_LENGTH_MAX)]


@example({"enabled": True, "subject": "Happy birthday, {{ first_name }}!"})
class BirthdayMessageChange(Strict):
    """The birthday message (sent by the jobs on the member's birthday, once a year, to
    members who consent to marketing e-mail): Jinja2 templates with `first_name`,
    `last_name`, `merchant`, `balances`, `reward` (the birthday reward credited that day,
    written out, or empty), `rewards` and `unsubscribe_url`. A template set to null is
    the default one; what is left out stays."""

    enabled: StrictBool = Field(default=None, json_schema_extra=without_default)
    subject: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    body: MessageTemplate | None = None


@example({"locale": "en_CA", "time_zone": "America/Toronto"})
class MerchantSettingsChange(Strict):
    """Where the merchant is, its information notice, its birthday message; what is left
    out stays."""

    country: Country | None = None
    locale: LocaleName | None = None
    time_zone: TimeZoneName | None = None
    notice_text: NoticeText | None = None
    birthday_message: BirthdayMessageChange | None = None


class MerchantOut(BaseModel):
    id: uuid.UUID
    name: str
    status: Literal["active", "suspended"]
    head_office_email: str | None
    created_at: datetime
    country: str = Field(examples=["CZ"])
    locale: str = Field(examples=["cs_CZ"])
    time_zone: str = Field(examples=["Europe/Prague"])
    birthday_message_enabled: bool = False
    birthday_message_subject: str | None = Field(None, description="Null: the default.")
    birthday_message_body: str | None = Field(None, description="Null: the default.")


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    role: Literal["operator", "owner", "manager", "cashier", "reseller"]
    key_prefix: str
    store_id: uuid.UUID | None
    terminal_id: uuid.UUID | None
    created_at: datetime
    revoked_at: datetime | None = None


class IssuedApiKeyOut(ApiKeyOut):
    secret: str = Field(description="The key itself. Shown this once; only a hash is kept.")


class MerchantCreated(MerchantOut):
    owner_key: IssuedApiKeyOut


@example({"status": "suspended"})
class MerchantStatusChange(Strict):
    status: Literal["active", "suspended"]


@example({"code": "POINTS", "scale": 0, "name": "Café points"})
class AssetCreate(Strict):
    code: AssetCode
    scale: Annotated[int, Field(strict=True, ge=0, le=8)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class AssetOut(BaseModel):
    code: str
    scale: int
    name: str
    merchant_id: uuid.UUID | None


@example(
    {
        "name": "Café Bleu Old Town",
        "address": "Old Town Square 1, Prague",
        "manager_email": "old-town@cafe-bleu.example",
    }
)
class StoreCreate(Strict):
    name: Name
    address: Annotated[str, StringConstraints(max_length=500)] | None = None
    manager_email: Email | None = None


class StoreOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    address: str | None
    manager_email: str | None
    created_at: datetime


@example({"store_id": "a1c3e2d4-6b7f-4e8a-9c0d-1e2f3a4b5c6d", "kind": "register", "name": "Till 1"})
class TerminalCreate(Strict):
    store_id: uuid.UUID
    kind: Literal["register", "kiosk", "e_store"]
    name: Name


class TerminalOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    store_id: uuid.UUID
    kind: Literal["register", "kiosk", "e_store"]
    name: str
    active: bool
    created_at: datetime


class TerminalCreated(TerminalOut):
    api_key: IssuedApiKeyOut


@example({"email": "eva@cafe-bleu.example", "name": "Eva Novák", "role": "cashier"})
class StaffCreate(Strict):
    email: Email
    name: Name
    role: Literal["owner", "manager", "cashier"]
    password: Annotated[str, StringConstraints(min_length=10, max_length=200)] | None = None


class StaffOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    email: str
    name: str
    role: Literal["owner", "manager", "cashier"]
    active: bool
    locked_until: datetime | None
    created_at: datetime


@example({"name": "Back office", "role": "manager", "store_id": None})
class ApiKeyCreate(Strict):
    name: Name
    role: Literal["owner", "manager", "cashier"]
    store_id: uuid.UUID | None = None


class NoticeVersionOut(BaseModel):
    """One version of the merchant's information notice, as it was given."""

    version: int
    text: str
    is_default: bool = Field(
        description="The platform's notice built from the merchant's name (none was set)."
    )
    created_at: datetime
