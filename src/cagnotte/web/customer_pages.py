"""The customer page: sign in with a one-time code sent by e-mail, then the wallet."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from cagnotte import errors
from cagnotte.bootstrap import Services
from cagnotte.i18n import negotiate
from cagnotte.programs.gift_cards.ecards import qr_svg_data_uri
from cagnotte.security.auth import ONE_TIME_CODE_LIFETIME
from cagnotte.security.member_tokens import MEMBER_TOKEN_LIFETIME
from cagnotte.web import gift_card_views, views
from cagnotte.web.deps import CustomerSession, CustomerSessionDep, ServicesDep
from cagnotte.web.forms import EMAIL_LENGTH_MAX, looks_like_email
from cagnotte.web.rendering import render
from cagnotte.web.sessions import (
    CSRF_FIELD,
    CUSTOMER_PAGES_PATH,
    CUSTOMER_SESSION_COOKIE,
    close_session_cookie,
    csrf_token,
    keep_sign_in_csrf_secret,
    open_session_cookie,
    require_csrf,
    require_sign_in_csrf,
    sign_in_csrf_secret,
)

router = APIRouter(prefix=CUSTOMER_PAGES_PATH, include_in_schema=False)

CODE_LENGTH_MAX = 20
GIFT_CARD_NUMBER_LENGTH_MAX = 40
PIN_LENGTH_MAX = 12
SIGN_OUT_URL = f"{CUSTOMER_PAGES_PATH}/sign-out"
FormText = Annotated[str, Form()]
CsrfField = Annotated[str, Form(alias=CSRF_FIELD)]


def _sign_in_page(
    request: Request,
    *,
    step: str,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    secret = sign_in_csrf_secret(request)
    response = render(
        request,
        "customer_sign_in.html",
        {
            "step": step,
            "email": email,
            "error": error,
            "csrf_token": csrf_token(secret),
            "code_minutes": int(ONE_TIME_CODE_LIFETIME.total_seconds() // 60),
        },
        status_code,
    )
    keep_sign_in_csrf_secret(request, response, secret)
    return response


@router.get("/sign-in")
def sign_in_form(request: Request) -> HTMLResponse:
    return _sign_in_page(request, step="email")


@router.post("/sign-in")
def send_sign_in_code(
    request: Request, services: ServicesDep, csrf: CsrfField = "", email: FormText = ""
) -> HTMLResponse:
    require_sign_in_csrf(request, csrf)
    email = email.strip()[:EMAIL_LENGTH_MAX]
    if not looks_like_email(email):
        return _sign_in_page(
            request,
            step="email",
            email=email,
            status_code=400,
            error="Enter your e-mail address, like name@example.com.",
        )
    services.auth.send_customer_code(
        email, locale=negotiate(request.headers.get("accept-language"))
    )
    return _sign_in_page(request, step="code", email=email)


@router.post("/sign-in/code", response_model=None)
def verify_sign_in_code(
    request: Request,
    services: ServicesDep,
    csrf: CsrfField = "",
    email: FormText = "",
    code: FormText = "",
) -> HTMLResponse | RedirectResponse:
    require_sign_in_csrf(request, csrf)
    email = email.strip()[:EMAIL_LENGTH_MAX]
    code = "".join(code.split())[:CODE_LENGTH_MAX]
    try:
        session = services.auth.verify_customer_code(email, code)
    except (errors.OneTimeCodeInvalid, errors.CustomerBlocked) as error:
        return _sign_in_page(
            request, step="code", email=email, error=error.message, status_code=400
        )
    response = RedirectResponse(CUSTOMER_PAGES_PATH, status_code=303)
    open_session_cookie(
        request,
        response,
        CUSTOMER_SESSION_COOKIE,
        CUSTOMER_PAGES_PATH,
        session.token,
        session.expires_at,
        services.clock.now(),
    )
    return response


def _wallet_page(
    request: Request,
    services: Services,
    session: CustomerSession,
    *,
    gift_card_error: str | None = None,
    registered_last4: str | None = None,
    consent_changed: views.ConsentView | None = None,
    consent_error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    home = views.customer_home(services, session.principal.customer_id)
    return render(
        request,
        "customer_wallet.html",
        {
            "memberships": home.memberships,
            "home": home,
            "gift_card_error": gift_card_error,
            "registered_last4": registered_last4,
            "consent_changed": consent_changed,
            "consent_error": consent_error,
            "csrf_token": session.csrf_token,
            "sign_out_url": SIGN_OUT_URL,
        },
        status_code,
    )


@router.get("")
def wallet(request: Request, session: CustomerSessionDep, services: ServicesDep) -> HTMLResponse:
    return _wallet_page(request, services, session)


@router.post("/gift-cards")
def register_gift_card(
    request: Request,
    session: CustomerSessionDep,
    services: ServicesDep,
    csrf: CsrfField = "",
    merchant_id: FormText = "",
    number: FormText = "",
    pin: FormText = "",
) -> HTMLResponse:
    """Register a gift card (number and PIN) to the customer's membership at a shop."""
    require_csrf(session.token, csrf)
    if not number.strip() or not pin.strip():
        return _wallet_page(
            request,
            services,
            session,
            status_code=400,
            gift_card_error="Enter the card number and its PIN.",
        )
    try:
        shop = uuid.UUID(merchant_id)
    except ValueError:
        return _wallet_page(
            request,
            services,
            session,
            status_code=400,
            gift_card_error="Choose the shop of the card.",
        )
    try:
        last4 = gift_card_views.register_gift_card(
            services,
            session.principal.customer_id,
            merchant_id=shop,
            number=number[:GIFT_CARD_NUMBER_LENGTH_MAX],
            pin=pin.strip()[:PIN_LENGTH_MAX],
        )
    except errors.DomainError as error:
        return _wallet_page(
            request, services, session, gift_card_error=error.message, status_code=400
        )
    return _wallet_page(request, services, session, registered_last4=last4)


@router.post("/consents")
def change_consent(
    request: Request,
    session: CustomerSessionDep,
    services: ServicesDep,
    csrf: CsrfField = "",
    merchant_id: FormText = "",
    channel: FormText = "",
    granted: FormText = "",
) -> HTMLResponse:
    """Give or withdraw consent to one shop's marketing on one channel (the event's
    source: `customer_page`)."""
    require_csrf(session.token, csrf)
    try:
        shop = uuid.UUID(merchant_id)
    except ValueError:
        shop = None
    if shop is None or channel not in views.CONSENT_LABELS or granted not in ("true", "false"):
        return _wallet_page(
            request,
            services,
            session,
            status_code=400,
            consent_error="That choice cannot be recorded: reload the page and try again.",
        )
    try:
        changed = views.change_own_consent(
            services, session.principal.customer_id, shop, channel, granted == "true"
        )
    except errors.NotFound:
        return _wallet_page(
            request,
            services,
            session,
            status_code=404,
            consent_error="You are not a member of that shop.",
        )
    return _wallet_page(request, services, session, consent_changed=changed)


@router.get("/accounts/{account_id}")
def account_history(
    request: Request,
    account_id: uuid.UUID,
    session: CustomerSessionDep,
    services: ServicesDep,
    cursor: str | None = None,
) -> HTMLResponse:
    try:
        page = views.customer_account(services, session.principal.customer_id, account_id, cursor)
    except (errors.AccountNotFound, errors.InvalidCursor):
        return render(
            request,
            "message.html",
            {
                "title": "Not found",
                "text": "There is no such account in your wallet.",
                "back_url": CUSTOMER_PAGES_PATH,
                "back_text": "Back to your wallet",
                "csrf_token": session.csrf_token,
                "sign_out_url": SIGN_OUT_URL,
            },
            404,
        )
    return render(
        request,
        "customer_account.html",
        {"page": page, "csrf_token": session.csrf_token, "sign_out_url": SIGN_OUT_URL},
    )


# The member code page shows a new code a little before the one it shows ends.
MEMBER_CODE_REFRESH_SECONDS = int(MEMBER_TOKEN_LIFETIME.total_seconds()) - 20


@router.get("/member-code/{merchant_id}")
def member_code(
    request: Request, merchant_id: uuid.UUID, session: CustomerSessionDep, services: ServicesDep
) -> HTMLResponse:
    """The member's QR code for the register: short-lived, so the page renews it by itself."""
    try:
        token, expires_at = services.customers.member_token(
            session.principal.customer_id, merchant_id
        )
    except errors.NotFound:
        return render(
            request,
            "message.html",
            {
                "title": "Not found",
                "text": "You are not an active member of this shop.",
                "back_url": CUSTOMER_PAGES_PATH,
                "back_text": "Back to your wallet",
                "csrf_token": session.csrf_token,
                "sign_out_url": SIGN_OUT_URL,
            },
            404,
        )
    names = services.merchants.merchant_names([merchant_id])
    return render(
        request,
        "customer_member_code.html",
        {
            "merchant_name": names.get(merchant_id, "—"),
            "token": token,
            "qr_code": qr_svg_data_uri(token),
            "expires_at": expires_at,
            "refresh_seconds": MEMBER_CODE_REFRESH_SECONDS,
            "csrf_token": session.csrf_token,
            "sign_out_url": SIGN_OUT_URL,
        },
    )


BONUS_URL = f"{CUSTOMER_PAGES_PATH}/bonus"


def _bonus_page(
    request: Request,
    services: Services,
    session: CustomerSession,
    *,
    error: str | None = None,
    credited: views.BonusCredited | None = None,
    status_code: int = 200,
    captcha_kind: str = "image",
) -> HTMLResponse:
    form = views.bonus_form(
        services, session.principal.customer_id, _client_address(request), captcha_kind
    )
    if form.captchas_refused:
        status_code = 429
    response = render(
        request,
        "customer_bonus.html",
        {
            "form": form,
            "error": error,
            "credited": credited,
            "csrf_token": session.csrf_token,
            "sign_out_url": SIGN_OUT_URL,
        },
        status_code,
    )
    if form.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(form.retry_after_seconds)
    return response


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/bonus")
def bonus_form(
    request: Request, session: CustomerSessionDep, services: ServicesDep, captcha: str = "image"
) -> HTMLResponse:
    """The bonus code form: the code and the text of a captcha picture, or with
    `?captcha=audio` the digits of a spoken clip (the accessible alternative)."""
    return _bonus_page(request, services, session, captcha_kind=captcha)


@router.post("/bonus")
def redeem_bonus_code(
    request: Request,
    session: CustomerSessionDep,
    services: ServicesDep,
    csrf: CsrfField = "",
    code: FormText = "",
    captcha_id: FormText = "",
    captcha_answer: FormText = "",
    captcha_kind: FormText = "image",
) -> HTMLResponse:
    require_csrf(session.token, csrf)
    try:
        challenge = uuid.UUID(captcha_id)
    except ValueError:
        return _bonus_page(
            request,
            services,
            session,
            status_code=400,
            error=errors.CaptchaInvalid.message,
            captcha_kind=captcha_kind,
        )
    try:
        credited = views.redeem_bonus_code(
            services,
            session.principal.customer_id,
            code=code[:40],
            captcha_id=challenge,
            captcha_answer=captcha_answer[:20],
            client_address=_client_address(request),
        )
    except errors.DomainError as error:
        return _bonus_page(
            request,
            services,
            session,
            error=error.message,
            status_code=400,
            captcha_kind=captcha_kind,
        )
    return _bonus_page(request, services, session, credited=credited, captcha_kind=captcha_kind)


@router.post("/sign-out")
def sign_out(
    session: CustomerSessionDep, services: ServicesDep, csrf: CsrfField = ""
) -> RedirectResponse:
    require_csrf(session.token, csrf)
    services.auth.sign_out(session.token)
    response = RedirectResponse(f"{CUSTOMER_PAGES_PATH}/sign-in", status_code=303)
    close_session_cookie(response, CUSTOMER_SESSION_COOKIE, CUSTOMER_PAGES_PATH)
    return response
