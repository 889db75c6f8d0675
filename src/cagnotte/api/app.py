"""The FastAPI application, built from a Services container."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cagnotte import __version__
from cagnotte.api import observability
from cagnotte.api.docs import install_docs
from cagnotte.api.middleware import BodyLimit, SecurityHeaders
from cagnotte.api.observability import RequestObservability
from cagnotte.api.openapi import install_openapi, operation_id
from cagnotte.api.problems import install_problem_handlers
from cagnotte.api.routes import (
    accounts,
    bonus_codes,
    campaigns,
    catalogue,
    checks,
    credits,
    customers,
    gift_cards,
    loyalty,
    me,
    merchants,
    segments,
    statistics,
    wallets,
    webhooks,
)
from cagnotte.api.unavailable import install_unavailable_handlers
from cagnotte.bootstrap import Services
from cagnotte.web import install_pages, unavailable_page


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The event loop's own database connections, for the hot path (payments).
        await services.database.open_async_pool()
        # Its batcher, which gathers the payments that arrive together (group commit).
        await services.ledger.open_group_commit()
        # Keys revoked by other processes are forgotten here too (PostgreSQL).
        services.merchants.watch_revocations()
        try:
            yield
        finally:
            services.merchants.stop_watching_revocations()
            await services.ledger.close_group_commit()
            await services.database.close_async_pool()

    app = FastAPI(
        lifespan=lifespan,
        title="Cagnotte",
        version=__version__,
        summary="Stored value and rewards on a double-entry ledger.",
        description=(
            "Amounts are integers of minor units. Errors are RFC 9457 problem details with "
            "a stable `code`. Every POST that moves value requires an `Idempotency-Key`."
        ),
        openapi_url="/openapi.json",
        # Served from the package by install_docs, not from a CDN.
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.services = services
    # A bigger body is refused (413 request_too_large) before it is read whole; a
    # catalogue import may be larger (it checks its own limit as it reads).
    app.add_middleware(
        BodyLimit,
        limit=services.settings.request_body_bytes_max,
        limits_by_path={
            f"{catalogue.router.prefix}/imports": catalogue.IMPORT_BYTES_MAX
            + catalogue.MULTIPART_OVERHEAD_MAX
        },
    )
    app.add_middleware(SecurityHeaders)
    # Added last, so outermost: the request id and the access log see every answer.
    app.add_middleware(RequestObservability)
    install_problem_handlers(app)
    install_unavailable_handlers(app, unavailable_page)
    # Routes are matched in order, one by one: the register's hot paths first
    # (payments, checks, gift card spends). Matching the quote past the others
    # had cost a tenth of its CPU.
    for module in (
        wallets,
        checks,
        gift_cards,
        merchants,
        customers,
        accounts,
        me,
        bonus_codes,
        loyalty,
        credits,
        catalogue,
        campaigns,
        segments,
        statistics,
        webhooks,
    ):
        app.include_router(module.router)

    @app.get("/healthz", tags=["operations"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # Liveness, readiness and the Prometheus metrics (api/observability.py).
    app.include_router(observability.router)
    install_pages(app)
    install_docs(app)
    install_openapi(app)
    return app
