"""A member's open credits: purchase vouchers, next-purchase discounts, loyalty credit."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter

from cagnotte.api.deps import Caller, ServicesDep
from cagnotte.api.pagination import PageDep
from cagnotte.api.schemas.checks import CreditOut
from cagnotte.api.schemas.pages import Page

router = APIRouter(prefix="/v1/customers", tags=["customers"])


@router.get("/{customer_id}/credits")
def list_customer_credits(
    customer_id: uuid.UUID,
    caller: Caller,
    services: ServicesDep,
    page: PageDep,
    state: Literal["open", "used", "expired", "voided"] | None = None,
) -> Page[CreditOut]:
    """The member's vouchers, next-purchase discounts and credit that checks issued, the
    newest first, with what became of each (`state`: open, used, expired, voided)."""
    found = services.checkout.list_credits(caller, customer_id, state, page)
    return Page.of(found, lambda row: CreditOut(**row))
