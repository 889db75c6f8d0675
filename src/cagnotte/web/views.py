"""What the pages show, composed from service calls into plain values.

No queries here: every fact comes from a service. The page handlers call one
function of this module and render its answer.

Errors: account_not_found, invalid_cursor (from customer_account).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import phonenumbers

from cagnotte import errors
from cagnotte.bootstrap import Services
from cagnotte.crm.consents import CHANNELS
from cagnotte.db.pages import PageRequest, every_item
from cagnotte.db.tables import PLATFORM_MERCHANT_ID
from cagnotte.ledger import Account, Balance, TransferRecord
from cagnotte.money import Asset
from cagnotte.security.captcha import CaptchaKind
from cagnotte.security.principals import Principal
from cagnotte.web import gift_card_views, loyalty_views

HISTORY_LINES_ON_WALLET = 5
HISTORY_PAGE_SIZE = 20
SEARCH_RESULTS_MAX = 20
SEARCH_TEXT_LENGTH_MAX = 100
MINUS_SIGN = "\u2212"

# Transfer codes in the words a customer or a cashier uses.
CODE_WORDS = {
    "wallet_top_up": "Top-up",
    "wallet_payment": "Payment",
    "wallet_refund": "Refund",
    "manual_credit": "Correction",
    "manual_debit": "Correction",
    "bonus_code": "Bonus code",
}
# Codes whose transfer reference is worth showing (e.g. the campaign's name).
CODES_WITH_REFERENCE = {"bonus_code"}
PURPOSE_WORDS = {"wallet": "Wallet"}


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One transfer as seen from one account."""

    created_at: datetime
    description: str
    # Signed and formatted, e.g. "+500.00 CZK" or "−12.90 CZK".
    amount: str
    # credit, debit, hold (pending, not yet taken) or released (a hold let go).
    direction: str


@dataclass(frozen=True, slots=True)
class AccountView:
    id: uuid.UUID
    title: str
    balance: str
    on_hold: str | None
    frozen: bool
    history: list[HistoryLine]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ConsentView:
    """One channel of marketing and whether the member agrees to it now."""

    channel: str
    label: str
    granted: bool


# The marketing channels in the customer's words (crm/consents.py CHANNELS).
CONSENT_LABELS = {
    "email": "Offers by e-mail",
    "sms": "Offers by text message",
    "phone": "Phone calls (only if you asked to be called back)",
}


@dataclass(frozen=True, slots=True)
class MembershipView:
    merchant_name: str
    blocked: bool
    accounts: list[AccountView]
    # The merchant's loyalty programs and this member's standing in each.
    programs: list[loyalty_views.ProgramView] = field(default_factory=list)
    merchant_id: uuid.UUID | None = None
    # The member's consent to the merchant's marketing, per channel.
    consents: list[ConsentView] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AccountPage:
    merchant_name: str
    account: AccountView
    cursor: str | None


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """A search result in the back-office."""

    name: str
    phone: str | None
    email: str | None
    blocked: bool
    last_visit_at: datetime | None
    balances: list[str]


@dataclass(frozen=True, slots=True)
class Dashboard:
    merchant_name: str
    staff_name: str
    staff_role: str
    stores: list[dict[str, Any]]
    search_name: str
    search_phone: str
    searched: bool
    results: list[CustomerRow]
    search_error: str | None


# The customer page ----------------------------------------------------------------


PLATFORM_WALLET_NAME = "Your Cagnotte account"


def customer_wallet(services: Services, customer_id: uuid.UUID) -> list[MembershipView]:
    """The customer's platform account (bonus codes), then every membership, each with
    its accounts, balances and latest transfers."""
    owned = _customer_accounts(services, customer_id)
    platform_accounts = _platform_accounts(services, customer_id)
    names = services.merchants.merchant_names(m["merchant_id"] for m, _ in owned)
    codes = _assets(
        services,
        [a.asset_code for _, accounts in owned for a in accounts]
        + [a.asset_code for a in platform_accounts],
    )
    # Each merchant's amounts written its way; the platform wallet's the platform's.
    assets = _written(codes, PLATFORM_MERCHANT_ID, services)
    merchant_assets = {
        membership["merchant_id"]: _written(codes, membership["merchant_id"], services)
        for membership, _ in owned
    }
    platform = (
        [
            MembershipView(
                merchant_name=PLATFORM_WALLET_NAME,
                blocked=False,
                accounts=[
                    _account_view(
                        services, account, assets[account.asset_code], None, HISTORY_LINES_ON_WALLET
                    )
                    for account in platform_accounts
                ],
            )
        ]
        if platform_accounts
        else []
    )
    return platform + [
        MembershipView(
            merchant_name=names.get(membership["merchant_id"], "—"),
            blocked=membership["status"] == "blocked",
            accounts=[
                _account_view(
                    services,
                    account,
                    merchant_assets[membership["merchant_id"]][account.asset_code],
                    None,
                    HISTORY_LINES_ON_WALLET,
                )
                for account in accounts
            ],
            programs=loyalty_views.member_programs(
                services, membership["merchant_id"], membership["id"], accounts
            ),
            merchant_id=membership["merchant_id"],
            consents=[
                ConsentView(channel, CONSENT_LABELS[channel], bool(membership[column]))
                for channel, column in CHANNELS.items()
            ],
        )
        for membership, accounts in owned
    ]


def change_own_consent(
    services: Services, customer_id: uuid.UUID, merchant_id: uuid.UUID, channel: str, granted: bool
) -> ConsentView:
    """The customer gives or withdraws one channel at one shop (from the customer page)."""
    standing = services.consents.change_own(
        customer_id, merchant_id, {channel: granted}, text_version=None
    )
    return ConsentView(channel, CONSENT_LABELS[channel], standing["current"][channel]["granted"])


@dataclass(frozen=True, slots=True)
class CustomerHome:
    """Everything on the customer page: wallets, registered gift cards, where to register."""

    memberships: list[MembershipView]
    gift_cards: list[gift_card_views.CustomerGiftCard]
    registration_shops: list[gift_card_views.RegistrationShop]


def customer_home(services: Services, customer_id: uuid.UUID) -> CustomerHome:
    return CustomerHome(
        memberships=customer_wallet(services, customer_id),
        gift_cards=gift_card_views.customer_gift_cards(services, customer_id),
        registration_shops=gift_card_views.registration_shops(services, customer_id),
    )


def customer_account(
    services: Services, customer_id: uuid.UUID, account_id: uuid.UUID, cursor: str | None
) -> AccountPage:
    """One page of one of this customer's accounts; another's account is not found."""
    for account in _platform_accounts(services, customer_id):
        if account.id == account_id:
            assets = _written(
                _assets(services, [account.asset_code]), PLATFORM_MERCHANT_ID, services
            )
            return AccountPage(
                merchant_name=PLATFORM_WALLET_NAME,
                account=_account_view(
                    services, account, assets[account.asset_code], cursor, HISTORY_PAGE_SIZE
                ),
                cursor=cursor,
            )
    for membership, accounts in _customer_accounts(services, customer_id):
        for account in accounts:
            if account.id == account_id:
                assets = _written(
                    _assets(services, [account.asset_code]), membership["merchant_id"], services
                )
                names = services.merchants.merchant_names([membership["merchant_id"]])
                return AccountPage(
                    merchant_name=names.get(membership["merchant_id"], "—"),
                    account=_account_view(
                        services,
                        account,
                        assets[account.asset_code],
                        cursor,
                        HISTORY_PAGE_SIZE,
                    ),
                    cursor=cursor,
                )
    raise errors.AccountNotFound()


def _platform_accounts(services: Services, customer_id: uuid.UUID) -> list[Account]:
    return services.ledger.find_accounts(PLATFORM_MERCHANT_ID, "customer", customer_id)


def _customer_accounts(
    services: Services, customer_id: uuid.UUID
) -> list[tuple[dict[str, Any], list[Account]]]:
    return [
        (
            membership,
            services.ledger.find_accounts(
                membership["merchant_id"], "membership", membership["id"]
            ),
        )
        for membership in services.customers.memberships_of(customer_id)
    ]


# Bonus codes ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BonusForm:
    """The code entry form: a fresh captcha (a picture, or a clip for those who ask), or
    what keeps the form away: the bonus lock, or the captcha quota until its window ends."""

    locked_until: datetime | None
    captcha_id: uuid.UUID | None
    captcha_image: str | None
    captcha_kind: str = "image"
    captcha_audio: str | None = None
    captchas_refused: str | None = None
    retry_after_seconds: int | None = None


def bonus_form(
    services: Services, customer_id: uuid.UUID, client_address: str, kind: str = "image"
) -> BonusForm:
    """A new captcha for the next attempt, unless the bonus feature is locked."""
    locked_until = services.bonus_codes.lock_state(customer_id)
    if locked_until is not None:
        return BonusForm(locked_until=locked_until, captcha_id=None, captcha_image=None)
    captcha_kind: CaptchaKind = "audio" if kind == "audio" else "image"
    try:
        captcha = services.captchas.issue(customer_id, client_address, captcha_kind)
    except errors.TooManyCaptchas as refusal:
        return BonusForm(
            locked_until=None,
            captcha_id=None,
            captcha_image=None,
            captcha_kind=captcha_kind,
            captchas_refused=refusal.message,
            retry_after_seconds=refusal.details["retry_after_seconds"],
        )
    return BonusForm(
        locked_until=None,
        captcha_id=captcha.id,
        captcha_image=captcha.data_url if captcha.kind == "image" else None,
        captcha_kind=captcha.kind,
        captcha_audio=captcha.data_url if captcha.kind == "audio" else None,
    )


@dataclass(frozen=True, slots=True)
class BonusCredited:
    campaign_name: str
    amount: str
    balance: str


def redeem_bonus_code(
    services: Services,
    customer_id: uuid.UUID,
    *,
    code: str,
    captcha_id: uuid.UUID,
    captcha_answer: str,
    client_address: str,
) -> BonusCredited:
    """Redeem a code; the service's errors (code_invalid, locked_out, …) pass through."""
    redemption = services.bonus_codes.redeem(
        customer_id,
        code=code,
        captcha_id=captcha_id,
        captcha_answer=captcha_answer,
        client_address=client_address,
    )
    asset = _written(_assets(services, [redemption.asset_code]), PLATFORM_MERCHANT_ID, services)[
        redemption.asset_code
    ]
    return BonusCredited(
        campaign_name=redemption.campaign_name,
        amount=asset.format(redemption.amount_minor),
        balance=asset.format(redemption.wallet_balance_minor),
    )


# The back-office -------------------------------------------------------------------


def staff_dashboard(
    services: Services, principal: Principal, *, name: str, phone: str
) -> Dashboard:
    """The merchant, its stores, and a customer search with balances when asked."""
    merchant = services.merchants.get_merchant(principal, principal.merchant_id)
    member = services.merchants.staff_member(principal)
    name = name.strip()[:SEARCH_TEXT_LENGTH_MAX]
    phone = phone.strip()[:SEARCH_TEXT_LENGTH_MAX]
    searched = bool(name or phone)
    results: list[CustomerRow] = []
    search_error = None
    if searched:
        try:
            found = services.customers.search(
                principal,
                name=name or None,
                phone=phone or None,
                page=PageRequest(limit=SEARCH_RESULTS_MAX),
            ).items
        except errors.InvalidInput as error:
            search_error = error.message
        else:
            results = _customer_rows(services, principal, found)
    return Dashboard(
        merchant_name=merchant["name"],
        staff_name=member["name"],
        staff_role=member["role"],
        stores=every_item(partial(services.merchants.list_stores, principal)),
        search_name=name,
        search_phone=phone,
        searched=searched,
        results=results,
        search_error=search_error,
    )


def _customer_rows(
    services: Services, principal: Principal, found: list[dict[str, Any]]
) -> list[CustomerRow]:
    accounts = {
        membership["id"]: services.ledger.find_accounts(
            principal.merchant_id, "membership", membership["id"]
        )
        for membership in found
    }
    assets = _written(
        _assets(services, (a.asset_code for owned in accounts.values() for a in owned)),
        principal.merchant_id,
        services,
    )
    rows = []
    for membership in found:
        full_name = " ".join(
            part for part in (membership["first_name"], membership["last_name"]) if part
        )
        rows.append(
            CustomerRow(
                name=full_name or "(no name)",
                phone=_display_phone(membership["phone"]),
                email=membership["email"],
                blocked=membership["status"] == "blocked",
                last_visit_at=membership["last_visit_at"],
                balances=[
                    f"{_account_title(account)}: "
                    f"{assets[account.asset_code].format(services.ledger.balance(account).credit_balance)}"
                    for account in accounts[membership["id"]]
                ],
            )
        )
    return rows


# Shared -----------------------------------------------------------------------------


def _assets(services: Services, codes: Iterable[str]) -> dict[str, Asset]:
    wanted = set(codes)
    found = services.merchants.assets_by_code(wanted)
    assert wanted <= found.keys(), f"accounts in unknown assets: {wanted - found.keys()}"
    return found


def _written(assets: dict[str, Asset], merchant_id: uuid.UUID, services: Services) -> dict:
    """These assets writing their amounts for the merchant's locale (the platform's own:
    the platform's)."""
    written = services.merchants.locale_of(merchant_id).format
    return {code: written.asset(asset.code, asset.scale) for code, asset in assets.items()}


def _account_view(
    services: Services, account: Account, asset: Asset, cursor: str | None, limit: int
) -> AccountView:
    balance: Balance = services.ledger.balance(account)
    history = services.ledger.history(account, PageRequest(cursor=cursor, limit=limit))
    records, next_cursor = history.items, history.next_cursor
    return AccountView(
        id=account.id,
        title=_account_title(account),
        balance=asset.format(balance.credit_balance),
        on_hold=asset.format(balance.debits_pending) if balance.debits_pending else None,
        frozen=account.frozen,
        history=[history_line(account, asset, record) for record in records],
        next_cursor=next_cursor,
    )


def _account_title(account: Account) -> str:
    purpose = PURPOSE_WORDS.get(account.purpose, account.purpose.replace("_", " ").capitalize())
    return f"{purpose} ({account.asset_code})"


def history_line(account: Account, asset: Asset, record: TransferRecord) -> HistoryLine:
    """A transfer in words, signed from the point of view of this account."""
    words = CODE_WORDS.get(record.code, record.code.replace("_", " ").capitalize())
    if record.code in CODES_WITH_REFERENCE and record.reference:
        words = f"{words}: {record.reference}"
    amount = asset.format(record.amount)
    if record.kind in ("void", "expire"):
        return HistoryLine(record.created_at, f"{words}: hold released", amount, "released")
    incoming = record.credit_account_id == account.id
    signed = ("+" if incoming else MINUS_SIGN) + amount
    if record.kind == "pending":
        return HistoryLine(record.created_at, f"{words} (on hold)", signed, "hold")
    return HistoryLine(record.created_at, words, signed, "credit" if incoming else "debit")


def _display_phone(phone: str | None) -> str | None:
    if phone is None:
        return None
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
