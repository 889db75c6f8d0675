"""Dependencies: who is calling, and the Idempotency-Key of a request that moves value."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cagnotte import errors
from cagnotte.bootstrap import Services
from cagnotte.db.unit_of_work import Idempotency
from cagnotte.security.principals import CustomerPrincipal, Principal

# The ledger keeps 200 characters; packages derive their keys from the client's (a prefix,
# or a card id per card of a batch activation), so the client's part is kept shorter.
IDEMPOTENCY_KEY_LENGTH_MAX = 150
_bearer = HTTPBearer(auto_error=False, description="An API key, or a customer session token.")


# The dependencies are `async def` although they do no awaiting: a sync dependency
# costs a hop to the thread pool and back on every request (measured by the
# benchmark as a large share of a payment's CPU). On a cache miss the API key
# lookup reads the database on the event loop; that is short and rare.
async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


# A string in the OpenAPI (a generated client sends a header as text), parsed here.
MerchantHeader = Annotated[
    str | None,
    Header(
        alias="Cagnotte-Merchant-Id",
        max_length=36,
        description="With an operator key: the id (a UUID) of the merchant to act for.",
    ),
]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def get_caller(
    services: ServicesDep, credentials: Credentials, merchant_header: MerchantHeader = None
) -> Principal:
    """The merchant-side caller: an API key (the operator may name a merchant to act for)."""
    return _caller(services, credentials, merchant_header)


async def get_operator_caller(services: ServicesDep, credentials: Credentials) -> Principal:
    """The caller of an operator's own route: no merchant to act for (the use case checks
    that it is the operator)."""
    return _caller(services, credentials, None)


def _caller(
    services: Services,
    credentials: HTTPAuthorizationCredentials | None,
    merchant_header: str | None,
) -> Principal:
    if credentials is None:
        raise errors.Unauthenticated()
    principal = services.merchants.authenticate_key(credentials.credentials)
    if principal is None:
        raise errors.Unauthenticated()
    if merchant_header is not None:
        if not principal.is_operator:
            raise errors.Forbidden("Only the operator may act for another merchant.")
        try:
            merchant_id = uuid.UUID(merchant_header)
        except ValueError:
            raise errors.InvalidInput("Cagnotte-Merchant-Id is not a merchant's id.") from None
        services.merchants.get_merchant(principal, merchant_id)
        return principal.acting_for(merchant_id)
    return principal


Caller = Annotated[Principal, Depends(get_caller)]
OperatorCaller = Annotated[Principal, Depends(get_operator_caller)]


async def get_customer(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> CustomerPrincipal:
    if credentials is None:
        raise errors.Unauthenticated()
    return services.auth.customer_for_token(credentials.credentials)


Customer = Annotated[CustomerPrincipal, Depends(get_customer)]


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=IDEMPOTENCY_KEY_LENGTH_MAX,
        description=(
            "Required: a key of your choice (a UUID) for this request. Send the same key "
            "to retry safely: the first answer comes back, marked Idempotent-Replayed."
        ),
    ),
]


async def get_idempotency(
    request: Request, idempotency_key: IdempotencyKeyHeader = None
) -> Idempotency:
    return await _idempotency(request, idempotency_key)


async def _idempotency(request: Request, idempotency_key: str | None) -> Idempotency:
    # Required on every request that moves value: without it a blind retry (after a
    # lost answer) would move the value twice. Checked here rather than by FastAPI so
    # that the refusal has its own code (400 idempotency_key_required), not a 422.
    if idempotency_key is None:
        raise errors.IdempotencyKeyRequired()
    body = await request.body()
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + canonical
    ).hexdigest()
    return Idempotency(key=idempotency_key, request_hash=digest)


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]


@dataclass(frozen=True, slots=True)
class ValueMove:
    """A request that moves value: who asks, its Idempotency-Key, the services."""

    caller: Principal
    idempotency: Idempotency
    services: Services


async def get_value_move(
    request: Request,
    credentials: Credentials,
    merchant_header: MerchantHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ValueMove:
    """Caller, IdempotencyDep and ServicesDep in one dependency, for the hottest routes.

    FastAPI's solving of each dependency costs more CPU than the dependency
    itself (measured: a fifth of a payment's CPU in the service for four); the
    OpenAPI description (security scheme, headers) stays the same.
    """
    services: Services = request.app.state.services
    return ValueMove(
        caller=_caller(services, credentials, merchant_header),
        idempotency=await _idempotency(request, idempotency_key),
        services=services,
    )


ValueMoveDep = Annotated[ValueMove, Depends(get_value_move)]
