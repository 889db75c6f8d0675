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
IdempotencyKeyRequired = _error(
    "idempotency_key_required",
    "A request that moves value needs an Idempotency-Key header, so that a retry is safe.",
)
InvalidCursor = _error("invalid_cursor", "The pagination cursor is not valid.")

# Tenancy and access
NotFound = _error("not_found", "No such resource.")
Forbidden = _error("forbidden", "Your role may not do this.")
Unauthenticated = _error("unauthenticated", "A valid credential is required.")
Conflict = _error("conflict", "The resource exists already.")
InvalidInput = _error("invalid_input", "The request is not valid.")
InvalidPhone = _error("invalid_phone", "The phone number is not valid.")
# A merchant's locale (i18n.py).
UnknownCountry = _error("unknown_country", "The country is not an ISO 3166-1 alpha-2 code.")
UnknownLocale = _error("unknown_locale", "The locale is not one Babel knows.")
UnknownTimeZone = _error("unknown_time_zone", "The time zone is not an IANA time zone.")
SignInFailed = _error("sign_in_failed", "The e-mail or password is not right.")
LockedOut = _error("locked_out", "Too many failed attempts; try again later.")
OneTimeCodeInvalid = _error("one_time_code_invalid", "The code is wrong or has expired.")
# By the merchant (the membership) or by the operator (the platform account).
CustomerBlocked = _error("customer_blocked", "The customer is blocked.")


# Bonus codes
InvalidBankAccount = _error(
    "invalid_bank_account", "The bank account is not a valid IBAN or Czech account number."
)
BonusValueTooHigh = _error("bonus_value_too_high", "The value of each bonus exceeds the cap.")
CampaignNotFound = _error("campaign_not_found", "No such campaign.")
# The platform's state, not the request's: no retry helps until the operator sets it.
PlatformBankAccountMissing = _error(
    "platform_bank_account_missing",
    "Bonus campaigns cannot be requested: the platform has no bank account to be paid to "
    "(CAGNOTTE_PLATFORM_BANK_ACCOUNT).",
)
CampaignNotAwaitingFunding = _error(
    "campaign_not_awaiting_funding", "The campaign is not waiting for funds."
)
CampaignNotActive = _error("campaign_not_active", "The campaign is not active.")
CodesAlreadyDownloaded = _error(
    "codes_already_downloaded", "The codes were downloaded already; only their ends are shown."
)
# One answer for every reason, a code outside its validity included: it never tells
# a guesser that a code exists (programs/bonus_codes/redemption.py).
CodeInvalid = _error(
    "code_invalid",
    "This code cannot be used: it is wrong, used, withdrawn or not valid at this time.",
)
CaptchaInvalid = _error(
    "captcha_invalid", "The text from the picture (or the digits heard) is wrong or has expired."
)
TooManyCaptchas = _error("too_many_captchas", "Too many captchas were asked for; try again later.")
TooManyAttempts = _error(
    "too_many_attempts", "Too many attempts from this address; try again later."
)
BankPaymentNotFound = _error("bank_payment_not_found", "No such bank payment.")
BankPaymentAlreadyAssigned = _error(
    "bank_payment_already_assigned", "This bank payment has been assigned already."
)
PayoutNotFound = _error("payout_not_found", "No such payout.")
PayoutAlreadyPaid = _error("payout_already_paid", "This payout is recorded as paid already.")


# Gift cards
GiftCardInvalid = _error(
    "gift_card_invalid", "The card number or PIN is not right, or the card cannot be used here."
)
GiftCardInactive = _error("gift_card_inactive", "The gift card has not been activated.")
GiftCardFrozen = _error("gift_card_frozen", "The gift card is frozen.")
GiftCardClosed = _error("gift_card_closed", "The gift card is closed.")
GiftCardNotReloadable = _error(
    "gift_card_not_reloadable", "Cards of this program cannot be reloaded."
)
GiftCardHasHolds = _error(
    "gift_card_has_holds", "The card has open authorisations; capture or void them first."
)
GiftCardAlreadyRegistered = _error(
    "gift_card_already_registered", "The card is registered to another member."
)
LoadOutOfRange = _error("load_out_of_range", "The amount is outside the program's load range.")
BalanceLimitExceeded = _error(
    "balance_limit_exceeded", "The card's balance would exceed the program's maximum."
)
OperationAmountExceeded = _error(
    "operation_amount_exceeded", "The amount exceeds the program's maximum per operation."
)
DailyLimitExceeded = _error(
    "daily_limit_exceeded", "The card has reached the program's limit for today."
)
InvoiceRequired = _error("invoice_required", "This program needs the POS invoice number.")
InvoiceReused = _error("invoice_reused", "This invoice number has been used already.")
BatchAlreadyExported = _error(
    "batch_already_exported", "The batch was exported already; numbers and PINs are shown once."
)
ProfileIncomplete = _error(
    "profile_incomplete", "The member's profile needs a first name, a last name and an e-mail."
)
ProfileBonusAlreadyGiven = _error(
    "profile_bonus_already_given", "The member has had this program's profile bonus already."
)


# Checks
MemberTokenInvalid = _error(
    "member_token_invalid", "The member code is not valid (it may have expired): show a new one."
)
RefundExceedsCheck = _error(
    "refund_exceeds_check", "The refund gives back more than is left of the check."
)

# Customers
UnsubscribeLinkInvalid = _error(
    "unsubscribe_link_invalid", "This unsubscribe link is not valid: it may have been altered."
)


# Catalogue
ProductSkuExists = _error("product_sku_exists", "A product with this SKU exists already.")
CategoryNameTaken = _error(
    "category_name_taken", "A category of this name exists already at this place of the tree."
)
CategoryCycle = _error("category_cycle", "A category cannot move below itself.")
CategoryTooDeep = _error("category_too_deep", "The category tree would be deeper than it may be.")
CategoriesTooMany = _error(
    "categories_too_many", "The catalogue would have more categories than it may."
)
ImportInvalid = _error(
    "import_invalid", "Some rows of the file cannot be imported, so nothing was imported."
)
ImportTooLarge = _error("import_too_large", "The file is larger than an import may be.")
ImportFormatUnsupported = _error(
    "import_format_unsupported", "An import is a CSV (text/csv) or an XLSX file."
)


# Availability: not refusals of the request, but of the moment (the API answers 503
# with Retry-After), and a body too large to be read at all (413).
ServiceUnavailable = _error(
    "service_unavailable",
    "The service is busy or cannot reach its database just now; try again in a moment.",
)
RequestTooLarge = _error("request_too_large", "The request's body is larger than it may be.")


# Webhooks
WebhookUrlInvalid = _error(
    "webhook_url_invalid",
    "The URL is not one webhooks may be sent to (https, and a public address in production).",
)
WebhookEventUnknown = _error("webhook_event_unknown", "No such event type.")
WebhookEndpointInactive = _error(
    "webhook_endpoint_inactive", "The endpoint is not active: activate it first."
)

# Open credits (checkout/credits.py)
CreditNotUsable = _error(
    "credit_not_usable",
    "This voucher or credit cannot be used: unknown, used, expired or another member's.",
)


def error_for_code(code: str) -> type[DomainError] | None:
    """The DomainError subclass with this code, if any."""
    return {subclass.code: subclass for subclass in _all_subclasses(DomainError)}.get(code)


def domain_error_classes() -> list[type[DomainError]]:
    """Every DomainError subclass defined so far (in the modules imported)."""
    return _all_subclasses(DomainError)


def _all_subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    found = []
    for subclass in cls.__subclasses__():
        found.append(subclass)
        found.extend(_all_subclasses(subclass))
    return found
