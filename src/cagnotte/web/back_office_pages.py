"""The merchant back-office: staff sign in with a password, then the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from cagnotte import errors
from cagnotte.web import views
from cagnotte.web.deps import ServicesDep, StaffSessionDep
from cagnotte.web.forms import EMAIL_LENGTH_MAX, PASSWORD_LENGTH_MAX
from cagnotte.web.rendering import format_moment, render
from cagnotte.web.sessions import (
    CSRF_FIELD,
    STAFF_PAGES_PATH,
    STAFF_SESSION_COOKIE,
    close_session_cookie,
    csrf_token,
    keep_sign_in_csrf_secret,
    open_session_cookie,
    require_csrf,
    require_sign_in_csrf,
    sign_in_csrf_secret,
)

router = APIRouter(prefix=STAFF_PAGES_PATH, include_in_schema=False)

FormText = Annotated[str, Form()]
CsrfField = Annotated[str, Form(alias=CSRF_FIELD)]
SIGN_OUT_URL = f"{STAFF_PAGES_PATH}/sign-out"


def _sign_in_page(
    request: Request, *, email: str = "", error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    secret = sign_in_csrf_secret(request)
    response = render(
        request,
        "staff_sign_in.html",
        {"email": email, "error": error, "csrf_token": csrf_token(secret)},
        status_code,
    )
    keep_sign_in_csrf_secret(request, response, secret)
    return response


@router.get("/sign-in")
def sign_in_form(request: Request) -> HTMLResponse:
    return _sign_in_page(request)


@router.post("/sign-in", response_model=None)
def sign_in(
    request: Request,
    services: ServicesDep,
    csrf: CsrfField = "",
    email: FormText = "",
    password: FormText = "",
) -> HTMLResponse | RedirectResponse:
    require_sign_in_csrf(request, csrf)
    email = email.strip()[:EMAIL_LENGTH_MAX]
    if not email or not password:
        return _sign_in_page(
            request, email=email, error="Enter your e-mail and your password.", status_code=400
        )
    try:
        session = services.auth.staff_sign_in(email, password[:PASSWORD_LENGTH_MAX])
    except errors.SignInFailed as error:
        return _sign_in_page(request, email=email, error=error.message, status_code=400)
    except errors.LockedOut as error:
        until = format_moment(datetime.fromisoformat(error.details["locked_until"]))
        return _sign_in_page(
            request,
            email=email,
            status_code=423,
            error=f"Too many failed sign-ins: this account is locked until {until}.",
        )
    response = RedirectResponse(STAFF_PAGES_PATH, status_code=303)
    open_session_cookie(
        request,
        response,
        STAFF_SESSION_COOKIE,
        STAFF_PAGES_PATH,
        session.token,
        session.expires_at,
        services.clock.now(),
    )
    return response


@router.get("")
def dashboard(
    request: Request,
    session: StaffSessionDep,
    services: ServicesDep,
    name: str = "",
    phone: str = "",
) -> HTMLResponse:
    page = views.staff_dashboard(services, session.principal, name=name, phone=phone)
    return render(
        request,
        "staff_dashboard.html",
        {
            "page": page,
            "csrf_token": session.csrf_token,
            "sign_out_url": SIGN_OUT_URL,
            "locale_format": services.merchants.locale_of(session.principal.merchant_id).format,
        },
    )


@router.post("/sign-out")
def sign_out(
    session: StaffSessionDep, services: ServicesDep, csrf: CsrfField = ""
) -> RedirectResponse:
    require_csrf(session.token, csrf)
    services.auth.sign_out(session.token)
    response = RedirectResponse(f"{STAFF_PAGES_PATH}/sign-in", status_code=303)
    close_session_cookie(response, STAFF_SESSION_COOKIE, STAFF_PAGES_PATH)
    return response
