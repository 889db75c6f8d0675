"""The back-office gift card pages: alerts, card lookup, reports and their downloads.

Every page needs a staff session; what a role may see is the service's rule
(alerts, cards and reports need a manager or owner), and a refusal is a page
saying so, never another merchant's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cagnotte import errors
from cagnotte.web import gift_card_views
from cagnotte.web.deps import ServicesDep, StaffSession, StaffSessionDep, get_services
from cagnotte.web.rendering import render
from cagnotte.web.sessions import CSRF_FIELD, STAFF_PAGES_PATH, require_csrf

GIFT_CARD_PAGES_PATH = f"{STAFF_PAGES_PATH}/gift-cards"
SIGN_OUT_URL = f"{STAFF_PAGES_PATH}/sign-out"
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

router = APIRouter(prefix=GIFT_CARD_PAGES_PATH, include_in_schema=False)

DateFrom = Annotated[date | None, Query(alias="from")]
DateTo = Annotated[date | None, Query(alias="to")]
FormText = Annotated[str, Form(max_length=1000)]
CsrfField = Annotated[str, Form(alias=CSRF_FIELD)]


def _page(
    request: Request,
    session: StaffSession,
    template: str,
    section: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        template,
        {
            **context,
            "section": section,
            "staff_role": session.principal.role,
            "csrf_token": session.csrf_token,
            "sign_out_url": SIGN_OUT_URL,
            # The merchant's locale writes the page's moments.
            "locale_format": get_services(request)
            .merchants.locale_of(session.principal.merchant_id)
            .format,
        },
        status_code,
    )


def _refused(
    request: Request, session: StaffSession, section: str, text: str, status_code: int
) -> HTMLResponse:
    return _page(
        request,
        session,
        "gift_cards/refused.html",
        section,
        {"title": "Not available", "text": text},
        status_code,
    )


def _forbidden(request: Request, session: StaffSession, section: str) -> HTMLResponse:
    return _refused(
        request,
        session,
        section,
        f"Your role ({session.principal.role}) does not open the gift card "
        "back-office. Ask a manager or the owner.",
        403,
    )


@router.get("")
def alerts(request: Request, session: StaffSessionDep, services: ServicesDep) -> HTMLResponse:
    """The merchant's gift card alerts, newest first."""
    try:
        rows = gift_card_views.gift_card_alerts(services, session.principal)
    except errors.Forbidden:
        return _forbidden(request, session, "alerts")
    return _page(request, session, "gift_cards/alerts.html", "alerts", {"alerts": rows})


@router.get("/cards")
def find_cards(
    request: Request,
    session: StaffSessionDep,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    """Cards by last four digits or by whole number."""
    try:
        lookup = gift_card_views.find_gift_cards(services, session.principal, q)
    except errors.Forbidden:
        return _forbidden(request, session, "cards")
    return _page(
        request,
        session,
        "gift_cards/cards.html",
        "cards",
        {"lookup": lookup},
        400 if lookup.error else 200,
    )


def _card_page(
    request: Request,
    session: StaffSession,
    services: ServicesDep,
    card_id: uuid.UUID,
    *,
    done: str = "",
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        detail = gift_card_views.gift_card_detail(services, session.principal, card_id)
    except errors.Forbidden:
        return _forbidden(request, session, "cards")
    except errors.NotFound:
        return _refused(request, session, "cards", "There is no such card.", 404)
    return _page(
        request,
        session,
        "gift_cards/card.html",
        "cards",
        {
            "card": detail,
            "done": gift_card_views.DONE_MESSAGES.get(done),
            "error": error,
            "form": form or {},
            "form_key": uuid.uuid4().hex,
            "card_url": f"{GIFT_CARD_PAGES_PATH}/cards/{card_id}",
        },
        status_code,
    )


@router.get("/cards/{card_id}")
def card(
    request: Request,
    card_id: uuid.UUID,
    session: StaffSessionDep,
    services: ServicesDep,
    done: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """One card: state, balance and history (never its number or PIN), and its operations."""
    return _card_page(request, session, services, card_id, done=done)


def _operate(
    request: Request,
    session: StaffSession,
    services: ServicesDep,
    card_id: uuid.UUID,
    csrf: str,
    operation: Callable[[], str],
    form: dict[str, str] | None = None,
) -> HTMLResponse | RedirectResponse:
    """Check the form's token, run one service operation, and go back to the card page:
    with a message saying it is done, or the page again with the service's refusal."""
    require_csrf(session.token, csrf)
    try:
        done = operation()
    except errors.Forbidden:
        return _forbidden(request, session, "cards")
    except errors.NotFound:
        return _refused(request, session, "cards", "There is no such card.", 404)
    except errors.DomainError as error:
        return _card_page(
            request, session, services, card_id, error=error.message, form=form, status_code=400
        )
    return RedirectResponse(f"{GIFT_CARD_PAGES_PATH}/cards/{card_id}?done={done}", status_code=303)


@router.post("/cards/{card_id}/close", response_model=None)
def close(
    request: Request,
    card_id: uuid.UUID,
    session: StaffSessionDep,
    services: ServicesDep,
    csrf: CsrfField = "",
    confirm: FormText = "",
) -> HTMLResponse | RedirectResponse:
    """Close the card for good, once the box saying so is ticked."""

    def operation() -> str:
        if confirm != "yes":
            raise errors.InvalidInput("Tick the box to confirm that the card closes for good.")
        return gift_card_views.change_gift_card_state(services, session.principal, card_id, "close")

    return _operate(request, session, services, card_id, csrf, operation)


@router.post("/cards/{card_id}/adjustments", response_model=None)
def adjust(
    request: Request,
    card_id: uuid.UUID,
    session: StaffSessionDep,
    services: ServicesDep,
    csrf: CsrfField = "",
    direction: FormText = "",
    amount: FormText = "",
    reason: FormText = "",
    form_key: FormText = "",
) -> HTMLResponse | RedirectResponse:
    """A manual correction of the balance, with a reason."""
    return _operate(
        request,
        session,
        services,
        card_id,
        csrf,
        lambda: gift_card_views.adjust_gift_card(
            services,
            session.principal,
            card_id,
            direction=direction,
            amount=amount,
            reason=reason,
            form_key=form_key,
        ),
        form={"direction": direction, "amount": amount, "reason": reason},
    )


@router.post("/cards/{card_id}/balance-transfer", response_model=None)
def transfer_balance(
    request: Request,
    card_id: uuid.UUID,
    session: StaffSessionDep,
    services: ServicesDep,
    csrf: CsrfField = "",
    to_number: FormText = "",
    form_key: FormText = "",
) -> HTMLResponse | RedirectResponse:
    """Move the whole balance to a new card, named by its number; this card closes."""
    return _operate(
        request,
        session,
        services,
        card_id,
        csrf,
        lambda: gift_card_views.transfer_gift_card_balance(
            services,
            session.principal,
            card_id,
            to_number=to_number,
            form_key=form_key,
        ),
    )


@router.post("/cards/{card_id}/{action}", response_model=None)
def change_state(
    request: Request,
    card_id: uuid.UUID,
    action: Literal["freeze", "unfreeze", "unlock"],
    session: StaffSessionDep,
    services: ServicesDep,
    csrf: CsrfField = "",
) -> HTMLResponse | RedirectResponse:
    """Freeze, unfreeze, or lift a PIN lock; the service asks for a manager or owner.
    (Declared after the other operations, whose paths it would otherwise take.)"""
    return _operate(
        request,
        session,
        services,
        card_id,
        csrf,
        lambda: gift_card_views.change_gift_card_state(
            services, session.principal, card_id, action
        ),
    )


@router.get("/reports")
def reports(
    request: Request,
    session: StaffSessionDep,
    services: ServicesDep,
    date_from: DateFrom = None,
    date_to: DateTo = None,
) -> HTMLResponse:
    """Liability per program, and loads, spends, breakage per day and store."""
    date_from, date_to = gift_card_views.report_period(
        services, session.principal, date_from, date_to
    )
    try:
        page = gift_card_views.gift_card_reports(services, session.principal, date_from, date_to)
    except errors.Forbidden:
        return _forbidden(request, session, "reports")
    return _page(
        request,
        session,
        "gift_cards/reports.html",
        "reports",
        {"page": page},
        400 if page.error else 200,
    )


@router.get("/reports/{report}.{file_format}", response_model=None)
def report_file(
    request: Request,
    report: Literal["liability", "activity"],
    file_format: Literal["csv", "xlsx"],
    session: StaffSessionDep,
    services: ServicesDep,
    date_from: DateFrom = None,
    date_to: DateTo = None,
) -> Response:
    """A report as a CSV or XLSX download, made by the service's export."""
    date_from, date_to = gift_card_views.report_period(
        services, session.principal, date_from, date_to
    )
    try:
        content, filename = gift_card_views.gift_card_report_file(
            services, session.principal, report, file_format, date_from, date_to
        )
    except errors.Forbidden:
        return _forbidden(request, session, "reports")
    except errors.InvalidInput as error:
        return _refused(request, session, "reports", error.message, 400)
    return Response(
        content,
        media_type=MEDIA_TYPES[file_format],
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
