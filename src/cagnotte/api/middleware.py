"""What every request and answer goes through: the body's size limit, and the headers
every answer carries (nosniff always, HSTS when it was served over TLS)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cagnotte import errors
from cagnotte.api.problems import problem_response

# A year, as browsers' preload lists ask. Subdomains are left out: the platform's
# host says nothing of the others on its domain.
HSTS_MAX_AGE_SECONDS = 365 * 24 * 3600


class SecurityHeaders:
    """Adds X-Content-Type-Options: nosniff to every answer (API, problems, pages).

    Strict-Transport-Security goes on answers to requests that came over TLS:
    the request's scheme is https, either because the server itself holds the
    certificate or because a trusted proxy said so (X-Forwarded-Proto, believed
    only from Settings.trusted_proxies). Over plain HTTP the header means
    nothing, and a development server on http://127.0.0.1 must not pin itself.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        over_tls = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if over_tls:
                    headers.setdefault(
                        "Strict-Transport-Security", f"max-age={HSTS_MAX_AGE_SECONDS}"
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(HTTPException):
    """Raised from `receive` when the body read so far is over the limit.

    An HTTPException, so that FastAPI lets it through its body parsing and the
    problem handler answers it (413 request_too_large).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"A request body is at most {limit} bytes.")


class BodyLimit:
    """Refuses a request body larger than the limit, before it is read whole.

    A declared Content-Length over the limit is answered at once, unread. A body
    without one (chunked) is counted as it is read: the first chunk over the
    limit ends the request. Some paths (a catalogue import) have a limit of
    their own in `limits_by_path`, larger or smaller.
    """

    def __init__(self, app: ASGIApp, limit: int, limits_by_path: Mapping[str, int]) -> None:
        self.app = app
        self.limit = limit
        self.limits_by_path = dict(limits_by_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits_by_path.get(scope["path"], self.limit)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            error = BodyTooLarge(limit)
            response = problem_response(
                413, errors.RequestTooLarge.code, errors.RequestTooLarge.message, error.detail
            )
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, receive_within_limit, send)
