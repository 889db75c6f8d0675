"""Operator and merchant administration: merchants, assets, stores, terminals, staff, keys,
and customers' platform accounts."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, status

from cagnotte.api.deps import Caller, OperatorCaller, ServicesDep
from cagnotte.api.pagination import PageDep
from cagnotte.api.routes.customers import NO_NUL_CHARACTER
from cagnotte.api.schemas import (
    ApiKeyCreate,
    ApiKeyOut,
    AssetCreate,
    AssetOut,
    IssuedApiKeyOut,
    MerchantCreate,
    MerchantCreated,
    MerchantOut,
    MerchantSettingsChange,
    MerchantStatusChange,
    PlatformAccountOut,
    PlatformStatusChange,
    StaffCreate,
    StaffOut,
    StoreCreate,
    StoreOut,
    TerminalCreate,
    TerminalCreated,
    TerminalOut,
)
from cagnotte.api.schemas.merchants import NoticeVersionOut
from cagnotte.api.schemas.pages import Page

router = APIRouter(prefix="/v1")


@router.post("/merchants", status_code=status.HTTP_201_CREATED, tags=["operator"])
def create_merchant(
    body: MerchantCreate, caller: OperatorCaller, services: ServicesDep
) -> MerchantCreated:
    """The operator creates a merchant; the answer holds the owner's first API key, once."""
    merchant = services.merchants.create_merchant(
        caller,
        name=body.name,
        head_office_email=body.head_office_email,
        country=body.country,
        locale=body.locale,
        time_zone=body.time_zone,
    )
    owner_key = IssuedApiKeyOut(**asdict(merchant.pop("owner_key")))
    return MerchantCreated(**merchant, owner_key=owner_key)


@router.get("/merchants", tags=["operator"])
def list_merchants(
    caller: OperatorCaller, services: ServicesDep, page: PageDep
) -> Page[MerchantOut]:
    """The merchants, oldest first."""
    return Page.of(services.merchants.list_merchants(caller, page), lambda row: MerchantOut(**row))


@router.get("/merchants/{merchant_id}", tags=["operator"])
def get_merchant(merchant_id: uuid.UUID, caller: Caller, services: ServicesDep) -> MerchantOut:
    return MerchantOut(**services.merchants.get_merchant(caller, merchant_id))


@router.patch("/merchants/{merchant_id}", tags=["operator"])
def update_merchant(
    merchant_id: uuid.UUID, body: MerchantSettingsChange, caller: Caller, services: ServicesDep
) -> MerchantOut:
    """Change the merchant's settings: its country, default locale and time zone, its
    information notice (a new text is a new version) and its birthday message."""
    return MerchantOut(
        **services.merchants.update_merchant(
            caller,
            merchant_id,
            country=body.country,
            locale=body.locale,
            time_zone=body.time_zone,
            notice_text=body.notice_text,
            birthday_message=body.birthday_message.model_dump(exclude_unset=True)
            if body.birthday_message is not None
            else None,
        )
    )


@router.get("/merchants/{merchant_id}/notices", tags=["operator"])
def list_merchant_notices(
    merchant_id: uuid.UUID, caller: Caller, services: ServicesDep, page: PageDep
) -> Page[NoticeVersionOut]:
    """Every version of the merchant's information notice, newest first: what each member
    was given at enrolment (their `notice_version`). The default notice is listed once it
    has been given."""
    found = services.merchants.notice_versions(caller, merchant_id, page)
    return Page.of(found, lambda row: NoticeVersionOut(**row))


@router.post("/merchants/{merchant_id}/status", tags=["operator"])
def set_merchant_status(
    merchant_id: uuid.UUID,
    body: MerchantStatusChange,
    caller: OperatorCaller,
    services: ServicesDep,
) -> MerchantOut:
    """Suspend a merchant (its keys stop working) or make it active again."""
    return MerchantOut(**services.merchants.set_merchant_status(caller, merchant_id, body.status))


@router.get("/platform-accounts", tags=["operator"])
def find_platform_accounts(
    caller: OperatorCaller,
    services: ServicesDep,
    page: PageDep,
    phone: Annotated[str | None, Query(max_length=32, pattern=NO_NUL_CHARACTER)] = None,
    email: Annotated[str | None, Query(max_length=320, pattern=NO_NUL_CHARACTER)] = None,
) -> Page[PlatformAccountOut]:
    """The operator finds a customer's platform account by phone or e-mail (none or one)."""
    found = services.customers.find_platform_accounts(caller, phone=phone, email=email, page=page)
    return Page.of(found, lambda account: PlatformAccountOut(**account))


@router.post("/platform-accounts/{platform_account_id}/status", tags=["operator"])
def set_platform_account_status(
    platform_account_id: uuid.UUID,
    body: PlatformStatusChange,
    caller: OperatorCaller,
    services: ServicesDep,
) -> PlatformAccountOut:
    """The operator blocks a customer's platform account (no sign-in, no bonus code, every
    account frozen) or unblocks it, with a reason kept in the audit trail."""
    account = services.customers.set_platform_status(
        caller, platform_account_id, body.status, reason=body.reason
    )
    return PlatformAccountOut(**account)


@router.post("/assets", status_code=status.HTTP_201_CREATED, tags=["assets"])
def create_asset(body: AssetCreate, caller: Caller, services: ServicesDep) -> AssetOut:
    """The operator adds a currency; a merchant adds its own unit (points, stamps)."""
    return AssetOut(
        **services.merchants.create_asset(caller, code=body.code, scale=body.scale, name=body.name)
    )


@router.get("/assets", tags=["assets"])
def list_assets(caller: Caller, services: ServicesDep, page: PageDep) -> Page[AssetOut]:
    """The currencies and the merchant's own units, by code."""
    return Page.of(services.merchants.list_assets(caller, page), lambda row: AssetOut(**row))


@router.post("/stores", status_code=status.HTTP_201_CREATED, tags=["stores"])
def create_store(body: StoreCreate, caller: Caller, services: ServicesDep) -> StoreOut:
    return StoreOut(
        **services.merchants.create_store(
            caller, name=body.name, address=body.address, manager_email=body.manager_email
        )
    )


@router.get("/stores", tags=["stores"])
def list_stores(caller: Caller, services: ServicesDep, page: PageDep) -> Page[StoreOut]:
    """The merchant's stores, oldest first."""
    return Page.of(services.merchants.list_stores(caller, page), lambda row: StoreOut(**row))


@router.get("/stores/{store_id}", tags=["stores"])
def get_store(store_id: uuid.UUID, caller: Caller, services: ServicesDep) -> StoreOut:
    return StoreOut(**services.merchants.get_store(caller, store_id))


@router.post("/terminals", status_code=status.HTTP_201_CREATED, tags=["stores"])
def create_terminal(body: TerminalCreate, caller: Caller, services: ServicesDep) -> TerminalCreated:
    """A register, kiosk or e-store; the answer holds its API key, once."""
    terminal = services.merchants.create_terminal(
        caller, store_id=body.store_id, kind=body.kind, name=body.name
    )
    api_key = IssuedApiKeyOut(**asdict(terminal.pop("api_key")))
    return TerminalCreated(**terminal, api_key=api_key)


@router.get("/terminals", tags=["stores"])
def list_terminals(caller: Caller, services: ServicesDep, page: PageDep) -> Page[TerminalOut]:
    """The merchant's terminals, oldest first."""
    return Page.of(services.merchants.list_terminals(caller, page), lambda row: TerminalOut(**row))


@router.post("/staff", status_code=status.HTTP_201_CREATED, tags=["staff"])
def create_staff(body: StaffCreate, caller: Caller, services: ServicesDep) -> StaffOut:
    return StaffOut(
        **services.merchants.create_staff(
            caller, email=str(body.email), name=body.name, role=body.role, password=body.password
        )
    )


@router.get("/staff", tags=["staff"])
def list_staff(caller: Caller, services: ServicesDep, page: PageDep) -> Page[StaffOut]:
    """The merchant's staff, oldest first."""
    return Page.of(services.merchants.list_staff(caller, page), lambda row: StaffOut(**row))


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, tags=["staff"])
def create_api_key(body: ApiKeyCreate, caller: Caller, services: ServicesDep) -> IssuedApiKeyOut:
    issued = services.merchants.create_api_key(
        caller, name=body.name, role=body.role, store_id=body.store_id
    )
    return IssuedApiKeyOut(**asdict(issued))


@router.get("/api-keys", tags=["staff"])
def list_api_keys(caller: Caller, services: ServicesDep, page: PageDep) -> Page[ApiKeyOut]:
    """The merchant's API keys (revoked ones too), oldest first."""
    return Page.of(services.merchants.list_api_keys(caller, page), lambda row: ApiKeyOut(**row))


@router.post("/api-keys/{key_id}/revoke", tags=["staff"])
def revoke_api_key(key_id: uuid.UUID, caller: Caller, services: ServicesDep) -> ApiKeyOut:
    """Revoke a key: it stops working at once, on every server (PostgreSQL tells the others)."""
    return ApiKeyOut(**services.merchants.revoke_api_key(caller, key_id))
