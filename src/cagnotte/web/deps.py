"""What a page handler needs before it runs: the services, and who is signed in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from cagnotte import errors
from cagnotte.bootstrap import Services
from cagnotte.security.principals import CustomerPrincipal, Principal
from cagnotte.web.sessions import (
    CUSTOMER_PAGES_PATH,
    CUSTOMER_SESSION_COOKIE,
    STAFF_PAGES_PATH,
    STAFF_SESSION_COOKIE,
    SignInRequired,
    csrf_token,
)


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass(frozen=True, slots=True)
class CustomerSession:
    principal: CustomerPrincipal
    token: str

    @property
    def csrf_token(self) -> str:
        return csrf_token(self.token)


@dataclass(frozen=True, slots=True)
class StaffSession:
    principal: Principal
    token: str

    @property
    def csrf_token(self) -> str:
        return csrf_token(self.token)


def get_customer_session(request: Request, services: ServicesDep) -> CustomerSession:
    token = request.cookies.get(CUSTOMER_SESSION_COOKIE)
    if not token:
        raise SignInRequired(f"{CUSTOMER_PAGES_PATH}/sign-in")
    try:
        principal = services.auth.customer_for_token(token)
    except (errors.Unauthenticated, errors.CustomerBlocked):
        # A blocked platform account is signed out; signing in again says why.
        raise SignInRequired(
            f"{CUSTOMER_PAGES_PATH}/sign-in", (CUSTOMER_SESSION_COOKIE, CUSTOMER_PAGES_PATH)
        ) from None
    return CustomerSession(principal, token)


def get_staff_session(request: Request, services: ServicesDep) -> StaffSession:
    token = request.cookies.get(STAFF_SESSION_COOKIE)
    if not token:
        raise SignInRequired(f"{STAFF_PAGES_PATH}/sign-in")
    try:
        principal = services.auth.staff_for_token(token)
    except errors.Unauthenticated:
        raise SignInRequired(
            f"{STAFF_PAGES_PATH}/sign-in", (STAFF_SESSION_COOKIE, STAFF_PAGES_PATH)
        ) from None
    return StaffSession(principal, token)


CustomerSessionDep = Annotated[CustomerSession, Depends(get_customer_session)]
StaffSessionDep = Annotated[StaffSession, Depends(get_staff_session)]
