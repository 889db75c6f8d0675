"""The customer directory of a merchant."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from fastapi.encoders import jsonable_encoder

from cagnotte.api.deps import Caller, ServicesDep
from cagnotte.api.pagination import PageDep
from cagnotte.api.routes.accounts import ACCOUNT_ORDER, account_out, account_sort_key
from cagnotte.api.routes.me import ErasureOut
from cagnotte.api.schemas import (
    AccountOut,
    CustomerEnrol,
    CustomerOut,
    CustomerStatusChange,
    MemberStandingOut,
    ProfileChange,
)
from cagnotte.api.schemas.customer_card import CustomerCardOut
from cagnotte.api.schemas.customers import ConsentChange, ConsentsOut, EnrolledCustomerOut
from cagnotte.api.schemas.pages import Page
from cagnotte.db.pages import Order, page_of_list
from cagnotte.programs.loyalty.tables import loyalty_programs

# PostgreSQL cannot compare text with U+0000 in it.
NO_NUL_CHARACTER = r"^[^\x00]*$"

router = APIRouter(prefix="/v1/customers", tags=["customers"])
# A member's standings are few (one per program): paged in Python, by program id.
STANDING_ORDER = Order("loyalty_standings", (loyalty_programs.c.id,))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": EnrolledCustomerOut, "description": "Enrolled already: the membership."}
    },
)
def enrol_customer(
    body: CustomerEnrol, caller: Caller, services: ServicesDep, response: Response
) -> EnrolledCustomerOut:
    """Enrol a customer; a phone number alone is enough. Enrolled already → 200 and the same.

    A new member's answer carries `notice`, the merchant's information notice (how
    personal data are processed, the program's terms) that the cashier must give
    now; the membership records its version and the moment."""
    profile = body.model_dump(exclude={"phone", "accept_terms"}, exclude_none=True)
    if "email" in profile:
        profile["email"] = str(profile["email"]).lower()
    membership, created = services.customers.enrol(
        caller,
        phone=body.phone,
        email=profile.get("email"),
        profile=profile,
        accept_terms=body.accept_terms,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return EnrolledCustomerOut.of(membership)


@router.get("")
def search_customers(
    caller: Caller,
    services: ServicesDep,
    page: PageDep,
    name: Annotated[str | None, Query(max_length=100, pattern=NO_NUL_CHARACTER)] = None,
    phone: Annotated[str | None, Query(max_length=32)] = None,
) -> Page[CustomerOut]:
    """Search by (part of) the name and/or the phone number; the members in the order
    they enrolled."""
    found = services.customers.search(caller, name=name, phone=phone, page=page)
    return Page.of(found, CustomerOut.of)


@router.get("/{customer_id}")
def get_customer(customer_id: uuid.UUID, caller: Caller, services: ServicesDep) -> CustomerOut:
    return CustomerOut.of(services.customers.get(caller, customer_id))


@router.patch("/{customer_id}")
def update_customer(
    customer_id: uuid.UUID, body: ProfileChange, caller: Caller, services: ServicesDep
) -> CustomerOut:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("email"):
        changes["email"] = str(changes["email"]).lower()
    return CustomerOut.of(services.customers.update_profile(caller, customer_id, changes))


@router.post("/{customer_id}/status")
def set_customer_status(
    customer_id: uuid.UUID, body: CustomerStatusChange, caller: Caller, services: ServicesDep
) -> CustomerOut:
    """Block (accounts frozen: nothing moves) or unblock a customer. Manager or owner."""
    return CustomerOut.of(services.customers.set_status(caller, customer_id, body.status))


@router.get("/{customer_id}/card")
def get_customer_card(
    customer_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> CustomerCardOut:
    """The customer card: visits, spending, each program's standing, open credits, the
    latest checks; from the ledger and the recorded checks, right after refunds."""
    return CustomerCardOut.of(services.customer_cards.card(caller, customer_id))


@router.get("/{customer_id}/consents")
def get_customer_consents(
    customer_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> ConsentsOut:
    """The member's consent per channel, and every change with its source and text."""
    return ConsentsOut(**services.consents.of_member(caller, customer_id))


@router.post("/{customer_id}/consents")
def change_customer_consents(
    customer_id: uuid.UUID, body: ConsentChange, caller: Caller, services: ServicesDep
) -> ConsentsOut:
    """Record the member's choice (given at the register or to the back office)."""
    return ConsentsOut(
        **services.consents.change(
            caller,
            customer_id,
            body.changes(),
            source=body.source,
            text_version=body.text_version,
        )
    )


@router.get("/{customer_id}/personal-data")
def export_customer_personal_data(
    customer_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> dict[str, Any]:
    """Everything held on the member here, as JSON (their request under the GDPR)."""
    return jsonable_encoder(services.personal_data.export_membership(caller, customer_id))


@router.post("/{customer_id}/erasure")
def erase_customer(customer_id: uuid.UUID, caller: Caller, services: ServicesDep) -> ErasureOut:
    """Erase the member's personal data (on their request); balances and history stay under
    the membership's id, and neither their phone nor their e-mail finds them any more.
    Erasing again answers the first erasure's time. It cannot be undone."""
    return ErasureOut(erased_at=services.personal_data.erase_membership(caller, customer_id))


@router.get("/{customer_id}/accounts")
def list_customer_accounts(
    customer_id: uuid.UUID, caller: Caller, services: ServicesDep, page: PageDep
) -> Page[AccountOut]:
    """The member's accounts, oldest first."""
    services.customers.get(caller, customer_id)
    accounts = services.ledger.find_accounts(caller.merchant_id, "membership", customer_id)
    found = page_of_list(accounts, ACCOUNT_ORDER, page, key=account_sort_key)
    return Page.of(found, lambda account: account_out(services, account))


@router.get("/{customer_id}/loyalty")
def get_customer_loyalty(
    customer_id: uuid.UUID, caller: Caller, services: ServicesDep, page: PageDep
) -> Page[MemberStandingOut]:
    """The member in each loyalty program: balance, what is spendable now, points pending
    for a return window (and until when), and their tier with the spend that made it;
    programs by id."""
    standings = services.checkout.member_standing(caller, customer_id)
    found = page_of_list(
        standings, STANDING_ORDER, page, key=lambda standing: [standing.program.id]
    )
    return Page.of(found, MemberStandingOut.of)
