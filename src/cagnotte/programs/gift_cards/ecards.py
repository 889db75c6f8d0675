"""The e-card's mail: number, PIN, a QR code of the number, and the card's page."""

from __future__ import annotations

import io
from email.message import EmailMessage

import segno

from cagnotte.mail import compose


def qr_png(text: str, scale: int = 8) -> bytes:
    """A QR code of `text` as PNG bytes (what a register's scanner reads)."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_svg_data_uri(text: str, scale: int = 8) -> str:
    """The same QR code as an SVG data URI, for a page to show inline."""
    return segno.make(text, error="m").svg_data_uri(scale=scale, border=4)


def compose_ecard_mail(
    *,
    sender: str,
    to: str,
    merchant_name: str,
    amount_text: str,
    number: str,
    pin: str | None,
    recipient_name: str | None,
    sender_name: str | None,
    message: str | None,
    page_url: str,
) -> EmailMessage:
    greeting = f"Hello {recipient_name}," if recipient_name else "Hello,"
    giver = sender_name or "Someone"
    lines = [
        greeting,
        "",
        f"{giver} sends you a {merchant_name} gift card of {amount_text}.",
    ]
    if message:
        lines += ["", "Their message:", "", *[f"  {line}" for line in message.splitlines()]]
    lines += [
        "",
        f"Card number: {_grouped(number)}",
    ]
    if pin:
        lines.append(f"PIN: {pin}")
    lines += [
        "",
        "Show the attached QR code at the register, or open your card's page on your phone:",
        page_url,
        "",
        "Keep this message: the number and the PIN are not shown again.",
    ]
    return compose(
        sender,
        to,
        f"Your {merchant_name} gift card",
        "\n".join(lines) + "\n",
        attachments=[("gift-card-qr.png", "image/png", qr_png(number))],
    )


def _grouped(number: str) -> str:
    return " ".join(number[index : index + 4] for index in range(0, len(number), 4))
