"""Every request the README and docs/ name is a route: `POST /v1/…` in their text and
the curl commands of their blocks."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.api.conftest import client, mailer, services  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
IN_TEXT = re.compile(r"\b(GET|POST|PATCH|PUT|DELETE) (/[^\s`)*,;]+)")
CURL = re.compile(
    r"curl (?:-\w+ )*(?:-X (\w+) )?\"?(?:localhost:8000|\$CAGNOTTE)((?:[^\s\"'<]|<[^>]*>)+)"
)
# A path parameter as the pages write it: {card_id}, <check id>, $CARD.
PARAMETER = re.compile(r"\{[^}]+\}|<[^>]+>|\$\w+")
SOME_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def documented_requests() -> list[tuple[str, str, str]]:
    """(page, method, path) of each request the pages name."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for method, path in IN_TEXT.findall(text):
            if "…" not in path:
                found.append((page.name, method, path))
        for method, path in CURL.findall(text):
            found.append((page.name, method or "GET", path))
    return [(page, method, path.split("?")[0].rstrip(".")) for page, method, path in found]


def test_every_documented_request_is_a_route(client):  # noqa: F811
    requests = documented_requests()
    assert len(requests) >= 50, "the pages name fewer requests than they did"
    unrouted = []
    for page, method, path in requests:
        # Without a credential a route answers 401 (or its own refusal): only a path or
        # a method that does not exist answers the router's 404 not_found, or 405.
        response = client.request(method, PARAMETER.sub(SOME_ID, path))
        if response.status_code == 405 or (
            response.status_code == 404 and response.json().get("code") == "not_found"
        ):
            unrouted.append(f"{page}: {method} {path}")
    assert not unrouted, unrouted


def test_the_pages_the_readme_shows_answer(client):  # noqa: F811
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### The pages and the mail", 1)[1].split("\n## ", 1)[0]
    shown = [path for path in re.findall(r"`(/[\w/-]*)`", section)]
    assert {"/c", "/back-office", "/docs", "/redoc"} <= set(shown)
    for path in shown:
        # A page answers itself, or sends a visitor who is not signed in to sign in.
        response = client.get(path, follow_redirects=False)
        assert response.status_code in (200, 303), (path, response.status_code)
