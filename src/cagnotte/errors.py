"""Domain errors: expected outcomes with a stable snake_case code.

Every error a service may raise is a subclass of DomainError; the API maps the
code to an HTTP status in one table (cagnotte.api.problems).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """An expected refusal, named by a stable code."""

    code = "domain_error"
    message = "The request cannot be carried out."

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.message
        self.details = details
        super().__init__(self.message)


def _error(code: str, message: str) -> type[DomainError]:
    return type(
        "".join(part.title() for part in code.split("_")) + "Error",
        (DomainError,),
        {"code": code, "message": message, "__doc__": message},
    )


# Ledger
InsufficientFunds = _error("insufficient_funds", "The balance is not enough for this amount.")
LimitExceeded = _error("limit_exceeded", "The account's credits would exceed its debits.")
AccountNotFound = _error("account_not_found", "No such account.")
AccountFrozen = _error("account_frozen", "The account is frozen.")
AssetMismatch = _error("asset_mismatch", "Both accounts of a transfer must hold the same asset.")
AssetNotFound = _error("asset_not_found", "No such asset.")
AssetExists = _error("asset_exists", "An asset with this code exists already.")
SameAccount = _error("same_account", "A transfer needs two different accounts.")
AmountOverflow = _error("amount_overflow", "The amount would overflow a balance counter.")
TransferExists = _error(
    "transfer_exists", "A transfer with this id exists already with other details."
)
TransferNotFound = _error("transfer_not_found", "No such transfer.")
PendingTransferNotFound = _error("pending_transfer_not_found", "No such pending transfer.")
PendingTransferAlreadyResolved = _error(
    "pending_transfer_already_resolved",
    "The pending transfer was already posted, voided or expired.",
)
PendingTransferExpired = _error("pending_transfer_expired", "The pending transfer has expired.")
PendingAmountExceeded = _error(
    "pending_amount_exceeded", "The amount to post exceeds the pending amount."
)
ReversalExceedsTransfer = _error(
    "reversal_exceeds_transfer", "The amount exceeds what is left to reverse of the transfer."
)
IdempotencyKeyReused = _error(
    "idempotency_key_reused",
    "This Idempotency-Key was used with another request.",
)
InvalidCursor = _error("invalid_cursor", "The pagination cursor is not valid.")

# Tenancy and access
NotFound = _error("not_found", "No such resource.")
Forbidden = _error("forbidden", "Your role may not do this.")
Unauthenticated = _error("unauthenticated", "A valid credential is required.")
Conflict = _error("conflict", "The resource exists already.")
InvalidInput = _error("invalid_input", "The request is not valid.")
InvalidPhone = _error("invalid_phone", "The phone number is not valid.")
SignInFailed = _error("sign_in_failed", "The e-mail or password is not right.")
LockedOut = _error("locked_out", "Too many failed attempts; try again later.")
OneTimeCodeInvalid = _error("one_time_code_invalid", "The code is wrong or has expired.")
CustomerBlocked = _error("customer_blocked", "The customer's membership is blocked.")


def error_for_code(code: str) -> type[DomainError] | None:
    """The DomainError subclass with this code, if any."""
    return _BY_CODE.get(code)


def _all_subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    found = []
    for subclass in cls.__subclasses__():
        found.append(subclass)
        found.extend(_all_subclasses(subclass))
    return found


_BY_CODE: dict[str, type[DomainError]] = {
    subclass.code: subclass for subclass in _all_subclasses(DomainError)
}
