"""The register's hot path without FastAPI's general dependency solving.

A value-moving route of the shape `async def route(body: Model, move: ValueMoveDep)`
declared with `route_class_override=LeanValueMoveRoute` serves a well-formed
request itself: the bearer key authenticated, the Idempotency-Key taken and the
body hashed (api/deps.py, the same functions), the body validated against the
model as FastAPI does (JSON decoded, then the model in Python mode), and the
route called. Anything else (no or an unknown key, no Idempotency-Key or a long
one, the operator's Cagnotte-Merchant-Id, another media type, a body the model
refuses) goes the general way, FastAPI's, which answers it as it always has:
the lean way only skips work on the requests that need none of it.

The route object is FastAPI's own (only its handler differs), so the OpenAPI is
the same (tests/e2e/api/test_lean_routes.py compares it with the shipped one).
Measured by the issue behind it: solving the dependencies cost about a sixth of
a payment's CPU in the service.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from cagnotte.api.deps import IDEMPOTENCY_KEY_LENGTH_MAX, ValueMove, _idempotency

# Used by the tests to tell which way a request went.
LEAN_ANSWERS = {"count": 0}


class LeanValueMoveRoute(APIRoute):
    """An APIRoute whose well-formed requests skip the general dependency solving."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        general = super().get_route_handler()
        assert inspect.iscoroutinefunction(self.endpoint), "only an async route skips the pool"
        assert list(inspect.signature(self.endpoint).parameters) == ["body", "move"], self.path
        model = typing.get_type_hints(self.endpoint)["body"]
        assert isinstance(model, type) and issubclass(model, BaseModel), self.path
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            call = await _lean_call(request, model)
            if call is None:
                return await general(request)
            LEAN_ANSWERS["count"] += 1
            return await endpoint(*call)

        return handler


async def _lean_call(request: Request, model: type[BaseModel]) -> tuple[Any, ValueMove] | None:
    """The route's arguments for a well-formed request, or None (the general way)."""
    headers = request.headers
    key = headers.get("idempotency-key")
    if key is None or len(key) > IDEMPOTENCY_KEY_LENGTH_MAX or "cagnotte-merchant-id" in headers:
        return None
    media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        return None
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    services = request.app.state.services
    principal = services.merchants.authenticate_key(token)
    if principal is None:
        return None
    try:
        body = model.model_validate(json.loads(await request.body()))
    except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError too
        return None
    idempotency = await _idempotency(request, key)
    return body, ValueMove(caller=principal, idempotency=idempotency, services=services)
