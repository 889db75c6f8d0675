"""RFC 9457 problem details: the one table from domain error codes to HTTP statuses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from cagnotte.errors import DomainError, RequestTooLarge, domain_error_classes

log = logging.getLogger("cagnotte.api")

STATUS_BY_CODE: dict[str, int] = {
    "webhook_url_invalid": 422,
    "webhook_event_unknown": 422,
    "webhook_endpoint_inactive": 409,
    "insufficient_funds": 422,
    "credit_not_usable": 409,
    "limit_exceeded": 422,
    "account_not_found": 404,
    "account_frozen": 409,
    "asset_mismatch": 422,
    "asset_not_found": 422,
    "asset_exists": 409,
    "same_account": 422,
    "amount_overflow": 422,
    "transfer_exists": 409,
    "transfer_not_found": 404,
    "pending_transfer_not_found": 404,
    "pending_transfer_already_resolved": 409,
    "pending_transfer_expired": 409,
    "pending_amount_exceeded": 422,
    "reversal_exceeds_transfer": 422,
    "idempotency_key_reused": 409,
    "idempotency_key_required": 400,
    "invalid_cursor": 400,
    "not_found": 404,
    "forbidden": 403,
    "unauthenticated": 401,
    "conflict": 409,
    "invalid_input": 422,
    "invalid_phone": 422,
    "unknown_country": 422,
    "unknown_locale": 422,
    "unknown_time_zone": 422,
    "sign_in_failed": 401,
    "locked_out": 423,
    "one_time_code_invalid": 401,
    "customer_blocked": 409,
    "gift_card_invalid": 422,
    "gift_card_inactive": 409,
    "gift_card_frozen": 409,
    "gift_card_closed": 409,
    "gift_card_not_reloadable": 409,
    "gift_card_has_holds": 409,
    "gift_card_already_registered": 409,
    "load_out_of_range": 422,
    "balance_limit_exceeded": 422,
    "operation_amount_exceeded": 422,
    "daily_limit_exceeded": 422,
    "invoice_required": 422,
    "invoice_reused": 409,
    "batch_already_exported": 409,
    "profile_incomplete": 422,
    "profile_bonus_already_given": 409,
    "invalid_bank_account": 422,
    "bonus_value_too_high": 422,
    "campaign_not_found": 404,
    "platform_bank_account_missing": 409,
    "campaign_not_awaiting_funding": 409,
    "campaign_not_active": 409,
    "codes_already_downloaded": 410,
    "code_invalid": 422,
    "captcha_invalid": 422,
    "too_many_captchas": 429,
    "too_many_attempts": 429,
    "bank_payment_not_found": 404,
    "bank_payment_already_assigned": 409,
    "payout_not_found": 404,
    "payout_already_paid": 409,
    "refund_exceeds_check": 422,
    "member_token_invalid": 422,
    "unsubscribe_link_invalid": 404,
    "product_sku_exists": 409,
    "category_name_taken": 409,
    "category_cycle": 409,
    "category_too_deep": 422,
    "categories_too_many": 422,
    "import_invalid": 422,
    "import_too_large": 413,
    "import_format_unsupported": 415,
    "request_too_large": 413,
    "service_unavailable": 503,
}

# Seconds a client is told to wait (Retry-After) before it retries a request
# answered 503 service_unavailable: the database was busy or out of reach.
RETRY_AFTER_SECONDS = 2


# Details of a domain error that its problem shows: when a lockout ends, and what is
# wrong with each row of a refused import (and how many errors there were).
_SHOWN_DETAILS = ("locked_until", "errors", "error_count", "retry_after_seconds")


class Problem(BaseModel):
    """An RFC 9457 problem; `code` is stable and meant for programs."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None
    error_count: int | None = None
    locked_until: str | None = None


PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://cagnotte.dev/problems/{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    body.update({key: value for key, value in extra.items() if value is not None})
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    elif status == 503:
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def codes_without_status() -> set[str]:
    """The codes of the domain errors defined so far that STATUS_BY_CODE leaves out."""
    return {error.code for error in domain_error_classes()} - set(STATUS_BY_CODE)


def install_problem_handlers(app: FastAPI) -> None:
    # A code without a status is a programmer error: the app is not built, rather
    # than answering a guess (it used to be 400) for a refusal nobody mapped.
    missing = codes_without_status()
    assert not missing, f"add these domain error codes to STATUS_BY_CODE: {sorted(missing)}"

    @app.exception_handler(DomainError)
    async def _domain(_request: Request, error: DomainError) -> JSONResponse:
        # Checked when the app was built; an error defined after that is a crash (500).
        assert error.code in STATUS_BY_CODE, f"no HTTP status for {error.code!r}"
        status = STATUS_BY_CODE[error.code]
        detail = error.message if error.message != type(error).message else None
        extra = {k: v for k, v in error.details.items() if k in _SHOWN_DETAILS}
        response = problem_response(status, error.code, type(error).message, detail, **extra)
        # A refusal that ends at a known time (a quota's window) says when.
        if "retry_after_seconds" in error.details:
            response.headers["Retry-After"] = str(error.details["retry_after_seconds"])
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(item.get("loc", ())), "msg": item.get("msg"), "type": item.get("type")}
            for item in error.errors()
        ]
        return problem_response(
            422, "validation_error", "The request is not valid.", errors=details
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {
            400: "malformed_body",
            401: "unauthenticated",
            404: "not_found",
            405: "method_not_allowed",
            # The body limit (api/middleware.py BodyLimit), counted as it is read.
            413: "request_too_large",
        }.get(error.status_code, "http_error")
        if code == "request_too_large":
            return problem_response(413, code, RequestTooLarge.message, str(error.detail))
        return problem_response(error.status_code, code, str(error.detail))

    @app.exception_handler(Exception)
    async def _crash(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=error)
        return problem_response(500, "internal_error", "Something went wrong on our side.")


# The problem statuses of each operation are declared in api/openapi.py (from what it
# requires and what its use case may refuse); a router passing this adds nothing.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {}
