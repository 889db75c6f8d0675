"""The OpenAPI document as a generated client needs it.

Every operation's id is its endpoint function's name (`create_payment`), so a
new route gets a short, stable id with no effort. Who may call an operation and
which refusals its use case may answer are declared here, one line per
operation (ACCESS); the rest of its problem statuses follow from its shape:

- every operation: 503 service_unavailable (the database was busy or away);
- with a credential: 401, and 403 where a role is needed;
- with a path id: 404; with any parameter or body: 422 (validation_error);
- with a `cursor`: 400 invalid_cursor;
- with a body: 400 (malformed_body) and 413 (request_too_large);
- with an Idempotency-Key: 400 idempotency_key_required and 409 idempotency_key_reused.

Each problem is declared under `application/problem+json`, the media type the
server sends (api/problems.py), with the Problem schema.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from cagnotte.api.problems import PROBLEM_MEDIA_TYPE, Problem
from cagnotte.security.principals import ROLE_RANK

MERCHANT_HEADER = "Cagnotte-Merchant-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
ROLES_EXTENSION = "x-roles"
# Anyone may call it (no credential); a signed-in customer (a session token).
ANYONE = "anyone"
CUSTOMER = "customer"


def operation_id(route: APIRoute) -> str:
    """The endpoint function's name: short, snake_case, stable while the function is."""
    return route.name


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call an operation, and the problem statuses its use case adds to its shape's.

    `callers` is ANYONE, CUSTOMER, or the lowest merchant-side role that may
    call it (every role above it may too, the operator included).
    """

    callers: str
    problems: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        assert self.callers in (ANYONE, CUSTOMER) or self.callers in ROLE_RANK, self.callers

    @property
    def roles(self) -> list[str]:
        if self.callers in (ANYONE, CUSTOMER):
            return [] if self.callers == ANYONE else [CUSTOMER]
        rank = ROLE_RANK[self.callers]
        return [role for role, role_rank in ROLE_RANK.items() if role_rank >= rank]

    @property
    def acts_for_merchant(self) -> bool:
        """The operator may call it for a merchant (Cagnotte-Merchant-Id)."""
        return self.callers in ROLE_RANK and self.callers != "operator"


_CARD_LOOKUP = (409, 423, 429)  # a card's state, its PIN lockout, the number look-up limit

ACCESS: dict[str, Access] = {
    # Wallets
    # Webhooks (api/routes/webhooks.py): a manager's; 422 for a URL or an event refused,
    # 409 for a re-send to an endpoint switched off.
    "create_webhook_endpoint": Access("manager"),
    "list_webhook_endpoints": Access("manager"),
    "get_webhook_endpoint": Access("manager"),
    "update_webhook_endpoint": Access("manager"),
    "delete_webhook_endpoint": Access("manager"),
    "rotate_webhook_secret": Access("manager"),
    "list_webhook_deliveries": Access("manager"),
    "resend_webhook_delivery": Access("manager", (409,)),
    "top_up_wallet": Access("cashier", (404, 409)),
    "create_payment": Access("cashier", (404, 409)),
    "get_payment": Access("cashier"),
    "refund_payment": Access("cashier"),
    "adjust_wallet": Access("manager", (404, 409)),
    # Merchants and their set-up
    "create_merchant": Access("operator", (409,)),
    "list_merchants": Access("operator"),
    "get_merchant": Access("reseller"),
    "update_merchant": Access("owner"),
    "list_merchant_notices": Access("manager"),
    "set_merchant_status": Access("operator", (409,)),
    "find_platform_accounts": Access("operator"),
    "set_platform_account_status": Access("operator", (409,)),
    "create_asset": Access("manager", (409,)),
    "list_assets": Access("reseller"),
    "create_store": Access("owner", (409,)),
    "list_stores": Access("reseller"),
    "get_store": Access("reseller"),
    "create_terminal": Access("manager", (404,)),
    "list_terminals": Access("reseller"),
    "create_staff": Access("manager", (409,)),
    "list_staff": Access("manager"),
    "create_api_key": Access("owner", (404,)),
    "list_api_keys": Access("owner"),
    "revoke_api_key": Access("owner", (409,)),
    # Customers and accounts
    "enrol_customer": Access("cashier", (409,)),
    "search_customers": Access("cashier"),
    "get_customer": Access("cashier"),
    "get_customer_card": Access("cashier"),
    "get_customer_consents": Access("cashier"),
    "change_customer_consents": Access("cashier"),
    "export_customer_personal_data": Access("manager"),
    "erase_customer": Access("manager"),
    "update_customer": Access("cashier", (409,)),
    "set_customer_status": Access("manager", (409,)),
    "list_customer_accounts": Access("cashier"),
    "get_customer_loyalty": Access("cashier"),
    "list_customer_credits": Access("cashier"),
    "get_account": Access("cashier"),
    "list_account_transfers": Access("cashier"),
    # The customer's own
    "request_sign_in_code": Access(ANYONE, (429,)),
    "open_customer_session": Access(ANYONE, (401, 423, 429)),
    "get_me": Access(CUSTOMER),
    "list_my_accounts": Access(CUSTOMER),
    "list_my_transfers": Access(CUSTOMER, (404,)),
    "issue_member_token": Access(CUSTOMER, (404, 409)),
    "export_my_personal_data": Access(CUSTOMER),
    "erase_me": Access(CUSTOMER),
    "change_my_consents": Access(CUSTOMER, (404,)),
    "unsubscribe": Access(ANYONE, (404,)),
    "create_captcha": Access(CUSTOMER, (409, 429)),
    "redeem_bonus_code": Access(CUSTOMER, (404, 409, 423, 429)),
    "get_bonus_lock": Access(CUSTOMER),
    "list_my_gift_cards": Access(CUSTOMER),
    "register_my_gift_card": Access(CUSTOMER, (404, *_CARD_LOOKUP)),
    # Bonus codes
    "request_bonus_campaign": Access("manager", (409,)),
    "list_bonus_campaigns": Access("cashier"),
    "get_bonus_campaign": Access("cashier"),
    "fund_bonus_campaign_from_business_account": Access("manager", (409,)),
    "stop_bonus_campaign": Access("manager", (409,)),
    "download_bonus_codes": Access("manager", (409, 410)),
    "list_bonus_codes": Access("manager"),
    "list_bonus_codes_mails": Access("manager"),
    "list_bonus_payouts": Access("manager"),
    "record_bank_payment": Access("operator", (404, 409)),
    "list_bank_payments": Access("operator"),
    "assign_bank_payment": Access("operator", (409,)),
    "mark_payout_paid": Access("operator", (409,)),
    # Gift cards
    "create_gift_card_program": Access("manager", (409,)),
    "list_gift_card_programs": Access("reseller"),
    "get_gift_card_program": Access("reseller"),
    "update_gift_card_program": Access("manager", (409,)),
    "create_gift_card_batch": Access("manager", (409,)),
    "get_gift_card_batch": Access("manager"),
    "export_gift_card_batch": Access("manager", (409,)),
    "activate_gift_card_batch": Access("manager", (409,)),
    "issue_ecard": Access("reseller", (404, 409)),
    "list_ecard_mails": Access("reseller"),
    "resend_ecard_mail": Access("reseller", (409,)),
    "list_gift_cards": Access("cashier"),
    "get_gift_card": Access("manager"),
    "list_gift_card_operations": Access("manager"),
    "activate_gift_card": Access("reseller", _CARD_LOOKUP),
    "load_gift_card": Access("reseller", _CARD_LOOKUP),
    "spend_gift_card": Access("cashier", _CARD_LOOKUP),
    "refund_gift_card_spend": Access("cashier"),
    "inquire_gift_card_balance": Access("cashier", _CARD_LOOKUP),
    "authorise_gift_card_amount": Access("cashier", _CARD_LOOKUP),
    "capture_gift_card_authorisation": Access("cashier"),
    "void_gift_card_authorisation": Access("cashier"),
    "transfer_gift_card_balance": Access("cashier", (404, *_CARD_LOOKUP)),
    "freeze_gift_card": Access("manager", (409,)),
    "unfreeze_gift_card": Access("manager", (409,)),
    "close_gift_card": Access("manager", (409,)),
    "unlock_gift_card": Access("manager", (409,)),
    "adjust_gift_card": Access("manager"),
    "register_gift_card": Access("cashier", (404, *_CARD_LOOKUP)),
    "give_gift_card_profile_bonus": Access("cashier", (404, 409)),
    "create_gift_card_alert_rule": Access("manager"),
    "list_gift_card_alert_rules": Access("manager"),
    "change_gift_card_alert_rule": Access("manager"),
    "list_gift_card_alerts": Access("manager"),
    "create_gift_card_reseller": Access("owner", (404, 409)),
    "list_gift_card_resellers": Access("manager"),
    "get_reseller_settlement": Access("reseller"),
    "get_gift_card_liability_report": Access("manager"),
    "get_gift_card_activity_report": Access("manager"),
    # Loyalty
    "create_loyalty_program": Access("manager", (409,)),
    "list_loyalty_programs": Access("cashier"),
    "get_loyalty_program": Access("cashier"),
    "change_loyalty_program": Access("manager", (409,)),
    "suspend_loyalty_program": Access("manager", (409,)),
    "resume_loyalty_program": Access("manager", (409,)),
    "delete_loyalty_program": Access("manager", (409,)),
    "create_loyalty_rule": Access("manager", (409,)),
    "list_loyalty_rules": Access("cashier"),
    "replace_loyalty_rule": Access("manager", (409,)),
    # Checks
    "quote_check": Access("cashier", (404, 409)),
    "commit_check": Access("cashier", (404,)),
    "replay_offline_checks": Access("cashier"),
    "list_checks": Access("cashier", (400,)),
    "get_check": Access("cashier"),
    "get_check_statistics": Access("manager", (400, 404)),
    "create_segment": Access("manager", (404, 409)),
    "create_campaign": Access("manager", (404,)),
    "get_campaign": Access("manager"),
    "preview_campaign": Access("manager"),
    "test_send_campaign": Access("manager"),
    "send_campaign": Access("manager", (409,)),
    "list_segments": Access("cashier"),
    "get_segment": Access("cashier"),
    "update_segment": Access("manager"),
    "delete_segment": Access("manager"),
    "list_segment_members": Access("cashier", (400,)),
    "export_check_statistics": Access("manager", (400, 404)),
    "refund_check": Access("cashier"),
    # Catalogue
    "create_product": Access("manager", (404, 409)),
    "list_products": Access("cashier", (400,)),
    "get_product": Access("cashier"),
    "update_product": Access("manager", (409,)),
    "create_category": Access("manager", (404, 409)),
    "list_categories": Access("cashier"),
    "get_category_tree": Access("cashier"),
    "change_category": Access("manager", (409,)),
    "import_products": Access("manager", (413, 415)),
    # Operations
    "health": Access(ANYONE),
}


# What an operation's shape adds (see the module's docstring).
SHAPE_STATUSES = frozenset({400, 401, 403, 404, 409, 413, 422, 503})


def documented_problem_statuses() -> set[int]:
    """Every problem status some operation of the document may declare."""
    return set(SHAPE_STATUSES).union(*(access.problems for access in ACCESS.values()))


def install_openapi(app: FastAPI) -> None:
    """Build the document once, on first request, with the conventions above applied."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = apply_conventions(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def apply_conventions(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            _apply(operation)
    # FastAPI's own 422 shape is never sent: validation errors are problems too.
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return _page_names(schema)


_PAGE_NAME = re.compile(r"^Page_(\w+?)(?:Out)?_$")


def _page_names(schema: dict[str, Any]) -> dict[str, Any]:
    """`Page[StoreOut]` is `StorePage` in the document, not pydantic's `Page_StoreOut_`."""
    components = schema["components"]["schemas"]
    renames = {
        name: _PAGE_NAME.sub(r"\1Page", name) for name in components if _PAGE_NAME.match(name)
    }
    if not renames:
        return schema
    text = json.dumps(schema)
    for old, new in renames.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renamed = json.loads(text)
    components = renamed["components"]["schemas"]
    for old, new in renames.items():
        assert new not in components, new
        components[new] = components.pop(old)
        components[new]["title"] = new
    return renamed


def _apply(operation: dict[str, Any]) -> None:
    access = ACCESS.get(operation["operationId"])
    parameters = operation.get("parameters", [])
    if access is not None:
        operation[ROLES_EXTENSION] = access.roles
        operation["description"] = _with_callers(operation.get("description", ""), access)
    idempotent = any(p["name"] == IDEMPOTENCY_HEADER for p in parameters)
    for parameter in parameters:
        if parameter["name"] == IDEMPOTENCY_HEADER:
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "minLength": 1, "maxLength": 150}
    responses = operation["responses"]
    if idempotent:
        for status, response in responses.items():
            if status.startswith("2"):
                response.setdefault("headers", {})[REPLAY_HEADER] = {
                    "description": "`true` when this is the first answer to this "
                    "Idempotency-Key, replayed; absent otherwise.",
                    "schema": {"type": "string", "enum": ["true"]},
                }
    for status in sorted(_problem_statuses(operation, parameters, idempotent, access)):
        responses[str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }


def _problem_statuses(
    operation: dict[str, Any],
    parameters: list[dict[str, Any]],
    idempotent: bool,
    access: Access | None,
) -> set[int]:
    statuses = {503}
    if access is None:
        # Not declared yet: every refusal a use case may answer (tests ask for a line).
        statuses |= {401, 403, 404, 409, 422}
    else:
        statuses |= set(access.problems)
        if access.callers != ANYONE:
            statuses.add(401)
        if access.callers in ROLE_RANK:
            statuses.add(403)
    if any(p["in"] == "path" for p in parameters):
        statuses.add(404)
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if any(p["name"] == "cursor" for p in parameters):
        statuses.add(400)
    if "requestBody" in operation:
        statuses |= {400, 413}
    if idempotent:
        statuses |= {400, 409}
    return statuses


def _with_callers(description: str, access: Access) -> str:
    if access.callers == ANYONE:
        callers = "anyone, without a credential."
    elif access.callers == CUSTOMER:
        callers = "a signed-in customer (a session token)."
    elif access.callers == "operator":
        callers = "the operator."
    else:
        callers = (
            ", ".join(access.roles)
            + " (the operator for a merchant, naming it in Cagnotte-Merchant-Id)."
        )
    line = f"Callers: {callers}"
    return f"{description}\n\n{line}" if description else line
