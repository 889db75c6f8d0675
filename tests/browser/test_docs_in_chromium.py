"""/docs in a real Chromium: Swagger UI draws the operations under the page's CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
# The viewers parse the whole document in the page: seconds on a busy machine.
DRAWN_TIMEOUT_MS = 60_000


def test_swagger_ui_shows_the_operations_with_nothing_from_elsewhere(page, live_server):
    requested, refused = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(f"{live_server}/docs")
    expect(page.locator("#operations-wallets-create_payment")).to_be_visible(
        timeout=DRAWN_TIMEOUT_MS
    )
    assert refused == []
    assert all(url.startswith(live_server) or url.startswith("data:") for url in requested)


def test_redoc_shows_the_operations_with_nothing_from_elsewhere(page, live_server):
    requested, refused = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(f"{live_server}/redoc")
    expect(page.get_by_text("Pay from the customer's wallet to the merchant").first).to_be_attached(
        timeout=DRAWN_TIMEOUT_MS
    )
    # ReDoc's "powered by" logo points to its CDN: the policy blocks it, nothing else.
    assert all("redoc/logo-mini.svg" in message for message in refused), refused
    # The blocked logo may still show as a request Chromium began before refusing it.
    other = [
        u
        for u in requested
        if not (u.startswith(live_server) or u[:5] in ("data:", "blob:"))
        and not u.endswith("redoc/logo-mini.svg")
    ]
    assert other == []
