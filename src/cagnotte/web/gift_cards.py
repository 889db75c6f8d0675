"""The e-card's own page: the balance and a QR code of the number, for a phone to show
at the register. The page's address (mailed to the recipient) is its only key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cagnotte import errors
from cagnotte.programs.gift_cards.ecards import qr_svg_data_uri
from cagnotte.web.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/gift-cards/e/{page_token}", response_class=HTMLResponse)
def ecard_page(page_token: str, request: Request) -> HTMLResponse:
    services = request.app.state.services
    try:
        card = services.gift_cards.ecard_page(page_token)
    except errors.NotFound:
        return render(
            request,
            "message.html",
            {
                "title": "No such card",
                "text": "This address names no gift card.",
                "back_url": "/c",
                "back_text": "Customer page",
            },
            404,
        )
    number = card["number"]
    return render(
        request,
        "gift_cards/ecard.html",
        {
            "card": card,
            "locale_format": card["locale_format"],
            "grouped_number": " ".join(number[i : i + 4] for i in range(0, len(number), 4)),
            "qr_code": qr_svg_data_uri(number),
        },
    )
