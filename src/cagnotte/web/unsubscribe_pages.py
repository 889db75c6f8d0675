"""The page a marketing mail's unsubscribe link opens: one button, no sign-in.

GET only asks (a mail scanner that follows links unsubscribes nobody); the
button's POST withdraws the consent the link's signed token names. The mail's
List-Unsubscribe header points at POST /v1/unsubscribe/{token} for one-click
clients (RFC 8058).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from cagnotte import errors
from cagnotte.web.deps import ServicesDep
from cagnotte.web.rendering import render

router = APIRouter(include_in_schema=False)
Token = Annotated[str, Path(max_length=200)]


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: Token, services: ServicesDep) -> HTMLResponse:
    try:
        services.consents.read_unsubscribe_token(token)
    except errors.UnsubscribeLinkInvalid:
        return _invalid(request)
    return render(
        request,
        "unsubscribe.html",
        {
            "title": "Unsubscribe",
            "text": "Stop receiving these e-mails? You can subscribe again at any time "
            "from your customer page.",
            "ask": True,
        },
    )


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe_now(request: Request, token: Token, services: ServicesDep) -> HTMLResponse:
    try:
        services.consents.unsubscribe(token)
    except errors.UnsubscribeLinkInvalid:
        return _invalid(request)
    return render(
        request,
        "unsubscribe.html",
        {"title": "You are unsubscribed", "text": "You will receive no more of these e-mails."},
    )


def _invalid(request: Request) -> HTMLResponse:
    return render(
        request,
        "unsubscribe.html",
        {"title": "This link does not work", "text": "It may have been cut or altered."},
        status_code=404,
    )
