"""Issuing cards: a new card and its account, and the e-card an e-store sells and mails.

A card's number is drawn at random (`numbers`) and stored only as a keyed hash
and its last four digits; its PIN only as a keyed hash (`pins`). An e-card's page
token is not stored either: the page's address carries it, and the number is
sealed with a key derived from it (`security.sealing`).

An e-card is activated, loaded and its mail written to the outbox in one unit
of work: the mail goes out with the money or not at all, and no request waits
for SMTP. The jobs send it; the merchant sees what became of it
(`ecard_mails`) and finds a mail that finally failed in the audit trail.

What the first request answered — the number, the PIN, the page's address —
must come back on a retry with the same Idempotency-Key, even when that first
answer never reached the caller; yet the platform keeps no card's number or PIN
in clear. So the stored answer keeps them sealed (AES-GCM) under a key derived
by HKDF from the Idempotency-Key itself, which the database does not hold in a
usable form for anyone but the caller: a retry unseals them, a copy of the
database does not. The seal is as strong as the key: an e-store sends a random
one (a UUID), as for any request that moves value. With the same key the
merchant can have the mail sent again (`resend_ecard_mail`), to the same
address or another: only the holder of the key can.

Errors: forbidden (a reseller and a program it may not sell), invalid_input
(a personal message too long), not_found (an e-card page of no card; a re-send
with a key that issued no e-card of this card), and those of the activation
(cards.CardLoading.activate_card).
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from email.message import EmailMessage
from functools import partial
from typing import Any

from sqlalchemy import Connection

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.clock import Clock
from cagnotte.db import lookups
from cagnotte.db.engine import Database
from cagnotte.db.lookups import LookupKind
from cagnotte.db.pages import (
    FIRST_PAGE,
    Page,
    PageRequest,
    every_item,
)
from cagnotte.db.unit_of_work import Idempotency, StoredAnswer, UnitOfWork
from cagnotte.merchants.service import MerchantService
from cagnotte.outbox import MessageKind, MessageState, Outbox
from cagnotte.programs.gift_cards import repository
from cagnotte.programs.gift_cards.accounts import CardAccounts
from cagnotte.programs.gift_cards.cards import activation_planner
from cagnotte.programs.gift_cards.ecards import compose_ecard_mail
from cagnotte.programs.gift_cards.number_keys import NumberKey
from cagnotte.programs.gift_cards.numbers import (
    new_card_number,
    new_pin,
    seal_number,
    unseal_number,
)
from cagnotte.programs.gift_cards.operating import CardOperations, invoice_race_means_reused
from cagnotte.programs.gift_cards.pins import PinKey
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.programs_admin import ProgramCatalogue
from cagnotte.programs.gift_cards.queries import CardQueries
from cagnotte.programs.gift_cards.resellers import Resellers
from cagnotte.programs.gift_cards.views import CardOperation, IssuedCard, card_view
from cagnotte.security import sealing
from cagnotte.security.principals import Principal
from cagnotte.security.secrets_ import token_hash

log = logging.getLogger("cagnotte.gift_cards.ecards")

NUMBER_COLLISION_RETRIES = 5
ECARD_MESSAGE_LENGTH_MAX = 500
PAGE_TOKEN_BYTES = 24
# The outbox kind of an e-card's mail, and the operation its Idempotency-Key's record names.
ECARD_MAIL = "gift_card_ecard"
ECARD_OPERATION = "gift_card_ecard"
# What the stored answer's secrets are sealed for (security.sealing derives the
# key from the Idempotency-Key with this purpose).
ANSWER_SEALING_PURPOSE = "e-card issue answer"
NO_ECARD_WITH_KEY = "No e-card of this card was issued with this key."


class CardIssuer:
    """Makes new inactive cards, with their ledger accounts, in the caller's transaction."""

    def __init__(
        self, clock: Clock, accounts: CardAccounts, numbers: NumberKey, pins: PinKey
    ) -> None:
        self.clock = clock
        self.accounts = accounts
        self.numbers = numbers
        self.pins = pins

    def prepare_keys(self) -> None:
        """Fetch the number and PIN keys (in development, made once in a transaction of their
        own) before the caller's transaction takes the write lock."""
        self.numbers.keys()
        self.pins.keys()

    def create_card(
        self,
        connection: Connection,
        program: Program,
        kind: str,
        *,
        batch_id: uuid.UUID | None = None,
        batch_sequence: int | None = None,
        recipient_email: str | None = None,
        page_token: str | None = None,
    ) -> IssuedCard:
        """A new inactive card and its ledger account, in the caller's transaction."""
        card_id = uuid.uuid4()
        account = self.accounts.open_card_account(program, card_id, connection)
        number, digest = self._free_number(connection, program)
        pin = new_pin(program.pin_length) if program.pin_required else None
        pin_hash = self.pins.hash(number, pin) if pin else None
        if page_token:
            # 192 random bits: a hash already taken means a broken random source.
            claimed = lookups.claim(
                connection,
                LookupKind.ECARD_PAGE,
                token_hash(page_token),
                program.merchant_id,
                card_id,
                self.clock.now(),
            )
            assert claimed, "an e-card page token is taken already"
        repository.insert_card(
            connection,
            dict(
                merchant_id=program.merchant_id,
                id=card_id,
                program_id=program.id,
                kind=kind,
                state="inactive",
                number_hash=digest,
                number_key_id=self.numbers.keys().newest_id,
                number_last4=number[-4:],
                pin_hash=pin_hash.digest if pin_hash else None,
                pin_key_id=pin_hash.key_id if pin_hash else None,
                pin_failures=0,
                account_id=account.id,
                batch_id=batch_id,
                batch_sequence=batch_sequence,
                recipient_email=recipient_email,
                page_token_hash=token_hash(page_token) if page_token else None,
                number_sealed=seal_number(page_token, number, card_id) if page_token else None,
                created_at=self.clock.now(),
            ),
        )
        card = repository.card(connection, program.merchant_id, card_id)
        return IssuedCard(card=card_view(card, 0, 0, program.asset_code), number=number, pin=pin)

    def _free_number(self, connection: Connection, program: Program) -> tuple[str, str]:
        """A random number of the program's format that no card of the merchant has."""
        for _attempt in range(NUMBER_COLLISION_RETRIES):
            number = new_card_number(
                program.number_length, program.number_prefix, program.number_luhn
            )
            # Taken under any key: a card under an older key keeps its number.
            if not repository.number_hash_taken(
                connection, program.merchant_id, self.numbers.hashes(number)
            ):
                return number, self.numbers.hash(number)
        # Only with billions of cards in one program.
        raise errors.Conflict("No free card number; widen the program's numbers.")


@dataclass(frozen=True, slots=True)
class ECardSecrets:
    """What an e-card's mail carries, and its issue answers: kept only sealed."""

    number: str
    pin: str | None
    page_url: str
    recipient_email: str
    recipient_name: str | None
    sender_name: str | None
    message: str | None

    def sealed(self, idempotency_key: str, card_id: uuid.UUID) -> str:
        plaintext = json.dumps(asdict(self), sort_keys=True).encode()
        return sealing.seal(
            idempotency_key, ANSWER_SEALING_PURPOSE, plaintext, context=str(card_id)
        )

    @classmethod
    def unsealed(cls, idempotency_key: str, card_id: uuid.UUID, sealed: str) -> ECardSecrets:
        """The secrets of a stored answer; SealBroken for another key or card."""
        plaintext = sealing.unseal(
            idempotency_key, ANSWER_SEALING_PURPOSE, sealed, context=str(card_id)
        )
        return cls(**json.loads(plaintext))


@dataclass(frozen=True, slots=True)
class _IssuedECard:
    """The e-card unit's answer: the activation, and the secrets (none from an older answer)."""

    operation: CardOperation
    secrets: ECardSecrets | None

    def stored(self, idempotency_key: str) -> dict[str, Any]:
        assert self.secrets is not None
        return {
            "operations": [self.operation.as_json()],
            "ecard": self.secrets.sealed(idempotency_key, self.operation.card_id),
        }


class ECards:
    """E-cards: sold by an e-store, issued, loaded and mailed to their recipient."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        merchants: MerchantService,
        outbox: Outbox,
        *,
        mail_from: str,
        public_url: str,
        issuer: CardIssuer,
        programs: ProgramCatalogue,
        resellers: Resellers,
        operations: CardOperations,
        queries: CardQueries,
    ) -> None:
        self.database = database
        self.clock = clock
        self.merchants = merchants
        self.outbox = outbox
        self.mail_from = mail_from
        self.public_url = public_url.rstrip("/")
        self.issuer = issuer
        self.programs = programs
        self.resellers = resellers
        self.operations = operations
        self.queries = queries
        outbox.register(MessageKind(ECARD_MAIL, on_failure=_audit_failure))

    def issue_ecard(
        self,
        caller: Principal,
        *,
        program_id: uuid.UUID,
        amount: int,
        recipient_email: str,
        recipient_name: str | None,
        sender_name: str | None,
        message: str | None,
        invoice_number: str | None,
        idempotency: Idempotency,
    ) -> IssuedCard:
        """An e-store sells a virtual card: issued, loaded, and its mail owed to the recipient."""
        self.resellers.require_seller(caller, program_id)
        if message is not None and len(message) > ECARD_MESSAGE_LENGTH_MAX:
            raise errors.InvalidInput("The personal message is too long.")
        units = self.operations.units
        replay = self._replay(idempotency)
        replayed = units.replay_if_stored(caller.merchant_id, idempotency, replay)
        if replayed is not None:
            return self._answer(caller, replayed)
        program = self.programs.program(caller.merchant_id, program_id)
        self.issuer.prepare_keys()  # made before the transaction takes the write lock
        page_token = secrets.token_urlsafe(PAGE_TOKEN_BYTES)
        with self.database.transaction() as connection:
            issued = self.issuer.create_card(
                connection,
                program,
                "virtual",
                recipient_email=recipient_email,
                page_token=page_token,
            )
        card_id = issued.card["id"]
        ecard = ECardSecrets(
            number=issued.number,
            pin=issued.pin,
            page_url=f"{self.public_url}/gift-cards/e/{page_token}",
            recipient_email=recipient_email,
            recipient_name=recipient_name,
            sender_name=sender_name,
            message=message,
        )
        # Composed (its QR code drawn) before the unit of work begins.
        mail = self._mail(program, amount, ecard)
        activate = self.operations.work(
            caller, program, card_id, "activation", activation_planner(amount, invoice_number)
        )

        def work(unit: UnitOfWork) -> _IssuedECard:
            operation = activate(unit)
            self._owe_mail(unit.connection, unit.merchant_id, card_id, mail, unit.now)
            return _IssuedECard(operation, ecard)

        with invoice_race_means_reused():
            done = units.run(
                caller.merchant_id,
                ECARD_OPERATION,
                work,
                idempotency=idempotency,
                encode=lambda answer: answer.stored(str(idempotency.key)),
                replay=replay,
            )
        if not done.operation.replayed:
            self.operations.alerts.after_operation(done.operation)
        return self._answer(caller, done)

    def ecard_mails(
        self, caller: Principal, card_id: uuid.UUID, page: PageRequest = FIRST_PAGE
    ) -> Page[MessageState]:
        """What became of an e-card's mails (the first and any sent again), newest first."""
        card = self.queries.get_card(caller, card_id, check_role=False)
        self.resellers.require_seller(caller, card["program_id"])
        return self.outbox.messages_about(caller.merchant_id, ECARD_MAIL, card_id, page)

    def resend_ecard_mail(
        self,
        caller: Principal,
        card_id: uuid.UUID,
        *,
        idempotency_key: str,
        recipient_email: str | None,
    ) -> MessageState:
        """Mail an e-card again, by the Idempotency-Key it was issued with (audited).

        The key unseals the number and PIN of the issue's stored answer; a key
        that issued no e-card of this card is not_found, like a card of another
        merchant.
        """
        card = self.queries.get_card(caller, card_id, check_role=False)
        self.resellers.require_seller(caller, card["program_id"])
        operation, ecard = self._stored_secrets(caller.merchant_id, card_id, idempotency_key)
        if recipient_email is not None:
            ecard = replace(ecard, recipient_email=recipient_email)
        program = self.programs.program(caller.merchant_id, card["program_id"])
        mail = self._mail(program, operation.amount_minor, ecard)
        now = self.clock.now()
        with self.database.transaction() as connection:
            message_id = self._owe_mail(connection, caller.merchant_id, card_id, mail, now)
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "gift_card.ecard_mail_resent",
                card_id,
                {"message_id": str(message_id), "recipient": ecard.recipient_email},
                now,
            )
        (state,) = [
            state
            for state in every_item(
                partial(self.outbox.messages_about, caller.merchant_id, ECARD_MAIL, card_id)
            )
            if state.id == message_id
        ]
        return state

    def ecard_page(self, page_token: str) -> dict[str, Any]:
        """What the e-card's own page shows: merchant, number, balance (never the PIN)."""
        with self.database.read() as connection:
            card = repository.card_by_page_token_hash(connection, token_hash(page_token))
        if card is None or card.number_sealed is None:
            raise errors.NotFound(repository.NO_SUCH_CARD)
        try:
            number = unseal_number(page_token, card.number_sealed, card.id)
        except sealing.SealBroken:
            raise errors.NotFound(repository.NO_SUCH_CARD) from None
        merchant_name = self.merchants.merchant_names([card.merchant_id])[card.merchant_id]
        program = self.programs.program(card.merchant_id, card.program_id)
        asset = self.merchants.assets_by_code([program.asset_code])[program.asset_code]
        view = self.queries.view(card)
        # The page is the merchant's: its money and moments written for its locale.
        written = self.merchants.locale_of(card.merchant_id).format
        return {
            **view,
            "number": number,
            "merchant_name": merchant_name,
            "program_name": program.name,
            "balance_text": written.money(view["balance_minor"], asset.code, asset.scale),
            "available_text": written.money(view["available_minor"], asset.code, asset.scale),
            "locale_format": written,
        }

    def _replay(
        self, idempotency: Idempotency
    ) -> Callable[[UnitOfWork, StoredAnswer], _IssuedECard]:
        """How a stored answer of an e-card's issue comes back: its secrets unsealed."""

        def replay(unit: UnitOfWork, stored: StoredAnswer) -> _IssuedECard:
            (operation,) = self.operations.replayed(unit, stored)
            sealed = (stored.answer or {}).get("ecard")
            if sealed is None or idempotency.key is None:
                # An answer stored before e-cards kept their secrets sealed.
                return _IssuedECard(operation, None)
            try:
                ecard = ECardSecrets.unsealed(idempotency.key, operation.card_id, sealed)
            except sealing.SealBroken:
                log.error("the stored answer of e-card %s does not unseal", operation.card_id)
                return _IssuedECard(operation, None)
            return _IssuedECard(operation, ecard)

        return replay

    def _stored_secrets(
        self, merchant_id: uuid.UUID, card_id: uuid.UUID, idempotency_key: str
    ) -> tuple[CardOperation, ECardSecrets]:
        """The activation and the secrets an e-card's issue stored under this key."""
        with self.database.read() as connection:
            stored = repository.stored_answer(connection, merchant_id, idempotency_key)
        answer = stored[1] if stored is not None and stored[0] == ECARD_OPERATION else None
        if answer is None or "ecard" not in answer:
            raise errors.NotFound(NO_ECARD_WITH_KEY)
        operation = CardOperation.from_json(answer["operations"][0])
        if operation.card_id != card_id:
            raise errors.NotFound(NO_ECARD_WITH_KEY)
        try:
            return operation, ECardSecrets.unsealed(idempotency_key, card_id, answer["ecard"])
        except sealing.SealBroken:
            raise errors.NotFound(NO_ECARD_WITH_KEY) from None

    def _answer(self, caller: Principal, done: _IssuedECard) -> IssuedCard:
        card = self.queries.get_card(caller, done.operation.card_id, check_role=False)
        ecard = done.secrets
        return IssuedCard(
            card=card,
            number=ecard.number if ecard else "",
            pin=ecard.pin if ecard else None,
            page_url=ecard.page_url if ecard else None,
            operation=done.operation,
        )

    def _owe_mail(
        self,
        connection: Connection,
        merchant_id: uuid.UUID,
        card_id: uuid.UUID,
        mail: EmailMessage,
        now: datetime,
    ) -> uuid.UUID:
        return self.outbox.enqueue(
            connection,
            merchant_id=merchant_id,
            kind=ECARD_MAIL,
            recipient=mail["To"],
            now=now,
            mail=mail,
            reference_id=card_id,
        )

    def _mail(self, program: Program, amount: int, ecard: ECardSecrets) -> EmailMessage:
        asset = self.merchants.assets_by_code([program.asset_code])[program.asset_code]
        merchant_name = self.merchants.merchant_names([program.merchant_id])[program.merchant_id]
        written = self.merchants.locale_of(program.merchant_id).format
        return compose_ecard_mail(
            sender=self.mail_from,
            to=ecard.recipient_email,
            merchant_name=merchant_name,
            amount_text=written.money(amount, asset.code, asset.scale),
            number=ecard.number,
            pin=ecard.pin,
            page_url=ecard.page_url,
            recipient_name=ecard.recipient_name,
            sender_name=ecard.sender_name,
            message=ecard.message,
        )


def _audit_failure(connection: Connection, message: MessageState, now: datetime) -> None:
    """The merchant's audit trail says that an e-card's mail never arrived."""
    record_audit(
        connection,
        message.merchant_id,
        "platform",
        "gift_card.ecard_mail_failed",
        message.reference_id,
        {
            "message_id": str(message.id),
            "recipient": message.recipient,
            "attempts": message.attempts,
            "last_error": message.last_error,
        },
        now,
    )
