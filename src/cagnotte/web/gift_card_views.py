"""What the gift card pages show, composed from service calls into plain values.

The back-office pages (alerts, card lookup, reports) and the customer page's
gift cards. No queries here: every fact comes from a service, and a card is
only ever named by its last four digits.

Errors: forbidden (a role below manager, for the back-office pages),
not_found (a card of another merchant), invalid_input (a lookup that is
neither four digits nor a number, a report period backwards or too long).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from cagnotte import errors
from cagnotte.bootstrap import Services
from cagnotte.db.pages import PageRequest, every_item
from cagnotte.db.unit_of_work import Idempotency
from cagnotte.i18n import WrittenAsset
from cagnotte.money import Asset
from cagnotte.programs.gift_cards.reports import ACTIVITY_COLUMNS, LIABILITY_COLUMNS, export_rows
from cagnotte.programs.gift_cards.views import CardOperation
from cagnotte.security.principals import Principal

ALERTS_ON_PAGE = 100
CUSTOMER_HISTORY_LINES = 5
REPORT_DAYS_DEFAULT = 30
MINUS_SIGN = "\u2212"

ALERT_RULE_WORDS = {
    "wrong_pins": "Wrong PINs",
    "large_load": "Large load",
    "large_spend": "Large spend",
    "card_velocity": "Many operations on one card",
    "terminal_card_checks": "Many cards checked at one terminal",
    "balance_transfer": "Balance transfer",
    "manual_adjustment": "Manual adjustment",
}
# How each operation moves the card's balance: in (+), out (−), a hold, or either way.
OPERATION_WORDS = {
    "activation": ("Activation", "credit"),
    "load": ("Load", "credit"),
    "refund": ("Refund", "credit"),
    "transfer_in": ("Balance transferred in", "credit"),
    "profile_bonus": ("Profile bonus", "credit"),
    "spend": ("Spend", "debit"),
    "capture": ("Captured payment", "debit"),
    "transfer_out": ("Balance transferred out", "debit"),
    "expiry": ("Expired", "debit"),
    "authorisation": ("Payment on hold", "hold"),
    "void": ("Hold released", "released"),
    "adjustment": ("Correction", "neutral"),
}
STATE_WORDS = {"inactive": "Inactive", "active": "Active", "frozen": "Frozen", "closed": "Closed"}
REPORT_FILES = {
    "liability": (LIABILITY_COLUMNS, "gift-card-liability"),
    "activity": (ACTIVITY_COLUMNS, "gift-card-activity"),
}


# Shared pieces -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperationLine:
    """One operation on a card, in words, signed from the card's point of view."""

    created_at: datetime
    description: str
    amount: str
    # credit, debit, hold, released or neutral (a correction either way).
    direction: str
    balance_after: str
    place: str
    invoice_number: str | None


def _assets(services: Services, codes: Iterable[str]) -> dict[str, Asset]:
    wanted = set(codes)
    found = services.merchants.assets_by_code(wanted)
    assert wanted <= found.keys(), f"unknown assets: {wanted - found.keys()}"
    return found


def _written_assets(
    services: Services, merchant_id: uuid.UUID, codes: Iterable[str]
) -> dict[str, WrittenAsset]:
    """The assets, writing their amounts for the merchant's locale."""
    written = services.merchants.locale_of(merchant_id).format
    return {
        code: written.asset(asset.code, asset.scale)
        for code, asset in _assets(services, codes).items()
    }


def _places(services: Services, principal: Principal) -> tuple[dict, dict]:
    """Store and terminal names by id, to say where something happened."""
    stores = {
        store["id"]: store["name"]
        for store in every_item(partial(services.merchants.list_stores, principal))
    }
    terminals = {
        terminal["id"]: terminal["name"]
        for terminal in every_item(partial(services.merchants.list_terminals, principal))
    }
    return stores, terminals


def _place(stores: dict, terminals: dict, store_id: Any, terminal_id: Any) -> str:
    names = [
        stores.get(store_id, "another store") if store_id else None,
        terminals.get(terminal_id, "a terminal") if terminal_id else None,
    ]
    return " · ".join(name for name in names if name) or "Back office"


def operation_line(
    operation: CardOperation, asset: Asset | WrittenAsset, place: str = ""
) -> OperationLine:
    words, direction = OPERATION_WORDS.get(
        operation.kind, (operation.kind.replace("_", " ").capitalize(), "neutral")
    )
    amount = asset.format(operation.amount_minor)
    sign = {"credit": "+", "debit": MINUS_SIGN}.get(direction, "")
    return OperationLine(
        created_at=operation.created_at,
        description=words,
        amount=sign + amount,
        direction=direction,
        balance_after=asset.format(operation.balance_after_minor),
        place=place,
        invoice_number=operation.invoice_number,
    )


# Alerts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertRow:
    created_at: datetime
    rule: str
    card_last4: str | None
    amount: str | None
    place: str
    # The alert's own words, when no amount says it all (wrong PINs, velocity …).
    summary: str | None
    mailed_to: list[str]


def gift_card_alerts(services: Services, principal: Principal) -> list[AlertRow]:
    """The merchant's latest alerts, newest first."""
    alerts = services.gift_cards.alerts.list_alerts(
        principal, page=PageRequest(limit=ALERTS_ON_PAGE)
    ).items
    stores, terminals = _places(services, principal)
    last4 = {
        card_id: services.gift_cards.get_card(principal, card_id)["number_last4"]
        for card_id in {alert["card_id"] for alert in alerts if alert["card_id"]}
    }
    assets = _written_assets(
        services,
        principal.merchant_id,
        (alert["details"]["asset"] for alert in alerts if "asset" in alert["details"]),
    )
    rows = []
    for alert in alerts:
        details = alert["details"]
        amount = (
            assets[details["asset"]].format(details["amount_minor"])
            if "amount_minor" in details and "asset" in details
            else None
        )
        rows.append(
            AlertRow(
                created_at=alert["created_at"],
                rule=ALERT_RULE_WORDS.get(alert["kind"], alert["kind"]),
                card_last4=last4.get(alert["card_id"]),
                amount=amount,
                place=_place(stores, terminals, alert["store_id"], alert["terminal_id"]),
                summary=None if amount else alert["summary"],
                mailed_to=list(alert["mailed_to"]),
            )
        )
    return rows


# Card lookup ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardRow:
    id: uuid.UUID
    last4: str
    program_name: str
    kind: str
    state: str
    balance: str
    registered: bool


@dataclass(frozen=True, slots=True)
class CardLookup:
    query: str
    searched: bool
    cards: list[CardRow]
    error: str | None


@dataclass(frozen=True, slots=True)
class CardDetail:
    id: uuid.UUID
    last4: str
    program_name: str
    kind: str
    state: str
    balance: str
    available: str | None
    locked_until: datetime | None
    activated_at: datetime | None
    expires_at: datetime | None
    registered_at: datetime | None
    closed_reason: str | None
    created_at: datetime
    history: list[OperationLine]
    # The raw state (inactive, active, frozen, closed) and currency, for the operation forms.
    state_code: str = "active"
    asset_code: str = ""


def find_gift_cards(services: Services, principal: Principal, query: str) -> CardLookup:
    """Cards by last four digits or whole number; a malformed query is a message, not an
    error page."""
    query = query.strip()[:40]
    if not query:
        principal.require("manager")
        return CardLookup(query="", searched=False, cards=[], error=None)
    try:
        cards = services.gift_cards.find_cards(principal, query)
    except errors.InvalidInput as error:
        return CardLookup(query=query, searched=True, cards=[], error=error.message)
    assets = _written_assets(services, principal.merchant_id, (card["asset"] for card in cards))
    return CardLookup(
        query=query,
        searched=True,
        error=None,
        cards=[
            CardRow(
                id=card["id"],
                last4=card["number_last4"],
                program_name=services.gift_cards.program(
                    principal.merchant_id, card["program_id"]
                ).name,
                kind="E-card" if card["kind"] == "virtual" else "Plastic",
                state=STATE_WORDS.get(card["state"], card["state"]),
                balance=assets[card["asset"]].format(card["balance_minor"]),
                registered=card["membership_id"] is not None,
            )
            for card in cards
        ],
    )


def gift_card_detail(services: Services, principal: Principal, card_id: uuid.UUID) -> CardDetail:
    """One card of this merchant: state, balance and every operation, newest first."""
    card = services.gift_cards.get_card(principal, card_id)
    operations = every_item(partial(services.gift_cards.card_history, principal, card_id))
    asset = _written_assets(services, principal.merchant_id, [card["asset"]])[card["asset"]]
    stores, terminals = _places(services, principal)
    now = services.clock.now()
    return CardDetail(
        id=card["id"],
        last4=card["number_last4"],
        program_name=services.gift_cards.program(principal.merchant_id, card["program_id"]).name,
        kind="E-card" if card["kind"] == "virtual" else "Plastic",
        state=STATE_WORDS.get(card["state"], card["state"]),
        balance=asset.format(card["balance_minor"]),
        available=(
            asset.format(card["available_minor"])
            if card["available_minor"] != card["balance_minor"]
            else None
        ),
        locked_until=(
            card["locked_until"] if card["locked_until"] and card["locked_until"] > now else None
        ),
        activated_at=card["activated_at"],
        expires_at=card["expires_at"],
        registered_at=card["registered_at"],
        closed_reason=card["closed_reason"],
        created_at=card["created_at"],
        history=[
            operation_line(
                operation,
                asset,
                _place(stores, terminals, operation.store_id, operation.terminal_id),
            )
            for operation in operations
        ],
        state_code=card["state"],
        asset_code=card["asset"],
    )


# Card operations (back-office forms) -----------------------------------------------------

# What the card page says after an operation, by the `done` word of its address.
DONE_MESSAGES = {
    "frozen": "The card is frozen: no operation goes through until it is unfrozen.",
    "unfrozen": "The card is active again.",
    "closed": "The card is closed for good.",
    "unlocked": "The PIN lock is lifted.",
    "adjusted": "The balance is corrected.",
    "transferred": "The balance moved to the new card; this card is now closed.",
}
ADJUST_DIRECTIONS = ("credit", "debit")
REASON_LENGTH_MIN = 3
REASON_LENGTH_MAX = 200
# Digits, then maybe a decimal part: no sign, exponent, NaN or infinity reaches Asset.parse.
AMOUNT_TEXT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?")


def _form_idempotency(
    action: str, card_id: uuid.UUID, form_key: str, *values: object
) -> Idempotency:
    """One key per rendered form, so a form sent twice moves the money once."""
    form_key = form_key.strip()[:64]
    if not form_key:
        return Idempotency()
    digest = hashlib.sha256(
        "\n".join(str(value) for value in (action, card_id, *values)).encode()
    ).hexdigest()
    return Idempotency(key=f"back-office:{action}:{card_id}:{form_key}", request_hash=digest)


def change_gift_card_state(
    services: Services, principal: Principal, card_id: uuid.UUID, action: str
) -> str:
    """Freeze, unfreeze, close or unlock a card; the `done` word to show."""
    gift_cards = services.gift_cards
    operations = {
        "freeze": (gift_cards.freeze, "frozen"),
        "unfreeze": (gift_cards.unfreeze, "unfrozen"),
        "close": (gift_cards.close, "closed"),
        "unlock": (gift_cards.unlock, "unlocked"),
    }
    operate, done = operations[action]
    operate(principal, card_id)
    return done


def adjust_gift_card(
    services: Services,
    principal: Principal,
    card_id: uuid.UUID,
    *,
    direction: str,
    amount: str,
    reason: str,
    form_key: str = "",
) -> str:
    """A manual correction, the amount typed in the card's currency (e.g. 12.50)."""
    card = services.gift_cards.get_card(principal, card_id)
    asset = _assets(services, [card["asset"]])[card["asset"]]
    if direction not in ADJUST_DIRECTIONS:
        raise errors.InvalidInput("Choose whether to add to or take from the balance.")
    amount = amount.strip().replace(",", ".")
    try:
        if not AMOUNT_TEXT.fullmatch(amount):
            raise ValueError(amount)
        amount_minor = asset.parse(amount)
    except ValueError:
        raise errors.InvalidInput(
            f"Enter an amount in {asset.code}, like 12.50 (at most {asset.scale} decimals)."
        ) from None
    if amount_minor <= 0:
        raise errors.InvalidInput("Enter an amount above zero.")
    reason = " ".join(reason.split())
    if not REASON_LENGTH_MIN <= len(reason) <= REASON_LENGTH_MAX:
        raise errors.InvalidInput(
            f"Give a reason for the correction ({REASON_LENGTH_MIN} to "
            f"{REASON_LENGTH_MAX} characters)."
        )
    services.gift_cards.adjust(
        principal,
        card_id,
        amount=amount_minor,
        direction=direction,
        reason=reason,
        idempotency=_form_idempotency("adjust", card_id, form_key, direction, amount_minor, reason),
    )
    return "adjusted"


def transfer_gift_card_balance(
    services: Services,
    principal: Principal,
    card_id: uuid.UUID,
    *,
    to_number: str,
    form_key: str = "",
) -> str:
    """Move the card's whole balance to a new card, named by its number; this one closes."""
    services.gift_cards.get_card(principal, card_id)  # another merchant's card: not found
    to_number = "".join(to_number.split())
    if not to_number or len(to_number) > 40:
        raise errors.InvalidInput("Enter the new card's number.")
    services.gift_cards.transfer_balance(
        principal,
        to_number=to_number,
        from_card_id=card_id,
        idempotency=_form_idempotency("transfer", card_id, form_key, to_number),
    )
    return "transferred"


# Reports --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiabilityRow:
    program_name: str
    asset: str
    cards_inactive: int
    cards_active: int
    cards_frozen: int
    cards_closed: int
    outstanding: str


@dataclass(frozen=True, slots=True)
class ActivityRow:
    business_date: str
    store: str
    program_name: str
    operations: int
    loaded: str
    spent: str
    refunded: str
    breakage: str
    transferred: str


@dataclass(frozen=True, slots=True)
class Reports:
    date_from: date
    date_to: date
    liability: list[LiabilityRow]
    activity: list[ActivityRow]
    error: str | None


def report_period(
    services: Services, principal: Principal, date_from: date | None, date_to: date | None
) -> tuple[date, date]:
    """The period asked for, or the last 30 days up to the merchant's today."""
    today = services.merchants.locale_of(principal.merchant_id).local_date(services.clock.now())
    date_to = date_to or today
    return date_from or date_to - timedelta(days=REPORT_DAYS_DEFAULT - 1), date_to


def gift_card_reports(
    services: Services, principal: Principal, date_from: date, date_to: date
) -> Reports:
    """Liability per program now, and activity per day, store and program in the period."""
    reports = services.gift_cards.reports
    liability = reports.liability(principal)
    try:
        activity = reports.activity(principal, date_from=date_from, date_to=date_to)
    except errors.InvalidInput as error:
        activity, message = [], error.message
    else:
        message = None
    assets = _written_assets(
        services, principal.merchant_id, [row["asset"] for row in liability + activity]
    )
    programs = {str(row["program_id"]): row["program_name"] for row in liability}
    stores, _terminals = _places(services, principal)
    store_names = {str(store_id): name for store_id, name in stores.items()}

    def money(row: dict[str, Any], column: str) -> str:
        return assets[row["asset"]].format(row[column])

    return Reports(
        date_from=date_from,
        date_to=date_to,
        error=message,
        liability=[
            LiabilityRow(
                program_name=row["program_name"],
                asset=row["asset"],
                cards_inactive=row["cards_inactive"],
                cards_active=row["cards_active"],
                cards_frozen=row["cards_frozen"],
                cards_closed=row["cards_closed"],
                outstanding=money(row, "outstanding_minor"),
            )
            for row in liability
        ],
        activity=[
            ActivityRow(
                business_date=row["business_date"],
                store=store_names.get(row["store_id"], "Back office / online")
                if row["store_id"]
                else "Back office / online",
                program_name=programs.get(row["program_id"], "—"),
                operations=row["operations"],
                loaded=money(row, "loaded_minor"),
                spent=money(row, "spent_minor"),
                refunded=money(row, "refunded_minor"),
                breakage=money(row, "breakage_minor"),
                transferred=money(row, "transferred_minor"),
            )
            for row in activity
        ],
    )


def gift_card_report_file(
    services: Services,
    principal: Principal,
    report: str,
    file_format: str,
    date_from: date,
    date_to: date,
) -> tuple[bytes, str]:
    """A report as the service exports it (CSV or XLSX), and its file name."""
    columns, name = REPORT_FILES[report]
    if report == "liability":
        rows = services.gift_cards.reports.liability(principal)
    else:
        rows = services.gift_cards.reports.activity(principal, date_from=date_from, date_to=date_to)
        name = f"{name}-{date_from.isoformat()}-{date_to.isoformat()}"
    return export_rows(rows, columns, file_format, REPORT_FILES[report][1]), (
        f"{name}.{file_format}"
    )


# The customer page ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerGiftCard:
    id: uuid.UUID
    merchant_name: str
    program_name: str
    last4: str
    state: str
    usable: bool
    balance: str
    available: str | None
    history: list[OperationLine]


@dataclass(frozen=True, slots=True)
class RegistrationShop:
    """A merchant the customer is a member of, to register a card with."""

    merchant_id: uuid.UUID
    name: str


def customer_gift_cards(services: Services, customer_id: uuid.UUID) -> list[CustomerGiftCard]:
    """The cards registered to the customer's memberships, with a short history each."""
    cards = every_item(partial(services.gift_cards.cards_of_customer, customer_id))
    names = services.merchants.merchant_names({card["merchant_id"] for card in cards})
    assets = _assets(services, (card["asset"] for card in cards))
    views = []
    for card in cards:
        # Each card's amounts written for its merchant's locale.
        asset = services.merchants.locale_of(card["merchant_id"]).format.asset(
            card["asset"], assets[card["asset"]].scale
        )
        operations = services.gift_cards.customer_card_history(
            customer_id, card["id"], limit=CUSTOMER_HISTORY_LINES
        )
        views.append(
            CustomerGiftCard(
                id=card["id"],
                merchant_name=names.get(card["merchant_id"], "—"),
                program_name=services.gift_cards.program(
                    card["merchant_id"], card["program_id"]
                ).name,
                last4=card["number_last4"],
                state=STATE_WORDS.get(card["state"], card["state"]),
                usable=card["state"] == "active",
                balance=asset.format(card["balance_minor"]),
                available=(
                    asset.format(card["available_minor"])
                    if card["available_minor"] != card["balance_minor"]
                    else None
                ),
                history=[operation_line(operation, asset) for operation in operations],
            )
        )
    return views


def registration_shops(services: Services, customer_id: uuid.UUID) -> list[RegistrationShop]:
    """The merchants where the customer may register a card: their unblocked memberships."""
    memberships = [
        m for m in services.customers.memberships_of(customer_id) if m["status"] != "blocked"
    ]
    names = services.merchants.merchant_names(m["merchant_id"] for m in memberships)
    return [
        RegistrationShop(m["merchant_id"], names.get(m["merchant_id"], "—")) for m in memberships
    ]


def register_gift_card(
    services: Services,
    customer_id: uuid.UUID,
    *,
    merchant_id: uuid.UUID,
    number: str,
    pin: str,
) -> str:
    """Register a card to the customer's membership; its last four digits, to confirm.
    The service's errors (gift_card_invalid, gift_card_already_registered …) pass through."""
    card = services.gift_cards.register_own_card(
        customer_id, merchant_id=merchant_id, number=number, pin=pin
    )
    return card["number_last4"]
