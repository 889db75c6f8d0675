"""Server-rendered pages: the customer page (/c) and the merchant back-office (/back-office)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from cagnotte.web import (
    back_office_pages,
    customer_pages,
    gift_card_pages,
    gift_cards,
    unsubscribe_pages,
)
from cagnotte.web.rendering import STATIC_DIR, render
from cagnotte.web.sessions import (
    CUSTOMER_PAGES_PATH,
    STAFF_PAGES_PATH,
    CsrfRefused,
    SignInRequired,
    close_session_cookie,
)

__all__ = ["install_pages", "unavailable_page"]


def install_pages(app: FastAPI) -> None:
    """Add the pages, their static files and their two refusals to the app."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(customer_pages.router)
    app.include_router(back_office_pages.router)
    app.include_router(gift_card_pages.router)
    app.include_router(gift_cards.router)
    app.include_router(unsubscribe_pages.router)
    app.add_exception_handler(SignInRequired, _send_to_sign_in)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfRefused, _refuse_form)  # type: ignore[arg-type]


def _send_to_sign_in(request: Request, error: SignInRequired) -> RedirectResponse:
    response = RedirectResponse(error.sign_in_url, status_code=303)
    if error.stale_cookie is not None:
        close_session_cookie(response, *error.stale_cookie)
    return response


def _refuse_form(request: Request, error: CsrfRefused) -> HTMLResponse:
    in_back_office = request.url.path.startswith(STAFF_PAGES_PATH)
    return render(
        request,
        "message.html",
        {
            "title": "This form has expired",
            "text": "For your safety the form was not accepted. Go back, reload the page "
            "and send it again.",
            "back_url": STAFF_PAGES_PATH if in_back_office else CUSTOMER_PAGES_PATH,
            "back_text": "Start again",
        },
        403,
    )


def unavailable_page(request: Request) -> HTMLResponse:
    """The page shown when the database is busy or out of reach (503): try again shortly."""
    again = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(
        request,
        "message.html",
        {
            "title": "Please try again in a moment",
            "text": "We cannot serve this page just now. Wait a few seconds and try again.",
            "back_url": again if request.method == "GET" else None,
            "back_text": "Try again",
        },
        503,
    )
