"""Jinja2 templates and the headers every page carries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cagnotte.i18n import PLATFORM_LOCALE, LocaleFormat, install_filters, negotiate

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

# Pages hold personal data and per-session tokens: never cached, never framed,
# no script and no resource from anywhere else.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        # data: images and clips are the captchas, made for one page and never stored.
        "default-src 'none'; style-src 'self'; img-src 'self' data:; media-src data:; "
        "form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def format_moment(moment: datetime) -> str:
    """'5 Jan 2026, 09:30 UTC': unambiguous in every locale."""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def iso_moment(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["iso_moment"] = iso_moment
    # `money`, `date` and `moment`, written for the page's `locale_format`.
    install_filters(environment)
    return environment


_templates = _environment()


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """The page, its money and moments written for `locale_format` (a back-office page
    gives its merchant's), else for the browser's language in the platform's zone."""
    if "locale_format" not in context:
        context = {
            **context,
            "locale_format": LocaleFormat(
                negotiate(request.headers.get("accept-language")), PLATFORM_LOCALE.time_zone
            ),
        }
    html = _templates.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
