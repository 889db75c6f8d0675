"""Session cookies and CSRF tokens of the pages.

The customer page and the back-office each keep their own HttpOnly, SameSite=Lax
session cookie, scoped to their own path, holding the session token that
AuthService issued. A form that changes state carries a CSRF token:

- once signed in, an HMAC keyed by the session token, so it needs no server
  secret (every worker computes the same) and dies with the session;
- on the sign-in forms, before any session exists, an HMAC keyed by a random
  pre-session cookie (a signed double-submit cookie).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from fastapi import Request
from starlette.responses import Response

CUSTOMER_SESSION_COOKIE = "cagnotte_customer_session"
CUSTOMER_PAGES_PATH = "/c"
STAFF_SESSION_COOKIE = "cagnotte_staff_session"
STAFF_PAGES_PATH = "/back-office"
SIGN_IN_CSRF_COOKIE = "cagnotte_sign_in_csrf"
CSRF_FIELD = "csrf_token"
_CSRF_MESSAGE = b"cagnotte page form v1"


class SignInRequired(Exception):
    """The page needs a session the request does not have (or whose time is up)."""

    def __init__(self, sign_in_url: str, stale_cookie: tuple[str, str] | None = None) -> None:
        super().__init__(sign_in_url)
        self.sign_in_url = sign_in_url
        # (cookie name, path) of a session cookie that no longer opens a session.
        self.stale_cookie = stale_cookie


class CsrfRefused(Exception):
    """A state-changing form came without the token of this session."""


def csrf_token(secret: str) -> str:
    """The token a form must echo: an HMAC of a fixed message keyed by the secret."""
    return hmac.new(secret.encode(), _CSRF_MESSAGE, hashlib.sha256).hexdigest()


def require_csrf(secret: str | None, submitted: str) -> None:
    """Raise CsrfRefused unless the submitted token belongs to this secret."""
    if not secret or not submitted or not hmac.compare_digest(csrf_token(secret), submitted):
        raise CsrfRefused()


def sign_in_csrf_secret(request: Request) -> str:
    """The pre-session secret of this browser: its cookie, or a fresh one to set."""
    return request.cookies.get(SIGN_IN_CSRF_COOKIE) or secrets.token_urlsafe(32)


def require_sign_in_csrf(request: Request, submitted: str) -> None:
    require_csrf(request.cookies.get(SIGN_IN_CSRF_COOKIE), submitted)


def keep_sign_in_csrf_secret(request: Request, response: Response, secret: str) -> None:
    if request.cookies.get(SIGN_IN_CSRF_COOKIE) != secret:
        _set_cookie(request, response, SIGN_IN_CSRF_COOKIE, secret, path="/", max_age=None)


def open_session_cookie(
    request: Request,
    response: Response,
    name: str,
    path: str,
    token: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    """Hand the browser its session token; the server checks expiry on every request."""
    max_age = max(int((expires_at - now).total_seconds()), 0)
    _set_cookie(request, response, name, token, path=path, max_age=max_age)
    # A sign-in starts a new pre-session secret next time.
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/")


def close_session_cookie(response: Response, name: str, path: str) -> None:
    response.delete_cookie(name, path=path, httponly=True, samesite="lax")


def _set_cookie(
    request: Request,
    response: Response,
    name: str,
    value: str,
    *,
    path: str,
    max_age: int | None,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
