"""Gift cards: programs, cards, and every operation on them, over the ledger.

Each card is a ledger account (owner_type 'gift_card', purpose 'gift_card',
never below zero). Per merchant and program:
- the program's `gift_card_issuance` account is the other side of every load
  (unlimited; its debit balance is what the program has issued);
- the merchant's `settlement` account (the hot, sharded one the wallets use)
  receives spends;
- the merchant's `breakage` account receives what expired cards held;
- the merchant's `gift_card_promotions` and `adjustments` accounts fund profile
  bonuses and manual corrections.

Every operation locks the card's row first, so the daily limits and the
maximum balance are checked against a balance nobody else is changing; the
ledger still refuses any overspend in the statement that moves the value.

Errors: gift_card_invalid (wrong number, wrong PIN, locked card, another
merchant's or another program's card: one answer), gift_card_inactive,
gift_card_frozen, gift_card_closed, gift_card_not_reloadable,
gift_card_has_holds, gift_card_already_registered, load_out_of_range,
balance_limit_exceeded, operation_amount_exceeded, daily_limit_exceeded,
invoice_required, invoice_reused, insufficient_funds, batch_already_exported,
profile_incomplete, profile_bonus_already_given, not_found, forbidden,
invalid_input, conflict, idempotency_key_reused, and the ledger's errors for
holds and reversals (pending_transfer_expired, reversal_exceeds_transfer …).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.clock import Clock
from cagnotte.crm.service import CustomerService
from cagnotte.db.engine import Database
from cagnotte.db.rows import merchant_row
from cagnotte.db.tables import merchants, transfers
from cagnotte.db.unit_of_work import (
    Idempotency,
    StoredAnswer,
    UnitOfWork,
    UnitsOfWork,
    constraint_name,
)
from cagnotte.ledger import (
    AccountSpec,
    Balance,
    EntryResult,
    Hold,
    Ledger,
    Operation,
    PostHold,
    Reverse,
    Transfer,
    VoidHold,
)
from cagnotte.ledger.model import Account
from cagnotte.mail import Mailer
from cagnotte.merchants.service import IssuedKey, MerchantService
from cagnotte.programs.gift_cards import rules
from cagnotte.programs.gift_cards.alerts import GiftCardAlerts
from cagnotte.programs.gift_cards.ecards import compose_ecard_mail
from cagnotte.programs.gift_cards.numbers import (
    new_card_number,
    new_pin,
    normalise_number,
    number_hash,
    seal_number,
    unseal_number,
)
from cagnotte.programs.gift_cards.pins import burn_pin_check, hash_pin, verify_pin
from cagnotte.programs.gift_cards.reports import GiftCardReports
from cagnotte.programs.gift_cards.rules import DayActivity, Program
from cagnotte.programs.gift_cards.tables import (
    gift_card_batch_secrets,
    gift_card_batches,
    gift_card_lookups,
    gift_card_operations,
    gift_card_programs,
    gift_card_reseller_programs,
    gift_card_resellers,
    gift_cards,
)
from cagnotte.programs.gift_cards.views import (
    BatchActivation,
    CardOperation,
    IssuedCard,
    card_view,
)
from cagnotte.programs.wallets import SETTLEMENT_SHARDS
from cagnotte.security.platform_keys import platform_key
from cagnotte.security.principals import Principal
from cagnotte.security.secrets_ import token_hash

BATCH_CARDS_MAX = 5_000
CARD_LIST_PAGE_MAX = 500
CARD_SEARCH_RESULTS_MAX = 20
ISSUANCE_SHARDS = 16
PROGRAM_CACHE_SECONDS = 5.0
NUMBER_COLLISION_RETRIES = 5
NO_SUCH_CARD = "No such card."
INVOICE_CONSTRAINT = "uq_gift_card_operations_merchant_id_invoice_number"
ECARD_MESSAGE_LENGTH_MAX = 500
PAGE_TOKEN_BYTES = 24


@dataclass
class _Plan:
    """What one operation will do: the ledger operations and the card's changes."""

    ledger_operations: list[Operation]
    amount: int
    requested: int | None = None
    related_id: uuid.UUID | None = None
    hold_expires_at: datetime | None = None
    card_changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CardContext:
    """A card found by its number, with its program."""

    row: Any
    program: Program
    number: str


class GiftCardService:
    def __init__(
        self, database: Database, clock: Clock, ledger: Ledger, customers: CustomerService,
        merchants: MerchantService, mailer: Mailer, *, mail_from: str, public_url: str,
        number_key: str | None = None, units: UnitsOfWork | None = None,
    ) -> None:
        self.database = database
        self.units = units or UnitsOfWork(database, clock)
        self.clock = clock
        self.ledger = ledger
        self.customers = customers
        self.merchants = merchants
        self.mailer = mailer
        self.mail_from = mail_from
        self.public_url = public_url.rstrip("/")
        self.alerts = GiftCardAlerts(database, clock, mailer, mail_from)
        self.reports = GiftCardReports(database)
        self._configured_number_key = number_key.encode() if number_key else None
        self._number_key_value: bytes | None = self._configured_number_key
        self._programs: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, Program]] = {}
        self._lock = threading.Lock()

    # Programs ----------------------------------------------------------------------

    def create_program(self, caller: Principal, settings: dict[str, Any]) -> Program:
        """A manager sets up a program: card format, PIN, limits, expiry, controls."""
        caller.require("manager")
        values = {**rules.PROGRAM_DEFAULTS, **{k: v for k, v in settings.items() if v is not None}}
        rules.check_program_settings(values)
        self._require_currency(caller.merchant_id, values["asset_code"])
        program_id = uuid.uuid4()
        with self.database.transaction() as connection:
            connection.execute(
                insert(gift_card_programs).values(
                    merchant_id=caller.merchant_id, id=program_id, status="active",
                    created_at=self.clock.now(), **values,
                )
            )
            record_audit(
                connection, caller.merchant_id, caller.actor, "gift_card_program.created",
                program_id, {"name": values["name"]}, self.clock.now(),
            )
        return self.program(caller.merchant_id, program_id)

    def update_program(
        self, caller: Principal, program_id: uuid.UUID, changes: dict[str, Any]
    ) -> Program:
        """Change a program's limits and controls (its card format stays)."""
        caller.require("manager")
        current = self.program(caller.merchant_id, program_id)
        frozen_fields = {"asset_code", "number_length", "number_prefix", "number_luhn",
                         "pin_length"}
        changes = {k: v for k, v in changes.items() if k not in frozen_fields}
        values = {name: getattr(current, name) for name in rules.PROGRAM_DEFAULTS} | {
            "load_min_minor": current.load_min_minor, "load_max_minor": current.load_max_minor,
            "balance_max_minor": current.balance_max_minor,
        } | changes
        rules.check_program_settings(values)
        with self.database.transaction() as connection:
            connection.execute(
                update(gift_card_programs)
                .where(gift_card_programs.c.merchant_id == caller.merchant_id,
                       gift_card_programs.c.id == program_id)
                .values(**changes)
            )
            record_audit(
                connection, caller.merchant_id, caller.actor, "gift_card_program.updated",
                program_id, {"fields": sorted(changes)}, self.clock.now(),
            )
        with self._lock:
            self._programs.pop((caller.merchant_id, program_id), None)
        return self.program(caller.merchant_id, program_id)

    def list_programs(self, caller: Principal) -> list[Program]:
        with self.database.read() as connection:
            rows = connection.execute(
                select(gift_card_programs)
                .where(gift_card_programs.c.merchant_id == caller.merchant_id)
                .order_by(gift_card_programs.c.created_at)
            ).mappings().all()
        programs = [Program.from_row(row) for row in rows]
        if caller.role == "reseller":
            allowed = self._reseller_programs(caller)
            programs = [program for program in programs if program.id in allowed]
        return programs

    def get_program(self, caller: Principal, program_id: uuid.UUID) -> Program:
        program = self.program(caller.merchant_id, program_id)
        if caller.role == "reseller" and program_id not in self._reseller_programs(caller):
            raise errors.NotFound("No such program.")
        return program

    def program(self, merchant_id: uuid.UUID, program_id: uuid.UUID) -> Program:
        """A program, kept in memory for a few seconds (settings change rarely)."""
        key = (merchant_id, program_id)
        cached = self._programs.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        with self.database.read() as connection:
            row = merchant_row(
                connection, gift_card_programs, merchant_id, program_id,
                missing="No such program.",
            )
        program = Program.from_row(row)
        with self._lock:
            self._programs[key] = (time.monotonic() + PROGRAM_CACHE_SECONDS, program)
        return program

    def _require_currency(self, merchant_id: uuid.UUID, asset_code: str) -> None:
        known = {asset.code for asset in self.merchants.assets_by_code([asset_code]).values()}
        if asset_code not in known:
            raise errors.AssetNotFound()

    # Batches of plastic cards ----------------------------------------------------------

    def create_batch(
        self, caller: Principal, program_id: uuid.UUID, card_count: int, note: str | None
    ) -> dict[str, Any]:
        """N inactive plastic cards; their numbers and PINs wait for the one export."""
        caller.require("manager")
        if not 1 <= card_count <= BATCH_CARDS_MAX:
            raise errors.InvalidInput(f"A batch has 1 to {BATCH_CARDS_MAX} cards.")
        program = self.program(caller.merchant_id, program_id)
        self._number_key()  # made (once) before the batch's transaction takes the write lock
        batch_id = uuid.uuid4()
        now = self.clock.now()
        with self.database.transaction() as connection:
            connection.execute(
                insert(gift_card_batches).values(
                    merchant_id=caller.merchant_id, id=batch_id, program_id=program_id,
                    card_count=card_count, note=note, created_at=now,
                )
            )
            for sequence in range(1, card_count + 1):
                issued = self._create_card(
                    connection, program, "plastic", batch_id=batch_id, batch_sequence=sequence
                )
                connection.execute(
                    insert(gift_card_batch_secrets).values(
                        merchant_id=caller.merchant_id, batch_id=batch_id,
                        batch_sequence=sequence, card_id=issued.card["id"],
                        number=issued.number, pin=issued.pin,
                    )
                )
            record_audit(
                connection, caller.merchant_id, caller.actor, "gift_card_batch.created",
                batch_id, {"program_id": str(program_id), "cards": card_count}, now,
            )
        return self.get_batch(caller, batch_id)

    def get_batch(self, caller: Principal, batch_id: uuid.UUID) -> dict[str, Any]:
        caller.require("manager")
        with self.database.read() as connection:
            row = merchant_row(
                connection, gift_card_batches, caller.merchant_id, batch_id,
                missing="No such batch.",
            )
            states = dict(connection.execute(
                select(gift_cards.c.state, func.count())
                .where(gift_cards.c.merchant_id == caller.merchant_id,
                       gift_cards.c.batch_id == batch_id)
                .group_by(gift_cards.c.state)
            ).all())
        return {**dict(row), "cards_by_state": {k: int(v) for k, v in states.items()}}

    def export_batch(self, caller: Principal, batch_id: uuid.UUID) -> list[dict[str, Any]]:
        """The printer's file: numbers and PINs, once; afterwards only last digits remain."""
        caller.require("manager")
        with self.database.transaction() as connection:
            merchant_row(  # the batch exists and is this merchant's
                connection, gift_card_batches, caller.merchant_id, batch_id,
                missing="No such batch.",
            )
            claimed = connection.execute(
                update(gift_card_batches)
                .where(gift_card_batches.c.merchant_id == caller.merchant_id,
                       gift_card_batches.c.id == batch_id,
                       gift_card_batches.c.exported_at.is_(None))
                .values(exported_at=self.clock.now())
            ).rowcount
            if claimed != 1:
                raise errors.BatchAlreadyExported()
            secret_filter = (gift_card_batch_secrets.c.merchant_id == caller.merchant_id) & (
                gift_card_batch_secrets.c.batch_id == batch_id
            )
            rows = connection.execute(
                select(gift_card_batch_secrets).where(secret_filter)
                .order_by(gift_card_batch_secrets.c.batch_sequence)
            ).mappings().all()
            connection.execute(delete(gift_card_batch_secrets).where(secret_filter))
            record_audit(
                connection, caller.merchant_id, caller.actor, "gift_card_batch.exported",
                batch_id, {"cards": len(rows)}, self.clock.now(),
            )
        return [
            {"sequence": row["batch_sequence"], "card_id": str(row["card_id"]),
             "number": row["number"], "pin": row["pin"] or ""}
            for row in rows
        ]

    def activate_batch(
        self, caller: Principal, batch_id: uuid.UUID, *, sequence_from: int | None = None,
        sequence_to: int | None = None, numbers: Sequence[str] | None = None,
        load_minor: int | None = None, idempotency: Idempotency = Idempotency(),
    ) -> BatchActivation:
        """Activate a whole batch, a range of it, or a list of its cards, each with a load."""
        caller.require("manager")
        batch = self.get_batch(caller, batch_id)
        program = self.program(caller.merchant_id, batch["program_id"])
        query = select(gift_cards.c.id, gift_cards.c.state).where(
            gift_cards.c.merchant_id == caller.merchant_id, gift_cards.c.batch_id == batch_id
        )
        if sequence_from is not None or sequence_to is not None:
            query = query.where(
                gift_cards.c.batch_sequence >= (sequence_from or 1),
                gift_cards.c.batch_sequence <= (sequence_to or BATCH_CARDS_MAX),
            )
        if numbers is not None:
            key = self._number_key()
            hashes = [number_hash(key, digits) for digits in
                      (normalise_number(number) for number in numbers) if digits]
            if len(hashes) != len(numbers):
                raise errors.InvalidInput("A number in the list is not a card number.")
            query = query.where(gift_cards.c.number_hash.in_(hashes))
        with self.database.read() as connection:
            cards = connection.execute(query.order_by(gift_cards.c.batch_sequence)).all()
        if numbers is not None and len(cards) != len(set(numbers)):
            raise errors.InvalidInput("A number in the list is not a card of this batch.")
        activated, skipped, loaded = [], [], 0
        for card_id, state in cards:
            if state != "inactive":
                skipped.append(card_id)
                continue
            card_idempotency = Idempotency(
                f"{idempotency.key}:{card_id}", idempotency.request_hash
            ) if idempotency.key else Idempotency()
            operation = self._activate_card(
                caller, program, card_id, load_minor, None, card_idempotency
            )
            activated.append(card_id)
            loaded += operation.amount_minor
        return BatchActivation(activated=activated, skipped=skipped, loaded_minor=loaded)

    # Cards -----------------------------------------------------------------------------

    def _create_card(
        self, connection: Connection, program: Program, kind: str, *,
        batch_id: uuid.UUID | None = None, batch_sequence: int | None = None,
        recipient_email: str | None = None, page_token: str | None = None,
    ) -> IssuedCard:
        """A new inactive card and its ledger account, in the caller's transaction."""
        card_id = uuid.uuid4()
        # The card's id is new, so a rolled-back transaction leaves nothing to reuse.
        account = self.ledger.open_account(
            program.merchant_id,
            AccountSpec(asset_code=program.asset_code, owner_type="gift_card", owner_id=card_id,
                        purpose="gift_card", debits_must_not_exceed_credits=True),
            connection,
        )
        key = self._number_key()
        for _attempt in range(NUMBER_COLLISION_RETRIES):
            number = new_card_number(
                program.number_length, program.number_prefix, program.number_luhn
            )
            digest = number_hash(key, number)
            taken = connection.execute(
                select(literal(1)).where(
                    gift_cards.c.merchant_id == program.merchant_id,
                    gift_cards.c.number_hash == digest,
                )
            ).first()
            if taken is None:
                break
        else:  # pragma: no cover - needs billions of cards in one program
            raise errors.Conflict("No free card number; widen the program's numbers.")
        pin = new_pin(program.pin_length) if program.pin_required else None
        connection.execute(
            insert(gift_cards).values(
                merchant_id=program.merchant_id, id=card_id, program_id=program.id, kind=kind,
                state="inactive", number_hash=digest, number_last4=number[-4:],
                pin_hash=hash_pin(number, pin) if pin else None, pin_failures=0,
                account_id=account.id, batch_id=batch_id, batch_sequence=batch_sequence,
                recipient_email=recipient_email,
                page_token_hash=token_hash(page_token) if page_token else None,
                number_sealed=seal_number(page_token, number) if page_token else None,
                created_at=self.clock.now(),
            )
        )
        row = self._card_row(connection, program.merchant_id, card_id)
        return IssuedCard(card=card_view(row, 0, 0, program.asset_code), number=number, pin=pin)

    def issue_ecard(
        self, caller: Principal, *, program_id: uuid.UUID, amount: int, recipient_email: str,
        recipient_name: str | None, sender_name: str | None, message: str | None,
        invoice_number: str | None, idempotency: Idempotency,
    ) -> IssuedCard:
        """An e-store sells a virtual card: issued, loaded, and mailed to the recipient."""
        self._require_seller(caller, program_id)
        if message is not None and len(message) > ECARD_MESSAGE_LENGTH_MAX:
            raise errors.InvalidInput("The personal message is too long.")
        replay = self._replay(caller.merchant_id, idempotency)
        if replay:
            card = self.get_card(caller, replay[0].card_id, check_role=False)
            return IssuedCard(card=card, number="", pin=None, operation=replay[0])
        program = self.program(caller.merchant_id, program_id)
        self._number_key()
        page_token = secrets.token_urlsafe(PAGE_TOKEN_BYTES)
        with self.database.transaction() as connection:
            issued = self._create_card(
                connection, program, "virtual", recipient_email=recipient_email,
                page_token=page_token,
            )
        operation = self._activate_card(
            caller, program, issued.card["id"], amount, invoice_number, idempotency
        )
        page_url = f"{self.public_url}/gift-cards/e/{page_token}"
        self._send_ecard(
            caller.merchant_id, program, issued.number, issued.pin, amount, recipient_email,
            recipient_name, sender_name, message, page_url,
        )
        card = self.get_card(caller, issued.card["id"], check_role=False)
        return IssuedCard(
            card=card, number=issued.number, pin=issued.pin, page_url=page_url,
            operation=operation,
        )

    def _send_ecard(
        self, merchant_id: uuid.UUID, program: Program, number: str, pin: str | None,
        amount: int, recipient_email: str, recipient_name: str | None,
        sender_name: str | None, message: str | None, page_url: str,
    ) -> None:
        scale = self.merchants.assets_by_code([program.asset_code])[program.asset_code]
        with self.database.read() as connection:
            merchant_name = connection.execute(
                select(merchants.c.name).where(merchants.c.id == merchant_id)
            ).scalar_one()
        self.mailer.send(
            compose_ecard_mail(
                sender=self.mail_from, to=recipient_email, merchant_name=merchant_name,
                amount_text=scale.format(amount), number=number, pin=pin,
                recipient_name=recipient_name, sender_name=sender_name, message=message,
                page_url=page_url,
            )
        )

    def ecard_page(self, page_token: str) -> dict[str, Any]:
        """What the e-card's own page shows: merchant, number, balance (never the PIN)."""
        with self.database.read() as connection:
            row = connection.execute(
                select(gift_cards).where(gift_cards.c.page_token_hash == token_hash(page_token))
            ).mappings().first()
            if row is None:
                raise errors.NotFound(NO_SUCH_CARD)
            merchant_name = connection.execute(
                select(merchants.c.name).where(merchants.c.id == row["merchant_id"])
            ).scalar_one()
        program = self.program(row["merchant_id"], row["program_id"])
        asset = self.merchants.assets_by_code([program.asset_code])[program.asset_code]
        view = self._card_view(row, program)
        return {
            **view, "number": unseal_number(page_token, row["number_sealed"]),
            "merchant_name": merchant_name, "program_name": program.name,
            "balance_text": asset.format(view["balance_minor"]),
            "available_text": asset.format(view["available_minor"]),
        }

    def get_card(
        self, caller: Principal, card_id: uuid.UUID, *, check_role: bool = True
    ) -> dict[str, Any]:
        if check_role:
            caller.require("manager")
        with self.database.read() as connection:
            row = self._card_row(connection, caller.merchant_id, card_id)
        return self._card_view(row, self.program(caller.merchant_id, row["program_id"]))

    def list_cards(
        self, caller: Principal, *, program_id: uuid.UUID | None = None,
        state: str | None = None, membership_id: uuid.UUID | None = None, limit: int = 100,
    ) -> list[dict[str, Any]]:
        caller.require("manager" if membership_id is None else "cashier")
        query = select(gift_cards).where(gift_cards.c.merchant_id == caller.merchant_id)
        if program_id is not None:
            query = query.where(gift_cards.c.program_id == program_id)
        if state is not None:
            query = query.where(gift_cards.c.state == state)
        if membership_id is not None:
            query = query.where(gift_cards.c.membership_id == membership_id)
        query = query.order_by(gift_cards.c.created_at.desc(), gift_cards.c.id).limit(
            min(limit, CARD_LIST_PAGE_MAX)
        )
        with self.database.read() as connection:
            rows = connection.execute(query).mappings().all()
        return [self._card_view(row, self.program(caller.merchant_id, row["program_id"]))
                for row in rows]

    def cards_of_customer(self, customer_id: uuid.UUID) -> list[dict[str, Any]]:
        """The cards registered to any membership of this identity (the customer page)."""
        memberships = self.customers.memberships_of(customer_id)
        views = []
        for membership in memberships:
            with self.database.read() as connection:
                rows = connection.execute(
                    select(gift_cards).where(
                        gift_cards.c.merchant_id == membership["merchant_id"],
                        gift_cards.c.membership_id == membership["id"],
                    ).order_by(gift_cards.c.registered_at)
                ).mappings().all()
            views += [self._card_view(row, self.program(row["merchant_id"], row["program_id"]))
                      for row in rows]
        return views

    def find_cards(self, caller: Principal, text: str) -> list[dict[str, Any]]:
        """Cards by their full number, or by their last four digits (the back office)."""
        caller.require("manager")
        digits = text.replace(" ", "").replace("-", "").strip()
        if len(digits) == 4 and digits.isdigit():
            condition = gift_cards.c.number_last4 == digits
        elif (number := normalise_number(digits)) is not None:
            condition = gift_cards.c.number_hash == number_hash(self._number_key(), number)
        else:
            raise errors.InvalidInput("Enter a card's last four digits or its whole number.")
        with self.database.read() as connection:
            rows = connection.execute(
                select(gift_cards)
                .where(gift_cards.c.merchant_id == caller.merchant_id, condition)
                .order_by(gift_cards.c.created_at.desc(), gift_cards.c.id)
                .limit(CARD_SEARCH_RESULTS_MAX)
            ).mappings().all()
        return [self._card_view(row, self.program(caller.merchant_id, row["program_id"]))
                for row in rows]

    def customer_card_history(
        self, customer_id: uuid.UUID, card_id: uuid.UUID, *, limit: int
    ) -> list[CardOperation]:
        """The latest operations of a card registered to one of this customer's memberships."""
        memberships = self.customers.memberships_of(customer_id)
        with self.database.read() as connection:
            card = connection.execute(
                select(gift_cards).where(
                    gift_cards.c.id == card_id,
                    gift_cards.c.membership_id.in_([m["id"] for m in memberships]),
                    gift_cards.c.merchant_id.in_([m["merchant_id"] for m in memberships]),
                )
            ).mappings().first()
            if card is None:
                raise errors.NotFound(NO_SUCH_CARD)
            rows = connection.execute(
                select(gift_card_operations)
                .where(gift_card_operations.c.merchant_id == card["merchant_id"],
                       gift_card_operations.c.card_id == card_id)
                .order_by(gift_card_operations.c.created_at.desc(),
                          gift_card_operations.c.id.desc())
                .limit(min(limit, CARD_LIST_PAGE_MAX))
            ).mappings().all()
        program = self.program(card["merchant_id"], card["program_id"])
        return [CardOperation.from_row(row, card["number_last4"], program.asset_code)
                for row in rows]

    def card_history(self, caller: Principal, card_id: uuid.UUID) -> list[CardOperation]:
        """Every operation on the card, newest first."""
        caller.require("manager")
        with self.database.read() as connection:
            card = self._card_row(connection, caller.merchant_id, card_id)
            rows = connection.execute(
                select(gift_card_operations)
                .where(gift_card_operations.c.merchant_id == caller.merchant_id,
                       gift_card_operations.c.card_id == card_id)
                .order_by(gift_card_operations.c.created_at.desc(),
                          gift_card_operations.c.id.desc())
            ).mappings().all()
        program = self.program(caller.merchant_id, card["program_id"])
        return [CardOperation.from_row(row, card["number_last4"], program.asset_code)
                for row in rows]

    # Operations at the register, the e-store and the back office ---------------------------

    def activate(
        self, caller: Principal, *, number: str, amount: int | None, invoice_number: str | None,
        idempotency: Idempotency,
    ) -> CardOperation:
        """Activate an inactive card, with its first load when an amount is given."""
        context = self._find(caller, number, pin=None, pin_needed=False)
        self._require_seller(caller, context.program.id)
        replay = self._replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        return self._activate_card(
            caller, context.program, context.row["id"], amount, invoice_number, idempotency
        )

    def _activate_card(
        self, caller: Principal, program: Program, card_id: uuid.UUID, amount: int | None,
        invoice_number: str | None, idempotency: Idempotency,
    ) -> CardOperation:
        def plan(connection, card, program, balance) -> _Plan:
            if card["state"] != "inactive":
                raise errors.Conflict("The card is active already.")
            now = self.clock.now()
            changes = {"state": "active", "activated_at": now,
                       "expires_at": rules.card_expiry(program, now)}
            if not amount:
                return _Plan([], 0, card_changes=changes)
            rules.check_load(program, amount, balance.credit_balance, first_load=True)
            self._check_daily_load(connection, card, program, amount)
            return _Plan([self._load_transfer(program, card, amount)], amount,
                         card_changes=changes)

        return self._operate(
            caller, program, card_id, "activation", plan, invoice_number, idempotency
        )

    def load(
        self, caller: Principal, *, number: str, amount: int, invoice_number: str | None,
        idempotency: Idempotency,
    ) -> CardOperation:
        """Reload an active card (when the program allows), within the limits."""
        replay = self._replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        context = self._find(caller, number, pin=None, pin_needed=False)
        self._require_seller(caller, context.program.id)

        def plan(connection, card, program, balance) -> _Plan:
            rules.require_usable(card["state"])
            rules.check_load(program, amount, balance.credit_balance, first_load=False)
            self._check_daily_load(connection, card, program, amount)
            return _Plan([self._load_transfer(program, card, amount)], amount)

        return self._operate(
            caller, context.program, context.row["id"], "load", plan, invoice_number, idempotency
        )

    def spend(
        self, caller: Principal, *, number: str, pin: str | None, amount: int,
        invoice_number: str | None, take_what_is_there: bool, idempotency: Idempotency,
    ) -> CardOperation:
        """Pay with the card: all of `amount`, or, when asked, what it holds and the rest due."""
        self._require_register(caller)
        replay = self._replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        context = self._find(caller, number, pin=pin)

        def plan(connection, card, program, balance) -> _Plan:
            rules.require_usable(card["state"])
            rules.check_operation_amount(program, amount)
            taken = rules.spend_amount(
                amount, balance.available, take_what_is_there=take_what_is_there
            )
            self._check_daily_spend(connection, card, program, taken)
            settlement = self._settlement(program)
            transfer = Transfer(card["account_id"], settlement.id, taken, "gift_card_spend")
            return _Plan([transfer], taken, requested=amount)

        return self._operate(
            caller, context.program, context.row["id"], "spend", plan, invoice_number, idempotency
        )

    def balance_inquiry(self, caller: Principal, *, number: str, pin: str | None) -> dict:
        """The card's balance, for the number and PIN (a check counted per terminal)."""
        self._require_register(caller)
        context = self._find(caller, number, pin=pin)
        self._record_lookup(caller, context.row["number_hash"], succeeded=True)
        return self._card_view(context.row, context.program)

    def authorise(
        self, caller: Principal, *, number: str, pin: str | None, amount: int,
        invoice_number: str | None, idempotency: Idempotency,
    ) -> CardOperation:
        """The first phase of a two-phase spend: hold the amount on the card (PIN checked here)."""
        self._require_register(caller)
        replay = self._replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        context = self._find(caller, number, pin=pin)

        def plan(connection, card, program, balance) -> _Plan:
            rules.require_usable(card["state"])
            rules.check_operation_amount(program, amount)
            self._check_daily_spend(connection, card, program, amount)
            expires_at = self.clock.now() + timedelta(minutes=program.authorisation_minutes)
            hold = Hold(card["account_id"], self._settlement(program).id, amount,
                        "gift_card_authorisation", expires_at)
            return _Plan([hold], amount, hold_expires_at=expires_at)

        return self._operate(
            caller, context.program, context.row["id"], "authorisation", plan, invoice_number,
            idempotency,
        )

    def capture(
        self, caller: Principal, authorisation_id: uuid.UUID, amount: int | None,
        idempotency: Idempotency,
    ) -> CardOperation:
        """Take (part of) an authorised amount; the rest of the hold is released."""
        self._require_register(caller)
        replay = self._replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        authorisation = self._operation(caller, authorisation_id, ("authorisation",))

        def plan(connection, card, program, balance) -> _Plan:
            post = PostHold(authorisation["transfer_id"], amount)
            return _Plan([post], amount or authorisation["amount_minor"],
                         related_id=authorisation_id)

        program = self.program(caller.merchant_id, authorisation["program_id"])
        return self._operate(
            caller, program, authorisation["card_id"], "capture", plan, None, idempotency
        )

    def void(
        self, caller: Principal, authorisation_id: uuid.UUID, idempotency: Idempotency
    ) -> CardOperation:
        """Release an authorisation without taking anything."""
        self._require_register(caller)
        replay = self._replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        authorisation = self._operation(caller, authorisation_id, ("authorisation",))

        def plan(connection, card, program, balance) -> _Plan:
            return _Plan([VoidHold(authorisation["transfer_id"])],
                         authorisation["amount_minor"], related_id=authorisation_id)

        program = self.program(caller.merchant_id, authorisation["program_id"])
        return self._operate(
            caller, program, authorisation["card_id"], "void", plan, None, idempotency
        )

    def refund(
        self, caller: Principal, spend_id: uuid.UUID, amount: int | None,
        idempotency: Idempotency,
    ) -> CardOperation:
        """Give (part of) a spend or capture back to the card; refunds add up to at most it."""
        self._require_register(caller)
        replay = self._replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        spend = self._operation(caller, spend_id, ("spend", "capture"))

        def plan(connection, card, program, balance) -> _Plan:
            if card["state"] == "closed":
                raise errors.GiftCardClosed()
            reverse = Reverse(spend["transfer_id"], amount, code="gift_card_refund")
            return _Plan([reverse], amount or 0, related_id=spend_id)

        program = self.program(caller.merchant_id, spend["program_id"])
        return self._operate(caller, program, spend["card_id"], "refund", plan, None, idempotency)

    def adjust(
        self, caller: Principal, card_id: uuid.UUID, *, amount: int, direction: str, reason: str,
        idempotency: Idempotency,
    ) -> CardOperation:
        """A manager's correction of a card's balance, with a reason (audited, alerted)."""
        caller.require("manager")
        assert direction in ("credit", "debit")
        replay = self._replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]

        def plan(connection, card, program, balance) -> _Plan:
            if card["state"] == "closed":
                raise errors.GiftCardClosed()
            adjustments = self._merchant_account(program, "adjustments")
            debit, credit = (adjustments.id, card["account_id"]) if direction == "credit" else (
                card["account_id"], adjustments.id
            )
            if direction == "credit" and balance.credit_balance + amount > (
                program.balance_max_minor
            ):
                raise errors.BalanceLimitExceeded()
            record_audit(
                connection, caller.merchant_id, caller.actor, "gift_card.adjusted", card["id"],
                {"amount": amount, "direction": direction, "reason": reason}, self.clock.now(),
            )
            return _Plan([Transfer(debit, credit, amount, f"manual_{direction}", reason[:200])],
                         amount)

        return self._operate(caller, self._program_of_card(caller, card_id), card_id,
                             "adjustment", plan, None, idempotency)

    def transfer_balance(
        self, caller: Principal, *, to_number: str, from_card_id: uuid.UUID | None = None,
        from_number: str | None = None, from_pin: str | None = None,
        idempotency: Idempotency,
    ) -> tuple[CardOperation, CardOperation]:
        """Move the whole balance of a lost or damaged card to a new one; the old one closes.

        The back office names the old card by id (manager); a register by number and PIN.
        """
        if from_card_id is not None:
            caller.require("manager")
        else:
            self._require_register(caller)
        replay = self._replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0], replay[1]
        if from_card_id is None:
            assert from_number is not None
            from_card_id = self._find(caller, from_number, pin=from_pin).row["id"]
        target = self._find(caller, to_number, pin=None, pin_needed=False)
        if target.row["id"] == from_card_id:
            raise errors.InvalidInput("The new card must be another card.")
        to_card_id = target.row["id"]
        operations = self.units.run(
            caller.merchant_id, "gift_card_balance_transfer",
            lambda unit: self._transfer_balance_in(unit, caller, from_card_id, to_card_id),
            idempotency=idempotency,
            encode=lambda pair: {"operations": [operation.as_json() for operation in pair]},
            replay=lambda unit, stored: tuple(self._replayed_operations(unit, stored)),
        )
        if operations[0].replayed:
            return operations
        for operation in operations:
            self.alerts.after_operation(operation)
        return operations

    def _transfer_balance_in(
        self, unit: UnitOfWork, caller: Principal, from_card_id: uuid.UUID,
        to_card_id: uuid.UUID,
    ) -> tuple[CardOperation, CardOperation]:
        connection = unit.connection
        # Both rows locked in one order, so two transfers never wait on each other.
        locked = {card["id"]: card for card in unit.lock_many(
            gift_cards, (from_card_id, to_card_id)
        )}
        old, new = locked[from_card_id], locked[to_card_id]
        program = self.program(caller.merchant_id, old["program_id"])
        new_program = self.program(caller.merchant_id, new["program_id"])
        if old["state"] == "closed":
            raise errors.GiftCardClosed()
        if new["state"] in ("frozen", "closed"):
            rules.require_usable(new["state"])
        if new_program.asset_code != program.asset_code:
            raise errors.InvalidInput("Both cards must hold the same currency.")
        balance = self.ledger.balance(self._card_account(old), connection)
        if balance.debits_pending:
            raise errors.GiftCardHasHolds()
        amount = balance.credit_balance
        operations: list[Operation] = []
        if amount > 0:
            operations.append(Transfer(old["account_id"], new["account_id"], amount,
                                       "gift_card_balance_transfer"))
        result = self._post(unit, caller, operations, "gift_card_balance_transfer")
        now = self.clock.now()
        new_changes: dict[str, Any] = {}
        if new["state"] == "inactive":
            new_changes = {"state": "active", "activated_at": now,
                           "expires_at": old["expires_at"]}
        if old["membership_id"] and not new["membership_id"]:
            new_changes.update(membership_id=old["membership_id"], registered_at=now)
        self._update_card(connection, new, new_changes)
        self._close(connection, old, "transferred", replaced_by=new["id"])
        entry_id = result.entry_id if result else None
        transfer_id = result.transfers[0].id if result else None
        out = self._record(connection, caller, old, program, "transfer_out", amount, amount,
                           0, entry_id, transfer_id, related_id=new["id"])
        into = self._record(
            connection, caller, new, new_program, "transfer_in", amount, amount,
            self._balance_after(result, new, connection), entry_id, transfer_id,
            related_id=old["id"],
        )
        record_audit(connection, caller.merchant_id, caller.actor,
                     "gift_card.balance_transferred", old["id"],
                     {"to_card_id": str(new["id"]), "amount": amount}, now)
        return out, into

    # State changes --------------------------------------------------------------------

    def freeze(self, caller: Principal, card_id: uuid.UUID) -> dict[str, Any]:
        """Stop every operation on the card until it is unfrozen."""
        return self._change_state(caller, card_id, "frozen", ("active",))

    def unfreeze(self, caller: Principal, card_id: uuid.UUID) -> dict[str, Any]:
        return self._change_state(caller, card_id, "active", ("frozen",))

    def close(self, caller: Principal, card_id: uuid.UUID) -> dict[str, Any]:
        """Close a card for good; what it holds stays on it (transfer it first to move it)."""
        return self._change_state(caller, card_id, "closed", ("inactive", "active", "frozen"))

    def unlock(self, caller: Principal, card_id: uuid.UUID) -> dict[str, Any]:
        """Lift a PIN lockout before its time."""
        caller.require("manager")
        with self.database.transaction() as connection:
            card = self._lock_card(connection, caller.merchant_id, card_id)
            self._update_card(connection, card, {"pin_failures": 0, "locked_until": None})
            record_audit(connection, caller.merchant_id, caller.actor, "gift_card.unlocked",
                         card_id, {}, self.clock.now())
        return self.get_card(caller, card_id)

    def _change_state(
        self, caller: Principal, card_id: uuid.UUID, state: str, allowed_from: tuple[str, ...]
    ) -> dict[str, Any]:
        caller.require("manager")
        with self.database.transaction() as connection:
            card = self._lock_card(connection, caller.merchant_id, card_id)
            if card["state"] not in allowed_from:
                rules.require_usable(card["state"])
                raise errors.Conflict(f"The card is {card['state']}.")
            if state == "closed":
                self._close(connection, card, "closed")
            else:
                self._update_card(connection, card, {"state": state})
                self.ledger.set_frozen(connection, caller.merchant_id, [card["account_id"]],
                                       frozen=state == "frozen")
            record_audit(connection, caller.merchant_id, caller.actor, f"gift_card.{state}",
                         card_id, {}, self.clock.now())
        return self.get_card(caller, card_id)

    def _close(self, connection: Connection, card: Any, reason: str, **changes: Any) -> None:
        self._update_card(connection, card, {
            "state": "closed", "closed_at": self.clock.now(), "closed_reason": reason, **changes,
        })
        self.ledger.set_frozen(connection, card["merchant_id"], [card["account_id"]], frozen=True)

    # Registration -----------------------------------------------------------------------

    def register_card(
        self, caller: Principal, *, membership_id: uuid.UUID, number: str, pin: str | None
    ) -> dict[str, Any]:
        """Attach a card to a member (number and PIN prove the card is theirs)."""
        self._require_register(caller)
        self.customers.require_membership(caller.merchant_id, membership_id)
        context = self._find(caller, number, pin=pin)
        self._attach_to_member(caller, context, membership_id)
        return self.get_card(caller, context.row["id"], check_role=False)

    def register_own_card(
        self, customer_id: uuid.UUID, *, merchant_id: uuid.UUID, number: str, pin: str
    ) -> dict[str, Any]:
        """A signed-in customer registers a card to their own membership at this merchant.

        The PIN is what proves the card is theirs, so a card of a program without
        PINs (whose number alone is printed on it) cannot be registered this way:
        it gets the same gift_card_invalid as a wrong number or PIN. Wrong PINs
        count towards the card's lockout as at a register.
        """
        membership = next(
            (m for m in self.customers.memberships_of(customer_id)
             if m["merchant_id"] == merchant_id and m["status"] != "blocked"),
            None,
        )
        if membership is None:
            raise errors.NotFound("No such membership.")
        # The customer acts with a register's rights for this one registration.
        caller = Principal(merchant_id=merchant_id, role="cashier", customer_id=customer_id)
        context = self._find(caller, number, pin=pin)
        if not context.program.pin_required:
            raise errors.GiftCardInvalid()
        self._attach_to_member(caller, context, membership["id"])
        return self.get_card(caller, context.row["id"], check_role=False)

    def _attach_to_member(
        self, caller: Principal, context: CardContext, membership_id: uuid.UUID
    ) -> None:
        """Register the card to the member (once), then give the profile bonus if due."""
        card_id = context.row["id"]
        with self.database.transaction() as connection:
            card = self._lock_card(connection, caller.merchant_id, card_id)
            if card["membership_id"] not in (None, membership_id):
                raise errors.GiftCardAlreadyRegistered()
            if card["membership_id"] is None:
                self._update_card(connection, card, {
                    "membership_id": membership_id, "registered_at": self.clock.now(),
                })
                record_audit(connection, caller.merchant_id, caller.actor,
                             "gift_card.registered", card_id,
                             {"membership_id": str(membership_id)}, self.clock.now())
        membership = self.customers.get(caller, membership_id)
        if context.program.profile_bonus_minor and rules.profile_complete(membership):
            with contextlib.suppress(errors.ProfileBonusAlreadyGiven):
                self.give_profile_bonus(caller, membership_id=membership_id, card_id=card_id)

    def give_profile_bonus(
        self, caller: Principal, *, membership_id: uuid.UUID, card_id: uuid.UUID
    ) -> CardOperation:
        """The program's bonus for a completed profile, once per member and program."""
        self._require_register(caller)
        membership = self.customers.get(caller, membership_id)
        if not rules.profile_complete(membership):
            raise errors.ProfileIncomplete()

        def plan(connection, card, program, balance) -> _Plan:
            if card["membership_id"] != membership_id:
                raise errors.NotFound("No such card for this member.")
            rules.require_usable(card["state"])
            if not program.profile_bonus_minor:
                raise errors.InvalidInput("The program offers no profile bonus.")
            given = connection.execute(
                select(literal(1)).where(
                    gift_cards.c.merchant_id == caller.merchant_id,
                    gift_cards.c.program_id == program.id,
                    gift_cards.c.membership_id == membership_id,
                    gift_cards.c.profile_bonus_at.isnot(None),
                )
            ).first()
            if given is not None:
                raise errors.ProfileBonusAlreadyGiven()
            bonus = program.profile_bonus_minor
            if balance.credit_balance + bonus > program.balance_max_minor:
                raise errors.BalanceLimitExceeded()
            promotions = self._merchant_account(program, "gift_card_promotions")
            return _Plan(
                [Transfer(promotions.id, card["account_id"], bonus, "gift_card_profile_bonus")],
                bonus, card_changes={"profile_bonus_at": self.clock.now()},
            )

        return self._operate(caller, self._program_of_card(caller, card_id), card_id,
                             "profile_bonus", plan, None, Idempotency())

    # Resellers --------------------------------------------------------------------------

    def create_reseller(
        self, caller: Principal, *, name: str, email: str | None, program_ids: list[uuid.UUID]
    ) -> tuple[dict[str, Any], IssuedKey]:
        """A distribution partner and its key, which may only activate and load these programs."""
        caller.require("owner")
        for program_id in program_ids:
            self.program(caller.merchant_id, program_id)
        reseller_id = uuid.uuid4()
        with self.database.transaction() as connection:
            # The key is issued in this transaction, so a reseller never lacks one.
            issued = self.merchants._issue_key(
                connection, caller.merchant_id, "reseller", f"reseller {name}"
            )
            connection.execute(
                insert(gift_card_resellers).values(
                    merchant_id=caller.merchant_id, id=reseller_id, name=name, email=email,
                    api_key_id=issued.id, created_at=self.clock.now(),
                )
            )
            for program_id in set(program_ids):
                connection.execute(
                    insert(gift_card_reseller_programs).values(
                        merchant_id=caller.merchant_id, reseller_id=reseller_id,
                        program_id=program_id,
                    )
                )
            record_audit(connection, caller.merchant_id, caller.actor, "gift_card_reseller.created",
                         reseller_id, {"name": name}, self.clock.now())
        return self.get_reseller(caller, reseller_id), issued

    def get_reseller(self, caller: Principal, reseller_id: uuid.UUID) -> dict[str, Any]:
        if caller.role == "reseller":
            if self.reseller_of(caller)["id"] != reseller_id:
                raise errors.NotFound("No such reseller.")
        else:
            caller.require("manager")
        with self.database.read() as connection:
            row = merchant_row(
                connection, gift_card_resellers, caller.merchant_id, reseller_id,
                missing="No such reseller.",
            )
            program_ids = connection.execute(
                select(gift_card_reseller_programs.c.program_id).where(
                    gift_card_reseller_programs.c.merchant_id == caller.merchant_id,
                    gift_card_reseller_programs.c.reseller_id == reseller_id,
                )
            ).scalars().all()
        return {**dict(row), "program_ids": sorted(program_ids)}

    def list_resellers(self, caller: Principal) -> list[dict[str, Any]]:
        caller.require("manager")
        with self.database.read() as connection:
            ids = connection.execute(
                select(gift_card_resellers.c.id)
                .where(gift_card_resellers.c.merchant_id == caller.merchant_id)
                .order_by(gift_card_resellers.c.created_at)
            ).scalars().all()
        return [self.get_reseller(caller, reseller_id) for reseller_id in ids]

    def reseller_of(self, caller: Principal) -> dict[str, Any]:
        """The reseller a reseller key belongs to."""
        assert caller.role == "reseller"
        with self.database.read() as connection:
            row = connection.execute(
                select(gift_card_resellers).where(
                    gift_card_resellers.c.merchant_id == caller.merchant_id,
                    gift_card_resellers.c.api_key_id == caller.key_id,
                )
            ).mappings().first()
        if row is None:
            raise errors.Forbidden("This key belongs to no reseller.")
        return dict(row)

    def _reseller_programs(self, caller: Principal) -> set[uuid.UUID]:
        reseller = self.reseller_of(caller)
        with self.database.read() as connection:
            return set(connection.execute(
                select(gift_card_reseller_programs.c.program_id).where(
                    gift_card_reseller_programs.c.merchant_id == caller.merchant_id,
                    gift_card_reseller_programs.c.reseller_id == reseller["id"],
                )
            ).scalars())

    def _require_seller(self, caller: Principal, program_id: uuid.UUID) -> None:
        """Cashiers and above sell any program; a reseller only those it was given."""
        if caller.role == "reseller":
            if program_id not in self._reseller_programs(caller):
                raise errors.Forbidden("This reseller may not sell this program's cards.")
            return
        caller.require("cashier")

    @staticmethod
    def _require_register(caller: Principal) -> None:
        caller.require("cashier")

    # Expiry -----------------------------------------------------------------------------

    def expire_cards(self, batch_size: int = 500) -> int:
        """Close cards past their expiry; what they held goes to the merchant's breakage."""
        now = self.clock.now()
        with self.database.read() as connection:
            due = connection.execute(
                select(gift_cards.c.merchant_id, gift_cards.c.id)
                .where(gift_cards.c.state.in_(("active", "frozen")),
                       gift_cards.c.expires_at <= now)
                .order_by(gift_cards.c.expires_at)
                .limit(batch_size)
            ).all()
        for merchant_id, card_id in due:
            operation = self._expire_card(merchant_id, card_id)
            if operation is not None:
                self.alerts.after_operation(operation)
        return len(due)

    def _expire_card(self, merchant_id: uuid.UUID, card_id: uuid.UUID) -> CardOperation | None:
        system = Principal(merchant_id=merchant_id, role="operator")
        self._prepare_accounts(self._program_of_card(system, card_id))
        return self.units.run(
            merchant_id, "gift_card_expiry", lambda unit: self._expire_card_in(unit, card_id)
        )

    def _expire_card_in(self, unit: UnitOfWork, card_id: uuid.UUID) -> CardOperation | None:
        connection, merchant_id = unit.connection, unit.merchant_id
        system = Principal(merchant_id=merchant_id, role="operator")
        card = unit.lock(gift_cards, card_id, missing=NO_SUCH_CARD)
        if card["state"] not in ("active", "frozen"):
            return None
        program = self.program(merchant_id, card["program_id"])
        # Open authorisations are released first, so that all the value breaks.
        voids: list[Operation] = [
            VoidHold(hold_id)
            for hold_id in self._open_holds(connection, merchant_id, card["account_id"])
        ]
        if card["state"] == "frozen":
            self.ledger.set_frozen(connection, merchant_id, [card["account_id"]], False)
        balance = self.ledger.balance(self._card_account(card), connection)
        amount = balance.credit_balance
        breakage = self._merchant_account(program, "breakage")
        moves = voids + (
            [Transfer(card["account_id"], breakage.id, amount, "gift_card_expired")]
            if amount > 0 else []
        )
        result = self._post(unit, system, moves, "gift_card_expiry")
        self._close(connection, card, "expired")
        return self._record(
            connection, system, card, program, "expiry", amount, amount, 0,
            result.entry_id if result else None,
            result.transfers[-1].id if result and amount > 0 else None, actor="job:expiry",
        )

    def _open_holds(
        self, connection: Connection, merchant_id: uuid.UUID, account_id: uuid.UUID
    ) -> list[uuid.UUID]:
        resolution = transfers.alias("resolution")
        return list(connection.execute(
            select(transfers.c.id).where(
                transfers.c.merchant_id == merchant_id,
                transfers.c.debit_account_id == account_id,
                transfers.c.kind == "pending",
                ~select(literal(1)).where(
                    resolution.c.merchant_id == merchant_id,
                    resolution.c.pending_id == transfers.c.id,
                ).exists(),
            )
        ).scalars())

    # The one way value moves on a card ---------------------------------------------------

    def _operate(
        self, caller: Principal, program: Program, card_id: uuid.UUID, kind: str,
        plan_for: Callable[[Connection, Any, Program, Balance], _Plan],
        invoice_number: str | None, idempotency: Idempotency,
    ) -> CardOperation:
        """Lock the card, plan, post the entry, log the operation: one unit of work."""
        self._prepare_accounts(program)
        try:
            operation = self.units.run(
                caller.merchant_id, f"gift_card_{kind}",
                lambda unit: self._operate_in(
                    unit, caller, card_id, kind, plan_for, invoice_number
                ),
                idempotency=idempotency, encode=CardOperation.as_json,
                replay=lambda unit, stored: self._replayed_operations(unit, stored)[0],
            )
        except IntegrityError as error:
            # Two operations on two cards with one new invoice number at once
            # (PostgreSQL; on SQLite the look-up before the insert sees it).
            if constraint_name(error) == INVOICE_CONSTRAINT:
                raise errors.InvoiceReused() from None
            raise
        if not operation.replayed:
            self.alerts.after_operation(operation)
        return operation

    def _operate_in(
        self, unit: UnitOfWork, caller: Principal, card_id: uuid.UUID, kind: str,
        plan_for: Callable[[Connection, Any, Program, Balance], _Plan],
        invoice_number: str | None,
    ) -> CardOperation:
        connection = unit.connection
        card = unit.lock(gift_cards, card_id, missing=NO_SUCH_CARD)
        program = self.program(caller.merchant_id, card["program_id"])
        balance = self.ledger.balance(self._card_account(card), connection)
        plan = plan_for(connection, card, program, balance)
        if kind in ("activation", "load", "spend", "authorisation"):
            self._check_invoice(connection, caller, program, invoice_number)
        result = self._post(unit, caller, plan.ledger_operations, f"gift_card_{kind}")
        amount = plan.amount
        if result is not None and kind in ("refund", "capture"):
            amount = result.transfers[0].amount
        self._update_card(connection, card, plan.card_changes)
        transfer_id = result.transfers[0].id if result is not None else None
        return self._record(
            connection, caller, card, program, kind, amount,
            plan.requested if plan.requested is not None else amount,
            self._balance_after(result, card, connection),
            result.entry_id if result is not None else None, transfer_id,
            related_id=plan.related_id, invoice_number=invoice_number or None,
            hold_expires_at=plan.hold_expires_at,
        )

    def _replay(
        self, merchant_id: uuid.UUID, idempotency: Idempotency
    ) -> list[CardOperation] | None:
        """The operations a first request with this Idempotency-Key answered, if any."""
        return self.units.replay_if_stored(merchant_id, idempotency, self._replayed_operations)

    def _replayed_operations(
        self, unit: UnitOfWork, stored: StoredAnswer
    ) -> list[CardOperation]:
        """The operations the first request with this Idempotency-Key answered."""
        if stored.answer is not None:
            answers = stored.answer.get("operations", [stored.answer])
            return [CardOperation.from_json(answer, replayed=True) for answer in answers]
        # A key recorded before its answer was kept (journal entries kept the keys).
        caller = Principal(merchant_id=unit.merchant_id, role="operator")
        assert stored.entry_id is not None
        return self._operations_of_entry(unit.connection, caller, stored.entry_id)

    def _post(
        self, unit: UnitOfWork, caller: Principal, operations: list[Operation], kind: str,
    ) -> EntryResult | None:
        if not operations:
            return None
        return self.ledger.post_entry(caller.merchant_id, operations, kind=kind, unit=unit)

    def _balance_after(
        self, result: EntryResult | None, card: Any, connection: Connection
    ) -> int:
        if result is not None and card["account_id"] in result.balances:
            return result.balances[card["account_id"]].credit_balance
        return self.ledger.balance(self._card_account(card), connection).credit_balance

    def _record(
        self, connection: Connection, caller: Principal, card: Any, program: Program, kind: str,
        amount: int, requested: int, balance_after: int, entry_id: uuid.UUID | None,
        transfer_id: uuid.UUID | None, *, related_id: uuid.UUID | None = None,
        invoice_number: str | None = None, hold_expires_at: datetime | None = None,
        actor: str | None = None,
    ) -> CardOperation:
        now = self.clock.now()
        reseller_id = self.reseller_of(caller)["id"] if caller.role == "reseller" else None
        values = dict(
            merchant_id=caller.merchant_id, id=uuid.uuid4(), card_id=card["id"],
            program_id=program.id, kind=kind, amount_minor=amount, requested_minor=requested,
            balance_after_minor=balance_after, entry_id=entry_id, transfer_id=transfer_id,
            related_id=related_id, store_id=caller.store_id, terminal_id=caller.terminal_id,
            reseller_id=reseller_id, actor=actor or caller.actor, invoice_number=invoice_number,
            hold_expires_at=hold_expires_at, business_date=now.date(), created_at=now,
        )
        connection.execute(insert(gift_card_operations).values(**values))
        return CardOperation.from_row(values, card["number_last4"], program.asset_code)

    def _check_invoice(
        self, connection: Connection, caller: Principal, program: Program,
        invoice_number: str | None,
    ) -> None:
        rules.check_invoice(program, invoice_number)
        if invoice_number and connection.execute(
            select(literal(1)).where(
                gift_card_operations.c.merchant_id == caller.merchant_id,
                gift_card_operations.c.invoice_number == invoice_number,
            )
        ).first():
            raise errors.InvoiceReused()

    def _operations_of_entry(
        self, connection: Connection, caller: Principal, entry_id: uuid.UUID
    ) -> list[CardOperation]:
        rows = connection.execute(
            select(gift_card_operations, gift_cards.c.number_last4, gift_card_programs.c.asset_code)
            .join(gift_cards, (gift_cards.c.merchant_id == gift_card_operations.c.merchant_id)
                  & (gift_cards.c.id == gift_card_operations.c.card_id))
            .join(gift_card_programs,
                  (gift_card_programs.c.merchant_id == gift_card_operations.c.merchant_id)
                  & (gift_card_programs.c.id == gift_card_operations.c.program_id))
            .where(gift_card_operations.c.merchant_id == caller.merchant_id,
                   gift_card_operations.c.entry_id == entry_id)
            .order_by(gift_card_operations.c.kind.desc())
        ).mappings().all()
        return [CardOperation.from_row(row, row["number_last4"], row["asset_code"], True)
                for row in rows]

    def _operation(
        self, caller: Principal, operation_id: uuid.UUID, kinds: tuple[str, ...]
    ) -> Any:
        with self.database.read() as connection:
            row = connection.execute(
                select(gift_card_operations).where(
                    gift_card_operations.c.merchant_id == caller.merchant_id,
                    gift_card_operations.c.id == operation_id,
                )
            ).mappings().first()
        if row is None or row["kind"] not in kinds:
            raise errors.NotFound("No such operation.")
        return row

    # Limits ---------------------------------------------------------------------------

    def _day_activity(self, connection: Connection, card: Any) -> DayActivity:
        rows = connection.execute(
            select(gift_card_operations.c.kind, func.count(),
                   func.coalesce(func.sum(gift_card_operations.c.amount_minor), 0))
            .where(gift_card_operations.c.merchant_id == card["merchant_id"],
                   gift_card_operations.c.card_id == card["id"],
                   gift_card_operations.c.business_date == self.clock.now().date(),
                   gift_card_operations.c.amount_minor > 0,
                   gift_card_operations.c.kind.in_(rules.LOAD_KINDS + rules.SPEND_KINDS))
            .group_by(gift_card_operations.c.kind)
        ).all()
        loads = [(int(n), int(total)) for kind, n, total in rows if kind in rules.LOAD_KINDS]
        spends = [(int(n), int(total)) for kind, n, total in rows if kind in rules.SPEND_KINDS]
        return DayActivity(
            loads=sum(n for n, _ in loads), loaded_minor=sum(t for _, t in loads),
            spends=sum(n for n, _ in spends), spent_minor=sum(t for _, t in spends),
        )

    def _check_daily_load(
        self, connection: Connection, card: Any, program: Program, amount: int
    ) -> None:
        if program.loads_per_card_per_day_max is None and (
            program.load_amount_per_card_per_day_max_minor is None
        ):
            return
        rules.check_daily_load(program, self._day_activity(connection, card), amount)

    def _check_daily_spend(
        self, connection: Connection, card: Any, program: Program, amount: int
    ) -> None:
        if program.spends_per_card_per_day_max is None and (
            program.spend_amount_per_card_per_day_max_minor is None
        ):
            return
        rules.check_daily_spend(program, self._day_activity(connection, card), amount)

    # Finding a card by its number -----------------------------------------------------

    def _find(
        self, caller: Principal, number: str, *, pin: str | None, pin_needed: bool = True
    ) -> CardContext:
        """The card with this number and (when its program asks) PIN; one error for every miss."""
        digits = normalise_number(number)
        digest = number_hash(self._number_key(), digits) if digits else ""
        row = None
        if digits:
            with self.database.read() as connection:
                row = connection.execute(
                    select(gift_cards).where(gift_cards.c.merchant_id == caller.merchant_id,
                                             gift_cards.c.number_hash == digest)
                ).mappings().first()
        program = self.program(caller.merchant_id, row["program_id"]) if row else None
        if row is None or (caller.role == "reseller" and program.id not in (
            self._reseller_programs(caller)
        )):
            if pin is not None:
                burn_pin_check()
            self._record_lookup(caller, digest, succeeded=False)
            raise errors.GiftCardInvalid()
        assert program is not None and digits is not None
        if pin_needed and program.pin_required:
            self._check_pin(caller, row, program, digits, pin)
        return CardContext(row=row, program=program, number=digits)

    def _check_pin(
        self, caller: Principal, row: Any, program: Program, number: str, pin: str | None
    ) -> None:
        now = self.clock.now()
        if row["locked_until"] is not None and row["locked_until"] > now:
            burn_pin_check()
            self._record_lookup(caller, row["number_hash"], succeeded=False)
            raise errors.GiftCardInvalid()
        if pin is None or not verify_pin(row["pin_hash"], number, pin):
            self._count_wrong_pin(caller, row, program)
            raise errors.GiftCardInvalid()
        if row["pin_failures"]:
            with self.database.transaction() as connection:
                self._update_card(connection, row, {"pin_failures": 0})

    def _count_wrong_pin(self, caller: Principal, row: Any, program: Program) -> None:
        """One more wrong PIN; at the program's threshold the card locks for a while."""
        now = self.clock.now()
        card_filter = (gift_cards.c.merchant_id == row["merchant_id"]) & (
            gift_cards.c.id == row["id"]
        )
        with self.database.transaction() as connection:
            failures = connection.execute(
                update(gift_cards).where(card_filter)
                .values(pin_failures=gift_cards.c.pin_failures + 1)
                .returning(gift_cards.c.pin_failures)
            ).scalar_one()
            locked = failures >= program.pin_attempts_max
            if locked:
                connection.execute(
                    update(gift_cards).where(card_filter)
                    .values(pin_failures=0, locked_until=now + program.pin_lockout)
                )
            self._insert_lookup(connection, caller, row["number_hash"], succeeded=False)
        self.alerts.after_wrong_pin(caller, row, failures, locked)
        self.alerts.after_lookup(caller)

    def _record_lookup(self, caller: Principal, digest: str, *, succeeded: bool) -> None:
        with self.database.transaction() as connection:
            self._insert_lookup(connection, caller, digest, succeeded=succeeded)
        self.alerts.after_lookup(caller)

    def _insert_lookup(
        self, connection: Connection, caller: Principal, digest: str, *, succeeded: bool
    ) -> None:
        connection.execute(
            insert(gift_card_lookups).values(
                merchant_id=caller.merchant_id, id=uuid.uuid4(), terminal_id=caller.terminal_id,
                store_id=caller.store_id, number_hash=digest, succeeded=succeeded,
                created_at=self.clock.now(),
            )
        )

    def _number_key(self) -> bytes:
        """The HMAC key of card numbers: the setting, or a platform key made once."""
        if self._number_key_value is None:
            self._number_key_value = platform_key(self.database, self.clock, "gift_card_numbers")
        return self._number_key_value

    # Rows and accounts ------------------------------------------------------------------

    def _card_row(self, connection: Connection, merchant_id: uuid.UUID, card_id: uuid.UUID):
        return merchant_row(connection, gift_cards, merchant_id, card_id, missing=NO_SUCH_CARD)

    def _lock_card(self, connection: Connection, merchant_id: uuid.UUID, card_id: uuid.UUID):
        return merchant_row(
            connection, gift_cards, merchant_id, card_id, missing=NO_SUCH_CARD, for_update=True
        )

    def _update_card(self, connection: Connection, card: Any, changes: dict[str, Any]) -> None:
        if changes:
            connection.execute(
                update(gift_cards)
                .where(gift_cards.c.merchant_id == card["merchant_id"],
                       gift_cards.c.id == card["id"])
                .values(**changes)
            )

    def _card_view(self, row: Any, program: Program) -> dict[str, Any]:
        balance = self.ledger.balance(self._card_account(row))
        return card_view(row, balance.credit_balance, balance.available, program.asset_code)

    @staticmethod
    def _card_account(card: Any) -> Account:
        # The balance query needs only the account's ids; the flags are the card's own.
        return Account(
            merchant_id=card["merchant_id"], id=card["account_id"], asset_code="",
            owner_type="gift_card", owner_id=card["id"], purpose="gift_card",
            debits_must_not_exceed_credits=True, credits_must_not_exceed_debits=False,
            uses_lots=False, balance_shards=1, frozen=False, created_at=card["created_at"],
        )

    def _program_of_card(self, caller: Principal, card_id: uuid.UUID) -> Program:
        with self.database.read() as connection:
            row = self._card_row(connection, caller.merchant_id, card_id)
        return self.program(caller.merchant_id, row["program_id"])

    def _prepare_accounts(self, program: Program) -> None:
        """Open the program's and merchant's accounts before a transaction needs them.

        Opened inside an operation's transaction, a shared account could be
        remembered by the ledger's cache and then rolled back; opened here, in
        transactions of their own, they exist for good (and are cached after that).
        """
        self._issuance(program)
        for purpose in ("settlement", "breakage", "gift_card_promotions", "adjustments"):
            self._merchant_account(program, purpose)

    def _issuance(self, program: Program) -> Account:
        return self.ledger.open_account(
            program.merchant_id,
            AccountSpec(asset_code=program.asset_code, owner_type="program",
                        owner_id=program.id, purpose="gift_card_issuance",
                        balance_shards=ISSUANCE_SHARDS),
        )

    def _load_transfer(self, program: Program, card: Any, amount: int) -> Transfer:
        return Transfer(self._issuance(program).id, card["account_id"], amount, "gift_card_load")

    def _settlement(self, program: Program) -> Account:
        return self._merchant_account(program, "settlement")

    def _merchant_account(self, program: Program, purpose: str) -> Account:
        shards = SETTLEMENT_SHARDS if purpose == "settlement" else 1
        return self.ledger.open_account(
            program.merchant_id,
            AccountSpec(asset_code=program.asset_code, owner_type="merchant",
                        owner_id=program.merchant_id, purpose=purpose, balance_shards=shards),
        )
