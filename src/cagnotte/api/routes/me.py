"""The customer's own routes: sign-in by e-mail code, memberships, wallets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, status
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from cagnotte import errors
from cagnotte.api.deps import Customer, ServicesDep
from cagnotte.api.pagination import PageDep
from cagnotte.api.routes.accounts import (
    ACCOUNT_ORDER,
    account_out,
    account_sort_key,
    transfer_page,
)
from cagnotte.api.schemas import (
    AccountOut,
    CustomerOut,
    MeOut,
    SessionOut,
    SignInCodeRequest,
    SignInCodeVerify,
    TransferOut,
)
from cagnotte.api.schemas.base import Strict, example
from cagnotte.api.schemas.customers import ConsentsOut
from cagnotte.api.schemas.pages import Page
from cagnotte.bootstrap import Services
from cagnotte.db.pages import page_of_list
from cagnotte.db.tables import PLATFORM_MERCHANT_ID
from cagnotte.i18n import negotiate
from cagnotte.ledger import Account
from cagnotte.security.principals import CustomerPrincipal

router = APIRouter(prefix="/v1", tags=["customer"])


@router.post("/customer-sign-in/codes", status_code=status.HTTP_202_ACCEPTED)
def request_sign_in_code(
    body: SignInCodeRequest,
    services: ServicesDep,
    accept_language: Annotated[str | None, Header(max_length=500)] = None,
) -> dict[str, str]:
    """Mail a one-time code. The answer is the same whether the e-mail is known or not.

    The mail writes the code's end for the first locale of Accept-Language."""
    services.auth.send_customer_code(str(body.email), locale=negotiate(accept_language))
    return {"status": "If this e-mail belongs to a customer, a code is on its way."}


@router.post("/customer-sign-in/sessions", status_code=status.HTTP_201_CREATED)
def open_customer_session(body: SignInCodeVerify, services: ServicesDep) -> SessionOut:
    session = services.auth.verify_customer_code(str(body.email), body.code)
    return SessionOut(token=session.token, expires_at=session.expires_at)


@router.get("/me")
def get_me(customer: Customer, services: ServicesDep) -> MeOut:
    memberships = services.customers.memberships_of(customer.customer_id)
    return MeOut(
        customer_id=customer.customer_id, memberships=[CustomerOut.of(m) for m in memberships]
    )


@router.get("/me/accounts")
def list_my_accounts(customer: Customer, services: ServicesDep, page: PageDep) -> Page[AccountOut]:
    """The customer's platform wallets and membership accounts, oldest first."""
    found = page_of_list(_my_accounts(services, customer), ACCOUNT_ORDER, page, account_sort_key)
    return Page.of(found, lambda account: account_out(services, account))


def _my_accounts(services: Services, customer: CustomerPrincipal) -> list[Account]:
    """The customer's platform wallets, then the accounts of each membership."""
    accounts = services.ledger.find_accounts(PLATFORM_MERCHANT_ID, "customer", customer.customer_id)
    for membership in services.customers.memberships_of(customer.customer_id):
        accounts += services.ledger.find_accounts(
            membership["merchant_id"], "membership", membership["id"]
        )
    return accounts


@router.get("/me/accounts/{account_id}/transfers")
def list_my_transfers(
    account_id: uuid.UUID,
    customer: Customer,
    services: ServicesDep,
    page: PageDep,
) -> Page[TransferOut]:
    """The account's transfers, newest first."""
    for account in _my_accounts(services, customer):
        if account.id == account_id:
            return transfer_page(services, account, page)
    raise errors.AccountNotFound()


class MemberTokenOut(BaseModel):
    token: str = Field(description="Show it as a QR code to the register; it ends soon.")
    expires_at: datetime


@router.post("/me/member-tokens", status_code=status.HTTP_201_CREATED)
def issue_member_token(
    merchant_id: uuid.UUID, customer: Customer, services: ServicesDep
) -> MemberTokenOut:
    """A short-lived code naming the customer's membership at this merchant."""
    token, expires_at = services.customers.member_token(customer.customer_id, merchant_id)
    return MemberTokenOut(token=token, expires_at=expires_at)


class ErasureOut(BaseModel):
    erased_at: datetime = Field(description="When the personal data were erased.")


@router.get("/me/personal-data")
def export_my_personal_data(customer: Customer, services: ServicesDep) -> dict[str, Any]:
    """Everything held on the signed-in customer (the identity and every membership), as JSON."""
    return jsonable_encoder(services.personal_data.export_customer(customer.customer_id))


@router.post("/me/erasure")
def erase_me(customer: Customer, services: ServicesDep) -> ErasureOut:
    """Erase the signed-in customer's personal data at every merchant, and sign them out.

    Balances and history stay under the memberships' ids (pseudonyms); the phone
    and e-mail no longer find anybody. It cannot be undone.
    """
    return ErasureOut(erased_at=services.personal_data.erase_customer(customer.customer_id))


@example({"merchant_id": "5b0f3c1e-8d2a-4f6b-9c7e-1a2b3c4d5e6f", "email": False})
class OwnConsentChange(Strict):
    """The customer's own choice at one merchant (withdrawal at any time)."""

    merchant_id: uuid.UUID
    email: bool | None = None
    sms: bool | None = None
    phone: bool | None = Field(None, description="Ask to be called back (or stop it).")
    text_version: str | None = Field(None, max_length=40)


@router.post("/me/consents")
def change_my_consents(
    body: OwnConsentChange, customer: Customer, services: ServicesDep
) -> ConsentsOut:
    """Give or withdraw consent to marketing at one of the customer's merchants."""
    changes = {
        channel: value
        for channel, value in (("email", body.email), ("sms", body.sms), ("phone", body.phone))
        if value is not None
    }
    return ConsentsOut(
        **services.consents.change_own(
            customer.customer_id, body.merchant_id, changes, body.text_version
        )
    )


class UnsubscribedOut(BaseModel):
    merchant_id: uuid.UUID
    channel: str
    granted: bool


@router.post("/unsubscribe/{token}")
def unsubscribe(
    token: Annotated[str, Path(max_length=200)], services: ServicesDep
) -> UnsubscribedOut:
    """One-click unsubscribe (RFC 8058): the link of a marketing mail withdraws its consent.

    No sign-in: the link's signed token names the member and the channel.
    """
    return UnsubscribedOut(**services.consents.unsubscribe(token))
