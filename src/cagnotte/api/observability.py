"""What an operator watches: the request id, the access log, metrics, liveness and readiness.

Every request gets an id: the client's `X-Request-Id` when it is a plain token
of at most 128 characters, else a new one. It is sent back on the answer and is
in every log line written while the request is served (logs.request_id).

One access log line per request ("cagnotte.access"): method, route template,
status, duration and request id. The route template (`/v1/gift-cards/{number}`),
never the path itself or its query string, so that no code, card number or
token a path may carry is written down; a path that matched no route is logged
as "unmatched".
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import text
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cagnotte import metrics
from cagnotte.logs import request_id

access_log = logging.getLogger("cagnotte.access")

REQUEST_ID_HEADER = "X-Request-Id"
# What a client's request id may be: a token, nothing a log line could be forged with.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED_ROUTE = "unmatched"


def route_template(scope: Scope) -> str:
    """The path template of the route that served the request (set by the router)."""
    route = scope.get("route")
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class RequestObservability:
    """Gives each request its id, and writes its access log line and metrics when answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next(
            (value for name, value in scope["headers"] if name == b"x-request-id"), b""
        ).decode("latin-1")
        current = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        # Not reset afterwards: the 500 handler, outside this middleware, logs with it.
        request_id.set(current)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = current
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"]
        route = route_template(scope)
        metrics.http_requests.labels(method=method, route=route, status=str(status)).inc()
        metrics.http_request_duration.labels(method=method, route=route).observe(seconds)
        access_log.info(
            "%s %s %d %.1fms",
            method,
            route,
            status,
            seconds * 1000,
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
            },
        )


# Not in the OpenAPI: they are for the platform's probes and scrapers, not its clients.
router = APIRouter(include_in_schema=False)


@router.get("/healthz/live")
def live() -> dict[str, str]:
    """The process is up and answers: nothing else is checked (a restart would not help)."""
    return {"status": "ok"}


@router.get("/healthz/ready")
def ready(request: Request) -> dict[str, str]:
    """The database answers. When it does not, the 503 handler (api/unavailable.py)
    answers service_unavailable with Retry-After: the instance takes no traffic."""
    with request.app.state.services.database.read() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}


@router.get("/metrics")
def prometheus_metrics() -> Response:
    body, media_type = metrics.exposition()
    return Response(body, media_type=media_type)
