"""Gift cards: programs, batches, e-cards, register operations, alerts, resellers, reports."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status

from cagnotte.api.deps import Caller, Customer, IdempotencyDep, ServicesDep
from cagnotte.api.pagination import PageDep
from cagnotte.api.schemas import IssuedApiKeyOut
from cagnotte.api.schemas.gift_cards import (
    ActivationCreate,
    AlertOut,
    AlertRuleChange,
    AlertRuleCreate,
    AlertRuleOut,
    AuthorisationCreate,
    BalanceTransferCreate,
    BalanceTransferOut,
    BatchActivationCreate,
    BatchActivationOut,
    BatchCreate,
    BatchOut,
    CardAdjustmentCreate,
    CardCredentials,
    CardOut,
    ECardCreate,
    ECardMailResend,
    IssuedCardOut,
    LoadCreate,
    OperationOut,
    OwnRegistrationCreate,
    PartialAmount,
    ProfileBonusCreate,
    ProgramChange,
    ProgramCreate,
    ProgramOut,
    RegistrationCreate,
    ResellerCreate,
    ResellerCreated,
    ResellerOut,
    SpendCreate,
)
from cagnotte.api.schemas.mail import MailOut
from cagnotte.api.schemas.pages import Page
from cagnotte.programs.gift_cards.reports import (
    ACTIVITY_COLUMNS,
    LIABILITY_COLUMNS,
    SETTLEMENT_COLUMNS,
    export_rows,
)
from cagnotte.programs.gift_cards.views import CardOperation

router = APIRouter(prefix="/v1", tags=["gift cards"])

REPLAY_HEADER = "Idempotent-Replayed"
ExportFormat = Literal["json", "csv", "xlsx"]
_MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _operation(response: Response, operation: CardOperation) -> OperationOut:
    if operation.replayed:
        response.headers[REPLAY_HEADER] = "true"
    return OperationOut.of(operation)


def _card(view: dict[str, Any]) -> CardOut:
    return CardOut(**view)


def _report(
    rows: list[dict[str, Any]], columns: tuple[str, ...], file_format: str, name: str
) -> Any:
    if file_format == "json":
        return rows
    return Response(
        export_rows(rows, columns, file_format, name),
        media_type=_MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="{name}.{file_format}"'},
    )


# Programs and batches ----------------------------------------------------------------


@router.post("/gift-card-programs", status_code=status.HTTP_201_CREATED)
def create_gift_card_program(
    body: ProgramCreate, caller: Caller, services: ServicesDep
) -> ProgramOut:
    """A manager sets up a program: card format, PIN, load range, expiry, controls."""
    settings = body.model_dump()
    settings["asset_code"] = settings.pop("asset")
    return ProgramOut.of(services.gift_cards.create_program(caller, settings))


@router.get("/gift-card-programs")
def list_gift_card_programs(
    caller: Caller, services: ServicesDep, page: PageDep
) -> Page[ProgramOut]:
    """The merchant's programs, oldest first; for a reseller, those it may sell."""
    return Page.of(services.gift_cards.programs_page(caller, page), ProgramOut.of)


@router.get("/gift-card-programs/{program_id}")
def get_gift_card_program(
    program_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> ProgramOut:
    return ProgramOut.of(services.gift_cards.get_program(caller, program_id))


@router.patch("/gift-card-programs/{program_id}")
def update_gift_card_program(
    program_id: uuid.UUID, body: ProgramChange, caller: Caller, services: ServicesDep
) -> ProgramOut:
    """Change limits and controls; the card number format stays as it was."""
    changes = body.model_dump(exclude_unset=True)
    return ProgramOut.of(services.gift_cards.update_program(caller, program_id, changes))


@router.post("/gift-card-programs/{program_id}/batches", status_code=status.HTTP_201_CREATED)
def create_gift_card_batch(
    program_id: uuid.UUID, body: BatchCreate, caller: Caller, services: ServicesDep
) -> BatchOut:
    """N inactive plastic cards; export their numbers and PINs once for the printer."""
    return BatchOut.of(
        services.gift_cards.create_batch(caller, program_id, body.card_count, body.note)
    )


@router.get("/gift-card-batches/{batch_id}")
def get_gift_card_batch(batch_id: uuid.UUID, caller: Caller, services: ServicesDep) -> BatchOut:
    return BatchOut.of(services.gift_cards.get_batch(caller, batch_id))


@router.post(
    "/gift-card-batches/{batch_id}/export",
    response_class=Response,
    responses={200: {"content": {_MEDIA_TYPES["csv"]: {}, _MEDIA_TYPES["xlsx"]: {}}}},
)
def export_gift_card_batch(
    batch_id: uuid.UUID,
    caller: Caller,
    services: ServicesDep,
    file_format: Annotated[Literal["csv", "xlsx"], Query(alias="format")] = "csv",
) -> Response:
    """The printer's file with numbers and PINs. Once: a second export is refused."""
    rows = services.gift_cards.export_batch(caller, batch_id)
    return _report(
        rows, ("sequence", "card_id", "number", "pin"), file_format, f"gift-card-batch-{batch_id}"
    )


@router.post("/gift-card-batches/{batch_id}/activations", status_code=status.HTTP_201_CREATED)
def activate_gift_card_batch(
    batch_id: uuid.UUID,
    body: BatchActivationCreate,
    caller: Caller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
) -> BatchActivationOut:
    """Activate the whole batch, a range or a list of its cards, each with an optional load."""
    result = services.gift_cards.activate_batch(
        caller,
        batch_id,
        sequence_from=body.sequence_from,
        sequence_to=body.sequence_to,
        numbers=body.numbers,
        load_minor=body.load_minor,
        idempotency=idempotency,
    )
    return BatchActivationOut(**asdict(result))


# Cards -------------------------------------------------------------------------------


@router.post("/gift-cards/e-cards", status_code=status.HTTP_201_CREATED)
def issue_ecard(
    body: ECardCreate,
    caller: Caller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> IssuedCardOut:
    """Sell a virtual card: issued, loaded and e-mailed (number, PIN, QR code, message).

    The mail is sent by the jobs (see its state at /v1/gift-cards/{card_id}/ecard-mails).
    A retry with the same Idempotency-Key answers the same number and PIN: send a
    random key (a UUID), since it is what keeps them sealed.
    """
    issued = services.gift_cards.issue_ecard(
        caller,
        program_id=body.program_id,
        amount=body.amount_minor,
        recipient_email=str(body.recipient_email),
        recipient_name=body.recipient_name,
        sender_name=body.sender_name,
        message=body.message,
        invoice_number=body.invoice_number,
        idempotency=idempotency,
    )
    operation = _operation(response, issued.operation) if issued.operation else None
    return IssuedCardOut(
        card=_card(issued.card),
        number=issued.number or None,
        pin=issued.pin,
        page_url=issued.page_url,
        operation=operation,
    )


@router.get("/gift-cards/{card_id}/ecard-mails")
def list_ecard_mails(
    card_id: uuid.UUID, caller: Caller, services: ServicesDep, page: PageDep
) -> Page[MailOut]:
    """What became of an e-card's mails (the first and any sent again), newest first."""
    return Page.of(services.gift_cards.ecard_mails(caller, card_id, page), MailOut.of)


@router.post("/gift-cards/{card_id}/ecard-mails", status_code=status.HTTP_202_ACCEPTED)
def resend_ecard_mail(
    card_id: uuid.UUID, body: ECardMailResend, caller: Caller, services: ServicesDep
) -> MailOut:
    """Mail an e-card again (number, PIN, page), by the Idempotency-Key it was issued with."""
    mail = services.gift_cards.resend_ecard_mail(
        caller,
        card_id,
        idempotency_key=body.idempotency_key,
        recipient_email=str(body.recipient_email) if body.recipient_email else None,
    )
    return MailOut.of(mail)


@router.get("/gift-cards")
def list_gift_cards(
    caller: Caller,
    services: ServicesDep,
    page: PageDep,
    program_id: uuid.UUID | None = None,
    state: Literal["inactive", "active", "frozen", "closed"] | None = None,
    customer_id: uuid.UUID | None = None,
) -> Page[CardOut]:
    """The merchant's cards, newest first, filtered as asked."""
    cards = services.gift_cards.list_cards(
        caller, program_id=program_id, state=state, membership_id=customer_id, page=page
    )
    return Page.of(cards, _card)


@router.get("/gift-cards/{card_id}")
def get_gift_card(card_id: uuid.UUID, caller: Caller, services: ServicesDep) -> CardOut:
    return _card(services.gift_cards.get_card(caller, card_id))


@router.get("/gift-cards/{card_id}/operations")
def list_gift_card_operations(
    card_id: uuid.UUID, caller: Caller, services: ServicesDep, page: PageDep
) -> Page[OperationOut]:
    """The card's history, newest first (a balance transfer shows on both cards)."""
    return Page.of(services.gift_cards.card_history(caller, card_id, page), OperationOut.of)


@router.post("/gift-cards/activations", status_code=status.HTTP_201_CREATED)
def activate_gift_card(
    body: ActivationCreate,
    caller: Caller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> OperationOut:
    """Activate a card, with its first load (a register, or a reseller's key)."""
    return _operation(
        response,
        services.gift_cards.activate(
            caller,
            number=body.number,
            amount=body.amount_minor,
            invoice_number=body.invoice_number,
            idempotency=idempotency,
        ),
    )


@router.post("/gift-cards/loads", status_code=status.HTTP_201_CREATED)
def load_gift_card(
    body: LoadCreate,
    caller: Caller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> OperationOut:
    """Reload a card, within the program's range, maximum balance and daily limits."""
    return _operation(
        response,
        services.gift_cards.load(
            caller,
            number=body.number,
            amount=body.amount_minor,
            invoice_number=body.invoice_number,
            idempotency=idempotency,
        ),
    )


@router.post("/gift-cards/spends", status_code=status.HTTP_201_CREATED)
def spend_gift_card(
    body: SpendCreate,
    caller: Caller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> OperationOut:
    """Pay with a card (number and PIN): all of it, or what is there and the rest due."""
    return _operation(
        response,
        services.gift_cards.spend(
            caller,
            number=body.number,
            pin=body.pin,
            amount=body.amount_minor,
            invoice_number=body.invoice_number,
            take_what_is_there=body.take_what_is_there,
            idempotency=idempotency,
        ),
    )


@router.post("/gift-cards/spends/{operation_id}/refunds", status_code=status.HTTP_201_CREATED)
def refund_gift_card_spend(
    operation_id: uuid.UUID,
    body: PartialAmount,
    caller: Caller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> OperationOut:
    """Give (part of) a spend or capture back to its card."""
    return _operation(
        response, services.gift_cards.refund(caller, operation_id, body.amount_minor, idempotency)
    )


@router.post("/gift-cards/balance-inquiries")
def inquire_gift_card_balance(
    body: CardCredentials, caller: Caller, services: ServicesDep
) -> CardOut:
    """The balance for a number and PIN (sent in the body, never in the address)."""
    return _card(services.gift_cards.balance_inquiry(caller, number=body.number, pin=body.pin))


@router.post("/gift-cards/authorisations", status_code=status.HTTP_201_CREATED)
def authorise_gift_card_amount(
    body: AuthorisationCreate,
    caller: Caller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> OperationOut:
    """Hold an amount on the card (PIN checked here); capture or void it before it lapses."""
    return _operation(
        response,
        services.gift_cards.authorise(
            caller,
            number=body.number,
            pin=body.pin,
            amount=body.amount_minor,
            invoice_number=body.invoice_number,
            idempotency=idempotency,
        ),
    )


@router.post(
    "/gift-cards/authorisations/{operation_id}/capture", status_code=status.HTTP_201_CREATED
)
def capture_gift_card_authorisation(
    operation_id: uuid.UUID,
    body: PartialAmount,
    caller: Caller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> OperationOut:
    return _operation(
        response, services.gift_cards.capture(caller, operation_id, body.amount_minor, idempotency)
    )


@router.post("/gift-cards/authorisations/{operation_id}/void", status_code=status.HTTP_201_CREATED)
def void_gift_card_authorisation(
    operation_id: uuid.UUID,
    caller: Caller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> OperationOut:
    return _operation(response, services.gift_cards.void(caller, operation_id, idempotency))


@router.post("/gift-cards/balance-transfers", status_code=status.HTTP_201_CREATED)
def transfer_gift_card_balance(
    body: BalanceTransferCreate,
    caller: Caller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> BalanceTransferOut:
    """Move a lost or damaged card's whole balance to a new card; the old one is closed."""
    out, into = services.gift_cards.transfer_balance(
        caller,
        to_number=body.to_number,
        from_card_id=body.from_card_id,
        from_number=body.from_number,
        from_pin=body.from_pin,
        idempotency=idempotency,
    )
    return BalanceTransferOut(
        transfer_out=_operation(response, out), transfer_in=_operation(response, into)
    )


@router.post("/gift-cards/{card_id}/freeze")
def freeze_gift_card(card_id: uuid.UUID, caller: Caller, services: ServicesDep) -> CardOut:
    return _card(services.gift_cards.freeze(caller, card_id))


@router.post("/gift-cards/{card_id}/unfreeze")
def unfreeze_gift_card(card_id: uuid.UUID, caller: Caller, services: ServicesDep) -> CardOut:
    return _card(services.gift_cards.unfreeze(caller, card_id))


@router.post("/gift-cards/{card_id}/close")
def close_gift_card(card_id: uuid.UUID, caller: Caller, services: ServicesDep) -> CardOut:
    return _card(services.gift_cards.close(caller, card_id))


@router.post("/gift-cards/{card_id}/unlock")
def unlock_gift_card(card_id: uuid.UUID, caller: Caller, services: ServicesDep) -> CardOut:
    """Lift a PIN lockout before its time."""
    return _card(services.gift_cards.unlock(caller, card_id))


@router.post("/gift-cards/{card_id}/adjustments", status_code=status.HTTP_201_CREATED)
def adjust_gift_card(
    card_id: uuid.UUID,
    body: CardAdjustmentCreate,
    caller: Caller,
    services: ServicesDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> OperationOut:
    """A manager's correction, with a reason (audited, and alerted when a rule says so)."""
    return _operation(
        response,
        services.gift_cards.adjust(
            caller,
            card_id,
            amount=body.amount_minor,
            direction=body.direction,
            reason=body.reason,
            idempotency=idempotency,
        ),
    )


# Members -----------------------------------------------------------------------------


@router.post("/gift-cards/registrations", status_code=status.HTTP_201_CREATED)
def register_gift_card(body: RegistrationCreate, caller: Caller, services: ServicesDep) -> CardOut:
    """Register a card to a member (number and PIN); a complete profile earns the bonus."""
    return _card(
        services.gift_cards.register_card(
            caller, membership_id=body.customer_id, number=body.number, pin=body.pin
        )
    )


@router.post("/gift-cards/profile-bonuses", status_code=status.HTTP_201_CREATED)
def give_gift_card_profile_bonus(
    body: ProfileBonusCreate, caller: Caller, services: ServicesDep, response: Response
) -> OperationOut:
    """The program's bonus for a member who completed the profile, once per program."""
    return _operation(
        response,
        services.gift_cards.give_profile_bonus(
            caller, membership_id=body.customer_id, card_id=body.card_id
        ),
    )


@router.get("/me/gift-cards", tags=["customer"])
def list_my_gift_cards(customer: Customer, services: ServicesDep, page: PageDep) -> Page[CardOut]:
    """The signed-in customer's registered cards, with their balances, in the order they
    were registered."""
    return Page.of(services.gift_cards.cards_of_customer(customer.customer_id, page), _card)


@router.post("/me/gift-cards", tags=["customer"], status_code=status.HTTP_201_CREATED)
def register_my_gift_card(
    body: OwnRegistrationCreate, customer: Customer, services: ServicesDep
) -> CardOut:
    """Register a card to the signed-in customer's membership (number and PIN; wrong PINs
    count towards the card's lockout, and every miss gets the same gift_card_invalid)."""
    return _card(
        services.gift_cards.register_own_card(
            customer.customer_id, merchant_id=body.merchant_id, number=body.number, pin=body.pin
        )
    )


# Alerts ------------------------------------------------------------------------------


@router.post("/gift-card-alert-rules", status_code=status.HTTP_201_CREATED)
def create_gift_card_alert_rule(
    body: AlertRuleCreate, caller: Caller, services: ServicesDep
) -> AlertRuleOut:
    return AlertRuleOut(**services.gift_cards.alerts.create_rule(caller, body.model_dump()))


@router.get("/gift-card-alert-rules")
def list_gift_card_alert_rules(
    caller: Caller, services: ServicesDep, page: PageDep
) -> Page[AlertRuleOut]:
    """The merchant's alert rules, oldest first."""
    found = services.gift_cards.alerts.list_rules(caller, page)
    return Page.of(found, lambda rule: AlertRuleOut(**rule))


@router.patch("/gift-card-alert-rules/{rule_id}")
def change_gift_card_alert_rule(
    rule_id: uuid.UUID, body: AlertRuleChange, caller: Caller, services: ServicesDep
) -> AlertRuleOut:
    return AlertRuleOut(**services.gift_cards.alerts.set_rule_active(caller, rule_id, body.active))


@router.get("/gift-card-alerts")
def list_gift_card_alerts(
    caller: Caller,
    services: ServicesDep,
    page: PageDep,
    kind: str | None = None,
) -> Page[AlertOut]:
    """The alerts raised, newest first."""
    found = services.gift_cards.alerts.list_alerts(caller, kind=kind, page=page)
    return Page.of(found, lambda alert: AlertOut(**alert))


# Resellers ---------------------------------------------------------------------------


@router.post("/gift-card-resellers", status_code=status.HTTP_201_CREATED)
def create_gift_card_reseller(
    body: ResellerCreate, caller: Caller, services: ServicesDep
) -> ResellerCreated:
    """A distribution partner; its key (shown once) may only activate and load its programs."""
    reseller, key = services.gift_cards.create_reseller(
        caller,
        name=body.name,
        email=str(body.email) if body.email else None,
        program_ids=body.program_ids,
    )
    return ResellerCreated.of(reseller, api_key=IssuedApiKeyOut(**asdict(key)))


@router.get("/gift-card-resellers")
def list_gift_card_resellers(
    caller: Caller, services: ServicesDep, page: PageDep
) -> Page[ResellerOut]:
    """The merchant's resellers, oldest first."""
    return Page.of(services.gift_cards.list_resellers(caller, page), ResellerOut.of)


@router.get("/gift-card-resellers/{reseller_id}/settlement")
def get_reseller_settlement(
    reseller_id: uuid.UUID,
    caller: Caller,
    services: ServicesDep,
    date_from: Annotated[date, Query(alias="from")],
    date_to: Annotated[date, Query(alias="to")],
    file_format: Annotated[ExportFormat, Query(alias="format")] = "json",
) -> Any:
    """What the reseller activated and loaded in the period (the reseller may read its own)."""
    rows = services.gift_cards.reports.reseller_settlement(
        caller, reseller_id=reseller_id, date_from=date_from, date_to=date_to
    )
    return _report(rows, SETTLEMENT_COLUMNS, file_format, f"reseller-settlement-{reseller_id}")


# Reports -----------------------------------------------------------------------------


@router.get("/gift-card-reports/liability")
def get_gift_card_liability_report(
    caller: Caller,
    services: ServicesDep,
    file_format: Annotated[ExportFormat, Query(alias="format")] = "json",
) -> Any:
    """Outstanding balances per program, and cards per state."""
    rows = services.gift_cards.reports.liability(caller)
    return _report(rows, LIABILITY_COLUMNS, file_format, "gift-card-liability")


@router.get("/gift-card-reports/activity")
def get_gift_card_activity_report(
    caller: Caller,
    services: ServicesDep,
    date_from: Annotated[date, Query(alias="from")],
    date_to: Annotated[date, Query(alias="to")],
    program_id: uuid.UUID | None = None,
    store_id: uuid.UUID | None = None,
    file_format: Annotated[ExportFormat, Query(alias="format")] = "json",
) -> Any:
    """Loads, spends, refunds, breakage and transfers per day, store and program."""
    rows = services.gift_cards.reports.activity(
        caller, date_from=date_from, date_to=date_to, program_id=program_id, store_id=store_id
    )
    return _report(rows, ACTIVITY_COLUMNS, file_format, "gift-card-activity")
